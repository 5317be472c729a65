"""FastText: word2vec whose words are bags of character n-grams, so that every word, seen or not, has a vector.

Bojanowski, Grave, Joulin & Mikolov, "Enriching Word Vectors with Subword Information" (2017), as fastText and
gensim implement it: a word's input vector is the mean of its own vector and the vectors of its character
n-grams (3 to 6 characters of "<word>", hashed into `bucket` rows with fastText's FNV-1a hash), and training is
word2vec's (skip-gram or CBOW with negative sampling, subsampling, dynamic windows: see
hf_recipes/models/word2vec/modeling_word2vec.py, whose training functions are copied here). A word outside the
vocabulary gets the mean of its n-gram vectors (`word_vector`): misspellings and inflections land near the
words they come from. For Korean, `config.korean_jamo` takes the n-grams from the jamo of each syllable.

The rows of the input table (`embed`, an EmbeddingBag averaging its bag): the vocabulary's words, then the
n-gram buckets, then one padding row. As in fastText and gensim, every row of a word's bag takes the whole
gradient of the word's vector (not the 1/count share a mean would pass on). `subwords` (saved with the model, set by `set_vocabulary`) holds the
rows of each vocabulary word. `get_input_embeddings()` returns the composed vector of every vocabulary word.

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

from .configuration_fasttext import HfrFastTextConfig

EMPTY_FINAL = "∅"  # the final letter of a Hangul syllable that has none, when syllables become jamo


@dataclass
class HfrFastTextOutput(ModelOutput):
    r"""
    Args:
        loss (`torch.FloatTensor` of shape `()`, in training): the negative-sampling loss, summed over the block.
        last_hidden_state (`torch.FloatTensor` of shape `(batch, seq, vector_size)`, in evaluation): the word
            vector (word and n-grams) of every input id.
    """

    loss: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None


def decompose_hangul(text: str) -> str:
    """Each Hangul syllable as its initial, medial and final jamo (U+1100.., U+1161.., U+11A8..; `∅` for no
    final); other characters unchanged."""
    letters = []
    for char in text:
        index = ord(char) - 0xAC00
        if 0 <= index < 11172:
            initial, rest = divmod(index, 588)
            medial, final = divmod(rest, 28)
            letters += [
                chr(0x1100 + initial),
                chr(0x1161 + medial),
                chr(0x11A7 + final) if final else EMPTY_FINAL,
            ]
        else:
            letters.append(char)
    return "".join(letters)


def fnv1a(text: str) -> int:
    """fastText's hash of a string: 32-bit FNV-1a over its UTF-8 bytes, each byte sign-extended (as fastText's
    `int8_t` cast does, and gensim after it)."""
    value = 2166136261
    for byte in text.encode("utf-8"):
        value ^= byte - 256 if byte > 127 else byte
        value = (value * 16777619) & 0xFFFFFFFF
    return value


def character_ngrams(word: str, min_n: int, max_n: int) -> list[str]:
    """The n-grams of `<word>` of min_n to max_n characters (the boundary marks alone are none)."""
    marked = f"<{word}>"
    grams = []
    for size in range(min_n, max_n + 1):
        for start in range(len(marked) - size + 1):
            gram = marked[start : start + size]
            if gram not in ("<", ">"):
                grams.append(gram)
    return grams


def subword_rows(word: str, config: HfrFastTextConfig) -> list[int]:
    """The rows of the input table that the n-grams of `word` hash to (the word's own row not included)."""
    if not config.max_n:
        return []
    text = decompose_hangul(word) if config.korean_jamo else word
    return [
        config.vocab_size + fnv1a(gram) % config.bucket
        for gram in character_ngrams(text, config.min_n, config.max_n)
    ]


# Copied from hf_recipes.models.word2vec.modeling_word2vec.keep_probabilities
def keep_probabilities(counts: torch.Tensor, sample: float) -> torch.Tensor:
    """word2vec's subsampling: the probability of keeping each word, (√(f/t) + 1)·t/f capped at 1, with f the
    word's count and t = sample · (all counts); words never seen (special tokens) are never kept."""
    counts = counts.double()
    if sample <= 0:
        return (counts > 0).float()
    threshold = sample * counts.sum()
    kept = ((counts / threshold).sqrt() + 1) * threshold / counts.clamp(min=1)
    return torch.where(counts > 0, kept.clamp(max=1), torch.zeros_like(kept)).float()


# Copied from hf_recipes.models.word2vec.modeling_word2vec.noise_distribution
def noise_distribution(counts: torch.Tensor, exponent: float, size: int = 1 << 22) -> torch.Tensor:
    """word2vec.c's unigram table: `size` word ids in which each word fills a share ∝ count(w)^exponent of the
    slots (words never seen fill none), so a noise word is one uniform draw into it (`draw_noise`)."""
    weights = counts.double().clamp(min=0) ** exponent
    weights = torch.where(counts > 0, weights, torch.zeros_like(weights))
    cumulative = weights.cumsum(0)
    ends = (cumulative / cumulative[-1].clamp(min=1e-12) * size).round().long()
    slots = torch.diff(ends, prepend=ends.new_zeros(1))
    return torch.repeat_interleave(torch.arange(len(counts), device=counts.device), slots)


# Copied from hf_recipes.models.word2vec.modeling_word2vec.kept_tokens
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


# Copied from hf_recipes.models.word2vec.modeling_word2vec.context_windows
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


# Copied from hf_recipes.models.word2vec.modeling_word2vec.context_spans
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


# Copied from hf_recipes.models.word2vec.modeling_word2vec.draw_noise
def draw_noise(noise_table: torch.Tensor, count: int) -> torch.Tensor:
    """`count` noise word ids, drawn uniformly from the unigram table."""
    return noise_table[torch.randint(noise_table.shape[0], (count,), device=noise_table.device)]


# Copied from hf_recipes.models.word2vec.modeling_word2vec.skipgram_loss
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


# Copied from hf_recipes.models.word2vec.modeling_word2vec.NegativeSampling
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


# Copied from hf_recipes.models.word2vec.modeling_word2vec.cbow_loss
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


class HfrFastTextPreTrainedModel(PreTrainedModel):
    config_class = HfrFastTextConfig
    config: HfrFastTextConfig
    base_model_prefix = "fasttext"
    _no_split_modules = []
    # The loss is a sum over the step's predictions (see word2vec): Trainer must not rescale it.
    accepts_loss_kwargs = False

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, HfrFastTextModel):
            bound = self.config.initializer_range or 1.0 / self.config.vector_size
            init.uniform_(module.embed.weight, -bound, bound)  # fastText: uniform in ±1/dim
            init.zeros_(module.embed.weight[-1])  # the padding row
            init.zeros_(module.output_embed.weight)
            init.zeros_(module.counts)

    # Copied from hf_recipes.models.gpt.modeling_gpt.HfrGPTPreTrainedModel.save_pretrained
    def save_pretrained(self, save_directory, *args, **kwargs):
        # transformers writes only the saved class into config.auto_map; write every head so that any
        # AutoModelFor* loads this checkpoint with trust_remote_code=True where hf_recipes is not installed.
        self.config.auto_map = {**full_auto_map(), **(getattr(self.config, "auto_map", None) or {})}
        return super().save_pretrained(save_directory, *args, **kwargs)


