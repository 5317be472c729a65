"""word2vec: word vectors learnt by predicting the words around each word, with negative sampling.

Mikolov et al., "Efficient Estimation of Word Representations in Vector Space" (2013) and "Distributed
Representations of Words and Phrases and their Compositionality" (2013), as word2vec.c and gensim implement
them:

    subsampling:   word w of corpus frequency f(w) is kept with probability (√(f/t) + 1)·t/f, t = `sample`
    windows:       each kept word draws its reach b ~ U{1..window}; its contexts are the kept words within b
                   positions of it, in the same sentence
    skip-gram:     for each center c and its contexts o_1..o_m:
                   Σ_j log σ(u_oj·v_c) + m·Σ_{k=1..K} log σ(−u_nk·v_c)
    CBOW:          for each center c, h = mean of v_o over its contexts:  log σ(u_c·h) + Σ_k log σ(−u_nk·h)
    noise:         n_k ~ P(w) ∝ count(w)^0.75 (word2vec.c's unigram table)

In skip-gram the K noise words of a center serve all its context words, each noise term weighted by the
number of contexts m (Ji et al. 2016, "Parallelizing Word2Vec in Shared and Distributed Memory"): the expected
objective is word2vec's (K noise words per (center, context) pair), and a step reads and writes about half
as many vectors. Unlike word2vec.c and gensim, a noise word that happens to be a context word is not skipped
(a rare event with a vocabulary of thousands of words).

v (`embed`) are the word vectors, u (`output_embed`) the output vectors of negative sampling. The loss is the
SUM of those terms over the step's predictions (negated): with plain SGD at word2vec's rate (0.025, decaying
linearly) each prediction moves the vectors as word2vec's own updates do, only many at once.

Training runs on `Trainer` like every other model: a batch is a block of token ids (`input_ids`, with
`position_ids` restarting at 0 where a sentence starts), and the forward pass draws the subsampling, the
windows and the noise words from the block, vectorised over it (no loop over words). The word counts the
subsampling and the noise distribution need are part of the model (`counts`, saved with it: call
`set_counts` once before training).

In evaluation mode `forward` returns the vectors of `input_ids` (`last_hidden_state`), and
`get_input_embeddings()` is the table of word vectors.

This file is copied next to every saved checkpoint and imports nothing from hf_recipes, so a checkpoint
loads with `trust_remote_code=True` where only transformers is installed.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_word2vec import HfrWord2VecConfig


@dataclass
class HfrWord2VecOutput(ModelOutput):
    r"""
    Args:
        loss (`torch.FloatTensor` of shape `()`, in training): the negative-sampling loss, summed over the
            predictions the block gave.
        last_hidden_state (`torch.FloatTensor` of shape `(batch, seq, vector_size)`, in evaluation): the word
            vector of every input id.
    """

    loss: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None


def keep_probabilities(counts: torch.Tensor, sample: float) -> torch.Tensor:
    """word2vec's subsampling: the probability of keeping each word, (√(f/t) + 1)·t/f capped at 1, with f the
    word's count and t = sample · (all counts); words never seen (special tokens) are never kept."""
    counts = counts.double()
    if sample <= 0:
        return (counts > 0).float()
    threshold = sample * counts.sum()
    kept = ((counts / threshold).sqrt() + 1) * threshold / counts.clamp(min=1)
    return torch.where(counts > 0, kept.clamp(max=1), torch.zeros_like(kept)).float()


def noise_distribution(counts: torch.Tensor, exponent: float, size: int = 1 << 22) -> torch.Tensor:
    """word2vec.c's unigram table: `size` word ids in which each word fills a share ∝ count(w)^exponent of the
    slots (words never seen fill none), so a noise word is one uniform draw into it (`draw_noise`)."""
    weights = counts.double().clamp(min=0) ** exponent
    weights = torch.where(counts > 0, weights, torch.zeros_like(weights))
    cumulative = weights.cumsum(0)
    ends = (cumulative / cumulative[-1].clamp(min=1e-12) * size).round().long()
    slots = torch.diff(ends, prepend=ends.new_zeros(1))
    return torch.repeat_interleave(torch.arange(len(counts), device=counts.device), slots)


def kept_tokens(input_ids, position_ids, attention_mask, keep_probability):
    """The tokens of a batch of blocks that subsampling keeps, flattened, and the sentence of each: a sentence
    starts wherever `position_ids` is 0 (each row of the batch starts one); pads are dropped."""
    if position_ids is None:
        position_ids = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
    sentence = (position_ids == 0).flatten().long().cumsum(0)
    ids = input_ids.flatten()
    keep = torch.rand(ids.shape, device=ids.device) < keep_probability[ids]
    if attention_mask is not None:
        keep &= attention_mask.flatten().bool()
    return ids[keep], sentence[keep]


