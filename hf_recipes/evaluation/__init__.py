"""Evaluating models beyond their training loss: prompting a causal LM (k-shot classification, GPT-3 style) and
the cross-attention of seq2seq models while they translate."""
