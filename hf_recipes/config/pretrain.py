"""The pretraining recipe (recipes/pretrain/*.yaml): objective, model, tokenizer, data, training, samples.

Its `data` section and tokenizer spec serve the other recipes too (a fine-tuning recipe's tokenizer for a model
built from a config, the corpora of the built-in tasks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..errors import UserError
from .base import Recipe


@dataclass
class ModelSpec:
    """Which architecture, at which size, with which config fields."""

    type: str  # a registered model_type (`hf-recipes models`), e.g. hfr_bert
    size: str | None = None  # a named preset of the family (e.g. tiny, mini, base); `config` goes on top
    config: dict[str, Any] = field(default_factory=dict)  # fields of the family's config class


@dataclass
class TokenizerSpec:
    """Train a tokenizer on the recipe's corpus, or load an existing one (a directory or a Hub id)."""

    train: Literal["wordpiece", "bpe", "char", "unigram", "word"] | None = (
        None  # word: whole words (word vectors)
    )
    name_or_path: str | None = None
    vocab_size: int = 8000
    lowercase: bool | None = None  # None: the kind's usual choice (True for wordpiece, as bert-base-uncased)
    strip_accents: bool = False  # é -> e (bert-base-uncased does); text is NFC either way: Hangul stays whole
    min_frequency: int = 2
    special_tokens: dict[str, str] = field(default_factory=dict)  # role -> token, e.g. {unk_token: "<unk>"}
    # kiwi: a wordpiece/bpe vocabulary that never merges across the morphemes of a Korean word (먹 ##었 ##다);
    # the `korean` extra (kiwipiepy), used while training only: the saved tokenizer needs nothing more.
    morphemes: Literal["kiwi"] | None = None


@dataclass
class HubSource:
    """A dataset on the Hugging Face Hub (for users with network)."""

    path: str  # e.g. Salesforce/wikitext
    name: str | None = None  # the dataset config, e.g. wikitext-2-v1
    splits: dict[str, str] = field(
        default_factory=dict
    )  # our split -> the Hub's split, e.g. train: validation


@dataclass
class LocalSource:
    """One local file read its own way, for a corpus mixed from files of different layouts, e.g. WikiText's
    articles plus the sentence column of a GLUE TSV: `{path: glue/SST-2/train.tsv, text_column: sentence,
    document_boundary: file}`. Unset fields take the `data` section's values."""

    path: str
    text_column: str | None = None
    document_boundary: Literal["blank_line", "title", "row", "file"] | None = None
    format: Literal["text", "csv", "tsv", "json", "jsonl", "parquet"] | None = None


@dataclass
class DataSpec:
    """Where the text comes from and how it divides into documents.

    With `--data-dir` (or when `hub` is unset) the `local` files are read: paths relative to the data
    directory (else to the working directory): tables by extension (.jsonl/.json, .csv/.tsv, .parquet), any
    other UTF-8 file as plain text (.txt, or e.g. Multi30k's train.en).
    Without it the `hub` dataset is loaded. A `builtin` corpus needs neither (it ships with Python).
    """

    # python_reference: the Python Language Reference (pydoc_data), one document per topic, prose only.
    builtin: Literal["python_reference"] | None = None
    hub: HubSource | None = None
    local: dict[str, str | LocalSource | list[str | LocalSource]] = field(
        default_factory=dict
    )  # split -> file(s)
    text_column: str = "text"
    # How to read the local files: by their extension (None: .csv/.tsv/.json/.jsonl/.parquet tables, anything
    # else plain text), or as this for every file (e.g. tsv for NSMC's train.txt, text for a notes.csv).
    format: Literal["text", "csv", "tsv", "json", "jsonl", "parquet"] | None = None
    # blank_line: documents separated by empty lines (BERT's input format); title: a line matching
    # `title_pattern` starts a document (WikiText's " = Title = "); row: one document per line/row;
    # file: one document per file.
    document_boundary: Literal["blank_line", "title", "row", "file"] = "blank_line"
    title_pattern: str = r"^ = [^=].* = $"
    # With no validation split, the last `validation_fraction` of the training text becomes validation
    # (nanoGPT's first 90% / last 10% of tinyshakespeare).
    validation_fraction: float | None = None
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    num_proc: int | None = None  # datasets.map workers
    # Pretraining only. Read the documents as training goes (datasets' streaming), with no preprocessing pass
    # and nothing cached: for corpora larger than memory or disk. Needs training.max_steps (a stream has no
    # length); the validation split's first max_eval_samples examples are kept in memory for evaluation.
    streaming: bool = False
    shuffle_buffer: int = 10_000  # streamed training examples are shuffled in windows of this many
    # a streamed corpus trains the recipe's tokenizer on its first this many documents
    tokenizer_documents: int = 100_000