def context_windows(sentence: torch.Tensor, window: int):
    """For each kept token, the positions of its context tokens as an (n, 2·window) matrix and which of them
    count: word2vec's dynamic window (a reach drawn from 1..window per token) inside the token's sentence."""
    n = sentence.shape[0]
    device = sentence.device
    offsets = torch.cat([torch.arange(-window, 0, device=device), torch.arange(1, window + 1, device=device)])
    reach = torch.randint(1, window + 1, (n, 1), device=device)
    positions = torch.arange(n, device=device)[:, None] + offsets
    inside = (positions >= 0) & (positions < n) & (offsets.abs() <= reach)
    positions = positions.clamp(0, max(n - 1, 0))
    return positions, inside & (sentence[positions] == sentence[:, None])


def context_spans(sentence: torch.Tensor, window: int):
    """The same windows as spans: for each kept token i, its contexts are the tokens lo..hi (inclusive) but i
    itself (word2vec's dynamic window, cut at the token's sentence)."""
    n = sentence.shape[0]
    device = sentence.device
    index = torch.arange(n, device=device)
    reach = torch.randint(1, window + 1, (n,), device=device)
    new = torch.ones(n, dtype=torch.bool, device=device)
    new[1:] = sentence[1:] != sentence[:-1]
    first = torch.cummax(torch.where(new, index, torch.zeros_like(index)), 0).values
    end = torch.ones(n, dtype=torch.bool, device=device)
    end[:-1] = new[1:]
    last = torch.cummin(torch.where(end, index, torch.full_like(index, n)).flip(0), 0).values.flip(0)
    return torch.maximum(index - reach, first), torch.minimum(index + reach, last)


def draw_noise(noise_table: torch.Tensor, count: int) -> torch.Tensor:
    """`count` noise word ids, drawn uniformly from the unigram table."""
    return noise_table[torch.randint(noise_table.shape[0], (count,), device=noise_table.device)]


def skipgram_loss(inputs, ids, positions, inside, output_embed, noise_table, negative, max_row_updates=None):
    """Skip-gram with negative sampling, summed: `inputs` (n, d) is the input vector of each kept token (the
    center), its context words (`positions` where `inside`) are the positive targets, and its K noise words,
    weighted by its number of contexts, the negative ones. Every (center, target) score is one row of the same
    product, computed and differentiated by `NegativeSampling` (`max_row_updates`: see there)."""
    n = ids.shape[0]
    index = torch.arange(n, device=ids.device)
    contexts = ids[positions[inside]]
    targets = torch.cat([contexts, draw_noise(noise_table, n * negative)])
    centers = torch.cat([index[:, None].expand_as(positions)[inside], index.repeat_interleave(negative)])
    positives = contexts.shape[0]
    sign = torch.ones(targets.shape[0], dtype=inputs.dtype, device=ids.device)
    sign[:positives] = -1  # log σ(s) for a context word, log σ(−s) for a noise word
    weight = torch.ones_like(sign)
    weight[positives:] = inside.sum(1).to(inputs.dtype).repeat_interleave(negative)
    return NegativeSampling.apply(
        inputs, output_embed.weight, targets, centers, sign, weight, output_embed.sparse, max_row_updates
    )


