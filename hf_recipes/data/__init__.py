"""The data layer: everything between raw text and the batches a model trains on.

- `loading`: a recipe's corpus (local files or a Hub dataset) as a DatasetDict of documents.
- `tokenization`: train WordPiece / byte-level BPE / character / Unigram tokenizers on a corpus, or load one.
- `pretraining`: split a corpus into documents and sentences, build BERT's next-sentence-prediction
  instances, pack documents into causal-LM blocks (all usable with `datasets.Dataset.map(batched=True)`).
- `collators`: dynamic MLM (+NSP) masking on top of transformers' `DataCollatorForLanguageModeling`.

Data never imports jobs or the CLI.
"""