@dataclass
class CausalLMObjective:
    """Next-token prediction on blocks of `block_size` tokens cut from the concatenated documents."""

    type: Literal["causal_lm"]
    block_size: int = 128
    # Restart position_ids at each document inside a block, which also keeps attention inside it.
    document_attention: bool = False

    head: ClassVar[str] = "AutoModelForCausalLM"  # the head (Auto class) this objective trains

    @property
    def length(self) -> int:
        """Tokens per training example."""
        return self.block_size


@dataclass
class MaskedLMObjective:
    """BERT pretraining (section 3.1, appendix A.2): masked LM, plus next-sentence prediction for mlm_nsp
    (segment B is the actual next segment or, half the time, a random one, as in the paper)."""

    type: Literal["mlm_nsp", "mlm"]
    max_seq_length: int = 128
    short_seq_prob: float = 0.1  # share of instances with a shorter random target length
    mlm_probability: float = 0.15
    whole_word_mask: bool = False
    dupe_factor: int = 1  # instance-building passes over the training corpus, each with a different pairing
    split_sentences: bool = True  # cut lines into sentences (off for one-sentence-per-line corpora)
    drop_pattern: str | None = None  # lines matching it are not text (e.g. WikiText's headings)
    # Put each batch's instances into as few rows of max_seq_length as fit them, each attending to itself only
    # (position_ids restart at 0): no compute on padding, the same instances and losses per step (BERT).
    pack_sequences: bool = False

    @property
    def head(self) -> str:
        """The head (Auto class) this objective trains."""
        return "AutoModelForPreTraining" if self.type == "mlm_nsp" else "AutoModelForMaskedLM"

    @property
    def length(self) -> int:
        """Tokens per training example."""
        return self.max_seq_length


# Words whose neighbours and 2-D map every word-vector run shows (those of the vocabulary): the analogy
# quartets of the word2vec papers, and common words of a few kinds.
PROBE_WORDS = [
    "king", "queen", "man", "woman", "boy", "girl", "father", "mother",
    "paris", "france", "london", "england", "berlin", "germany",
    "good", "bad", "great", "terrible", "happy", "sad",
    "dog", "cat", "horse", "bird", "car", "bus", "train", "bike",
    "red", "blue", "green", "white", "one", "two", "three", "four",
    "run", "walk", "sit", "stand", "day", "night", "water", "fire",
]  # fmt: skip


@dataclass
class WordVectorsObjective:
    """Word vectors from running text (word2vec, FastText): the corpus's lines are sentences of word ids,
    packed into blocks of up to `block_size` ids; each training step is one block (a batch of blocks with a
    batch size above 1), whose windows, subsampling and noise words the model draws itself."""

    type: Literal["word_vectors"]
    # Words per step: a step updates every vector of its predictions at once, so larger blocks are faster but
    # repeat frequent words within a step (word2vec's SGD at its rate diverges past ~2000 words a step).
    block_size: int = 1200
    probe_words: list[str] = field(
        default_factory=lambda: list(PROBE_WORDS)
    )  # neighbours.txt, projection.png

    head: ClassVar[str] = "AutoModel"

    @property
    def length(self) -> int:
        return self.block_size