class NegativeSampling(torch.autograd.Function):
    """Σ_r weight_r · softplus(sign_r · u_{target_r}·v_{center_r}), the rows of the output table `u` gathered by
    `targets`, the rows of `inputs` by `centers`; the backward pass writes the output table's gradient as rows
    (sparse, as nn.Embedding(sparse=True) does) straight from the gathered rows. One gather of each side, one
    product, one scatter: what autograd does in several passes over the same rows (1.3x faster a word2vec
    step on a CPU).

    `max_row_updates` bounds what one step does to one output vector: a word that is the target of m rows
    gets its m row gradients scaled by min(1, max_row_updates / m), so its step is at most `max_row_updates`
    rows' worth. word2vec.c applies its updates one after another, each from the vector the last one left;
    a step of a block of thousands of words computes them all from the same vector and adds them, and for the
    most frequent words (targets of thousands of rows in a large block, as context and as noise) that sum
    overshoots: training diverges from some block size on. The cap keeps such steps bounded, so blocks
    several times larger (faster on a CPU, and what a GPU needs) train as well as small ones. None: the exact
    gradient."""

    @staticmethod
    def forward(ctx, inputs, output_weight, targets, centers, sign, weight, sparse, max_row_updates=None):
        outputs = output_weight.index_select(0, targets)
        center_vectors = inputs.index_select(0, centers)
        scores = (outputs * center_vectors).sum(1)
        ctx.save_for_backward(outputs, center_vectors, scores, targets, centers, sign, weight)
        ctx.sparse, ctx.inputs_shape, ctx.table_shape = sparse, inputs.shape, output_weight.shape
        ctx.max_row_updates = max_row_updates
        return (F.softplus(scores * sign) * weight).sum()

    @staticmethod
    def backward(ctx, grad):
        outputs, center_vectors, scores, targets, centers, sign, weight = ctx.saved_tensors
        coefficient = torch.sigmoid(scores * sign).mul_(sign).mul_(weight * grad)[:, None]  # d loss / d score
        grad_inputs = torch.zeros(ctx.inputs_shape, dtype=outputs.dtype, device=outputs.device)
        grad_inputs.index_add_(0, centers, outputs.mul_(coefficient))
        rows = center_vectors.mul_(coefficient)  # the gradient of each gathered output row
        if ctx.max_row_updates:
            updates = torch.bincount(targets, minlength=ctx.table_shape[0])[targets].to(rows.dtype)
            rows.mul_((ctx.max_row_updates / updates).clamp_(max=1)[:, None])
        if ctx.sparse:
            grad_table = torch.sparse_coo_tensor(targets[None], rows, ctx.table_shape, check_invariants=False)
        else:
            grad_table = torch.zeros(ctx.table_shape, dtype=rows.dtype, device=rows.device)
            grad_table.index_add_(0, targets, rows)
        return grad_inputs, grad_table, None, None, None, None, None, None


def cbow_loss(token_vectors, ids, low, high, output_embed, noise_table, negative, mean=True):
    """CBOW with negative sampling, summed: each kept token with at least one context word (the tokens `low`
    to `high` but itself) is the positive target of its contexts' vectors (`token_vectors` (n, d)), averaged
    or summed; K noise words are negatives. The window sums come from a running sum over the tokens: one pass
    over the vectors, whatever the window."""
    running = torch.cat([token_vectors.new_zeros(1, token_vectors.shape[1]), token_vectors.cumsum(0)])
    sums = running.index_select(0, high + 1) - running.index_select(0, low) - token_vectors
    count = (high - low).unsqueeze(1)
    inputs = sums / count.clamp(min=1) if mean else sums
    n = ids.shape[0]
    noise = draw_noise(noise_table, n * negative).view(n, negative)
    outputs = output_embed(torch.cat([ids[:, None], noise], 1))
    scores = (outputs * inputs[:, None, :]).sum(-1)
    losses = F.softplus(-scores[:, 0]) + F.softplus(scores[:, 1:]).sum(1)
    return (losses * (count[:, 0] > 0)).sum()  # a token alone in its sentence predicts nothing


class HfrWord2VecPreTrainedModel(PreTrainedModel):
    config_class = HfrWord2VecConfig
    config: HfrWord2VecConfig
    base_model_prefix = "word2vec"
    _no_split_modules = []
    # The loss is a sum over the step's predictions (see the module docstring): Trainer must not rescale it.
    accepts_loss_kwargs = False

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, HfrWord2VecModel):
            bound = self.config.initializer_range or 0.5 / self.config.vector_size
            init.uniform_(module.embed.weight, -bound, bound)  # word2vec.c: (rand - 0.5) / size
            init.zeros_(module.output_embed.weight)
            init.zeros_(module.counts)

    # Copied from hf_recipes.models.gpt.modeling_gpt.HfrGPTPreTrainedModel.save_pretrained
    def save_pretrained(self, save_directory, *args, **kwargs):
        # transformers writes only the saved class into config.auto_map; write every head so that any
        # AutoModelFor* loads this checkpoint with trust_remote_code=True where hf_recipes is not installed.
        self.config.auto_map = {**full_auto_map(), **(getattr(self.config, "auto_map", None) or {})}
        return super().save_pretrained(save_directory, *args, **kwargs)