class HfrFastTextModel(HfrFastTextPreTrainedModel):
    """Word and n-gram vectors (`embed`), the output vectors of negative sampling (`output_embed`), trained as
    word2vec by skip-gram or CBOW."""

    def __init__(self, config: HfrFastTextConfig):
        super().__init__(config)
        padding = config.vocab_size + config.bucket  # the last row: pads the bags of short words
        self.embed = nn.EmbeddingBag(
            padding + 1, config.vector_size, mode="mean", sparse=config.sparse, padding_idx=padding
        )
        self.output_embed = nn.Embedding(config.vocab_size, config.vector_size, sparse=config.sparse)
        self.register_buffer("counts", torch.zeros(config.vocab_size, dtype=torch.long))
        # The rows of each vocabulary word: its own, then its n-grams', padded. Until set_vocabulary: the word's.
        rows = torch.full((config.vocab_size, config.max_subwords), padding, dtype=torch.long)
        rows[:, 0] = torch.arange(config.vocab_size)
        self.register_buffer("subwords", rows)
        self._tables = None
        self.post_init()

    def set_vocabulary(self, words: list[str], counts) -> None:
        """The vocabulary (word of each id; special tokens: None) and its corpus counts, before training: the
        n-gram rows of every word are computed here."""
        config = self.config
        if len(words) != config.vocab_size:
            raise ValueError(f"{len(words)} words for a vocabulary of {config.vocab_size}")
        padding = config.vocab_size + config.bucket
        rows = [[index, *(subword_rows(word, config) if word else [])] for index, word in enumerate(words)]
        config.max_subwords = max(len(row) for row in rows)
        table = torch.full((config.vocab_size, config.max_subwords), padding, dtype=torch.long)
        for index, row in enumerate(rows):
            table[index, : len(row)] = torch.tensor(row)
        self.subwords = table.to(self.counts.device)
        self.counts.copy_(torch.as_tensor(counts, dtype=torch.long))
        self._tables = None

    def token_vectors(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The input vector of each id: the mean of the word's vector and its n-grams'. In training, each of
        those rows takes the WHOLE gradient of the mean, as fastText and gensim update them (the mean's own
        gradient would give each row 1/count of it: a word of 20 n-grams would learn 20x slower)."""
        rows = self.subwords[input_ids.flatten()]
        mean = self.embed(rows)
        if torch.is_grad_enabled() and self.embed.weight.requires_grad:
            count = (rows != self.embed.padding_idx).sum(-1, keepdim=True).clamp(min=1).to(mean.dtype)
            mean = mean * count - (mean * (count - 1)).detach()  # the mean's value, count x its gradient
        return mean.view(*input_ids.shape, -1)

    @torch.no_grad()
    def word_vector(self, word: str) -> torch.Tensor:
        """The vector of any word from its n-grams alone (for a word outside the vocabulary; for one inside,
        `token_vectors` also counts the word's own vector). Zero if the word has no n-gram."""
        rows = subword_rows(word, self.config)
        if not rows:
            return torch.zeros(self.config.vector_size, device=self.embed.weight.device)
        return self.embed.weight[torch.tensor(rows, device=self.embed.weight.device)].mean(0)

    def get_input_embeddings(self):
        """The composed vector of every vocabulary word, as a frozen embedding table (the trained parameters are
        `embed`, words and n-grams)."""
        with torch.no_grad():
            vectors = self.token_vectors(torch.arange(self.config.vocab_size, device=self.counts.device))
        return nn.Embedding.from_pretrained(vectors, freeze=True)

    def sampling_tables(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(keep probability of each word, unigram table of the noise words), from `counts`, computed once."""
        if self._tables is None or self._tables[0].device != self.counts.device:
            if int(self.counts.sum()) == 0:
                raise ValueError(
                    "the word counts are not set: call model.set_vocabulary(words, counts) first"
                )
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
    ) -> HfrFastTextOutput | tuple:
        r"""
        input_ids (`torch.LongTensor` of shape `(batch, seq)`): blocks of running text (training), or any ids.
        position_ids (`torch.LongTensor` of shape `(batch, seq)`): 0 where a sentence starts; windows stay inside
            sentences. Each row is one sentence when not given.
        attention_mask (`torch.Tensor` of shape `(batch, seq)`): 0 at padding, which is never trained on.
        """
        if not self.training:
            output = HfrFastTextOutput(last_hidden_state=self.token_vectors(input_ids))
            return output if _wants_dict(return_dict, self.config) else output.to_tuple()
        keep_probability, noise_table = self.sampling_tables()
        ids, sentence = kept_tokens(input_ids, position_ids, attention_mask, keep_probability)
        inputs = self.token_vectors(ids)
        if self.config.architecture == "skipgram":
            positions, inside = context_windows(sentence, self.config.window)
            loss = skipgram_loss(
                inputs,
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
                inputs,
                ids,
                low,
                high,
                self.output_embed,
                noise_table,
                self.config.negative,
                self.config.cbow_mean,
            )
        output = HfrFastTextOutput(loss=loss)
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


# Copied from hf_recipes.models.gpt.modeling_gpt._wants_dict with HfrGPT->HfrFastText
def _wants_dict(return_dict: bool | None, config: HfrFastTextConfig) -> bool:
    return config.return_dict if return_dict is None else return_dict


# Every head of the family and the Auto class that loads it. hf_recipes registers them from this table,
# and `save_pretrained` writes it into config.auto_map.
AUTO_MAP = {"AutoModel": "HfrFastTextModel"}


# Copied from hf_recipes.models.gpt.modeling_gpt.full_auto_map with HfrGPT->HfrFastText
def full_auto_map() -> dict[str, str]:
    """config.auto_map entries for the config and every head, as `module.Class` next to the weights."""
    config_module = HfrFastTextConfig.__module__.rsplit(".", 1)[-1]
    model_module = __name__.rsplit(".", 1)[-1]
    return {
        "AutoConfig": f"{config_module}.{HfrFastTextConfig.__name__}",
        **{auto_class: f"{model_module}.{name}" for auto_class, name in AUTO_MAP.items()},
    }


__all__ = ["HfrFastTextPreTrainedModel", *AUTO_MAP.values()]