@dataclass
class CooccurrenceObjective:
    """GloVe's co-occurrence counts: words at most `window` apart in a line (a sentence), each occurrence
    weighted 1/distance (`distance_weighting`), counted both ways (`symmetric`); the entries are shuffled and
    cut into examples of `entries_per_example` (a step: batch size × that many entries)."""

    type: Literal["cooccurrence"]
    window: int = 10
    symmetric: bool = True
    distance_weighting: bool = True
    entries_per_example: int = 4096
    probe_words: list[str] = field(default_factory=lambda: list(PROBE_WORDS))

    head: ClassVar[str] = "AutoModel"

    @property
    def length(self) -> int:
        return self.entries_per_example  # co-occurrence entries per example


@dataclass
class SamplesSpec:
    """Text generated at the end of a causal-LM run and saved as samples.txt."""

    count: int = 3
    max_new_tokens: int = 200
    prompt: str = ""
    temperature: float = 0.8
    top_k: int | None = 200


@dataclass
class PretrainRecipe(Recipe):
    """Self-supervised pretraining (`hf-recipes pretrain`, recipes/pretrain/)."""

    kind: ClassVar[str] = "pretrain"

    objective: CausalLMObjective | MaskedLMObjective | WordVectorsObjective | CooccurrenceObjective
    model: ModelSpec
    tokenizer: TokenizerSpec
    data: DataSpec
    output_dir: str
    training: dict[str, Any] = field(default_factory=dict)  # transformers.TrainingArguments fields
    samples: SamplesSpec = field(default_factory=SamplesSpec)
    description: str = ""
    data_dir: str | None = None  # set by --data-dir

    def check(self, source: str, data: dict[str, Any]) -> None:
        super().check(source, data)
        if (self.tokenizer.train is None) == (self.tokenizer.name_or_path is None):
            raise UserError(f"{source}: tokenizer: set exactly one of `train` (a kind) or `name_or_path`")
        if self.data.builtin is None and self.data.hub is None and not self.data.local:
            raise UserError(f"{source}: data: set `hub` (a Hub dataset), `local` (files) or `builtin`")
        if self.data.streaming:
            self._check_streaming(source)

    def _check_streaming(self, source: str) -> None:
        """What a streamed corpus cannot do, one line each, before anything is read or written."""
        data, training = self.data, self.training
        max_steps = training.get("max_steps")
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps <= 0:
            raise UserError(
                f"{source}: data.streaming: needs training.max_steps (a positive number of steps; a stream has no "
                f"length to count epochs in), got {max_steps}"
            )
        refusals = {
            "objective.type": self.objective.head == "AutoModel"
            and "word vectors count every word of the corpus before training (set data.streaming: false)",
            "data.builtin": data.builtin is not None and "a built-in corpus is in memory already",
            "data.validation_fraction": data.validation_fraction is not None
            and "a stream's length is unknown, so its last fraction is too; name a validation split in data.local "
            "or data.hub.splits",
            "training.dataloader_num_workers": training.get("dataloader_num_workers", 0) != 0
            and "a stream is read in the main process, where its position is noted for resuming; leave it 0",
        }
        for key, reason in refusals.items():
            if reason:
                raise UserError(f"{source}: {key}: not with data.streaming: {reason}")
        for key in ("shuffle_buffer", "tokenizer_documents"):
            value = getattr(data, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"{source}: data.{key}: expected a positive integer, got {value}")


__all__ = [
    "PROBE_WORDS",
    "CausalLMObjective",
    "CooccurrenceObjective",
    "WordVectorsObjective",
    "DataSpec",
    "HubSource",
    "LocalSource",
    "MaskedLMObjective",
    "ModelSpec",
    "PretrainRecipe",
    "SamplesSpec",
    "TokenizerSpec",
]