class HfrWord2VecModel(HfrWord2VecPreTrainedModel):
    """Word vectors (`embed`, what `get_input_embeddings()` returns) and the output vectors of negative
    sampling (`output_embed`), trained by skip-gram or CBOW (`config.architecture`)."""

    def __init__(self, config: HfrWord2VecConfig):
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.vector_size, sparse=config.sparse)
        self.output_embed = nn.Embedding(config.vocab_size, config.vector_size, sparse=config.sparse)
        # How often each word occurs in the training corpus: subsampling and the noise words follow from it.
        self.register_buffer("counts", torch.zeros(config.vocab_size, dtype=torch.long))
        self._tables = None
        self.post_init()

    def get_input_embeddings(self):
        return self.embed

    def set_input_embeddings(self, new_embeddings):
        self.embed = new_embeddings

    def set_counts(self, counts) -> None:
        """The corpus count of every word id (special tokens: 0), before training starts."""
        counts = torch.as_tensor(counts, dtype=torch.long, device=self.counts.device)
        if counts.shape != self.counts.shape:
            raise ValueError(
                f"counts has shape {tuple(counts.shape)}, the vocabulary {tuple(self.counts.shape)}"
            )
        self.counts.copy_(counts)
        self._tables = None

    def set_vocabulary(self, words: list[str | None], counts) -> None:
        """The vocabulary (word of each id) and its corpus counts, before training; word2vec needs only the
        counts (FastText also builds each word's n-grams here)."""
        if len(words) != self.config.vocab_size:
            raise ValueError(f"{len(words)} words for a vocabulary of {self.config.vocab_size}")
        self.set_counts(counts)

    def sampling_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(keep probability of each word, unigram table of the noise words), from `counts`, computed once."""
        if self._tables is None or self._tables[0].device != self.counts.device:
            if int(self.counts.sum()) == 0:
                raise ValueError("the word counts are not set: call model.set_counts(counts) before training")
            self._tables = (
                keep_probabilities(self.counts, self.config.sample),
                noise_distribution(self.counts, self.config.ns_exponent),
            )
        return self._tables

    def forward(
        self,
        input_ids: torch.LongTensor,
        position_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> HfrWord2VecOutput | tuple:
        r"""
        input_ids (`torch.LongTensor` of shape `(batch, seq)`): blocks of running text (training), or any ids.
        position_ids (`torch.LongTensor` of shape `(batch, seq)`): 0 where a sentence starts; windows stay inside
            sentences. Each row is one sentence when not given.
        attention_mask (`torch.Tensor` of shape `(batch, seq)`): 0 at padding, which is never trained on.
        """
        if not self.training:
            output = HfrWord2VecOutput(last_hidden_state=self.embed(input_ids))
            return output if _wants_dict(return_dict, self.config) else output.to_tuple()
        keep_probability, noise_table = self.sampling_tables()
        ids, sentence = kept_tokens(input_ids, position_ids, attention_mask, keep_probability)
        if self.config.architecture == "skipgram":
            positions, inside = context_windows(sentence, self.config.window)
            loss = skipgram_loss(
                self.embed(ids),
                ids,
                positions,
                inside,
                self.output_embed,
                noise_table,
                self.config.negative,
                self.config.max_row_updates,
            )
        else:
            low, high = context_spans(sentence, self.config.window)
            loss = cbow_loss(
                self.embed(ids),
                ids,
                low,
                high,
                self.output_embed,
                noise_table,
                self.config.negative,
                self.config.cbow_mean,
            )
        output = HfrWord2VecOutput(loss=loss)
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


# Copied from hf_recipes.models.gpt.modeling_gpt._wants_dict with HfrGPT->HfrWord2Vec
def _wants_dict(return_dict: bool | None, config: HfrWord2VecConfig) -> bool:
    return config.return_dict if return_dict is None else return_dict


# Every head of the family and the Auto class that loads it. hf_recipes registers them from this table,
# and `save_pretrained` writes it into config.auto_map.
AUTO_MAP = {"AutoModel": "HfrWord2VecModel"}


# Copied from hf_recipes.models.gpt.modeling_gpt.full_auto_map with HfrGPT->HfrWord2Vec
def full_auto_map() -> dict[str, str]:
    """config.auto_map entries for the config and every head, as `module.Class` next to the weights."""
    config_module = HfrWord2VecConfig.__module__.rsplit(".", 1)[-1]
    model_module = __name__.rsplit(".", 1)[-1]
    return {
        "AutoConfig": f"{config_module}.{HfrWord2VecConfig.__name__}",
        **{auto_class: f"{model_module}.{name}" for auto_class, name in AUTO_MAP.items()},
    }


__all__ = ["HfrWord2VecPreTrainedModel", *AUTO_MAP.values()]
