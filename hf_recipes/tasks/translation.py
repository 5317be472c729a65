"""Translation: Multi30k (task 1, EN–DE), German → English by default, English → German by option.

Model-agnostic: any `AutoModelForSeq2SeqLM` and its tokenizer. Sources (optionally behind `source_prefix`,
for T5-style models) become `input_ids`, targets become `labels` through the tokenizer's `text_target`
(so tokenizers with a target mode use it); `DataCollatorForSeq2Seq` pads labels with -100. The metric is
sacreBLEU corpus BLEU on detokenized text: generated ids (Seq2SeqTrainer with predict_with_generate) are
decoded with the tokenizer and scored against the ORIGINAL reference sentences when the eval examples are
given (decoded labels otherwise, which loses case/unknown words the tokenizer normalised away).

Files: `<data_dir>/multi30k/{train,val,test_2016_flickr}.{de,en}`, line-aligned, raw text. The standard
test set is test_2016_flickr (split "test"); test_2017_flickr / test_2018_flickr load as extra splits when
present. The Hub copy for users with network is bentrevett/multi30k (columns `en`, `de`).
"""

import dataclasses
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import datasets
import numpy as np

from .. import metrics as M
from ..data.tables import cached_dataset
from ..data.tokenization import append_eos, seq2seq_tokenizer
from ..errors import UserError
from .base import IGNORE_INDEX, Task, build_task, check_pad_token, find_dir, option, values

LANGUAGES = ("en", "de")
# Validation sentences whose cross-attention a translation run draws (attention_<i>.png).
ATTENTION_PICTURES = 3
# Config fields that name the source and the target vocabulary of an encoder-decoder with separate
# vocabularies: (source, target), by the first field the config class has. Our Transformer counts its target
# vocabulary in vocab_size (as Marian and BART), our RNN its source vocabulary (the encoder's, shared by every
# head); Marian names its target side decoder_vocab_size.
VOCABULARY_FIELDS = {
    "encoder_vocab_size": ("encoder_vocab_size", "vocab_size"),
    "target_vocab_size": ("vocab_size", "target_vocab_size"),
    "decoder_vocab_size": ("vocab_size", "decoder_vocab_size"),
}
MULTI30K_FILES = {
    "train": "train",
    "validation": "val",
    "test": "test_2016_flickr",
    "test_2017_flickr": "test_2017_flickr",
    "test_2018_flickr": "test_2018_flickr",
}


def read_parallel(paths: dict[str, str]) -> Iterator[dict[str, str]]:
    """Line-aligned files, one per language → rows {lang: sentence}. Only '\\n' ends a line (no splitting
    on the Unicode separators str.splitlines honours, which would shift the alignment)."""
    lines = {}
    for lang, path in paths.items():
        with open(path, encoding="utf-8", newline=None) as handle:
            text = handle.read()
        rows = text.split("\n")
        if rows and rows[-1] == "":
            rows.pop()
        lines[lang] = rows
    counts = {lang: len(rows) for lang, rows in lines.items()}
    if len(set(counts.values())) > 1:
        detail = ", ".join(f"{paths[lang]} has {n}" for lang, n in counts.items())
        raise UserError(f"parallel files are not line-aligned: {detail} lines")
    for row in zip(*lines.values()):
        yield {lang: sentence.strip() for lang, sentence in zip(lines, row)}


def tokenize_translation(
    batch: dict[str, list],
    *,
    tokenizer,
    max_length: int,
    max_target_length: int,
    source_column: str,
    target_column: str,
    source_prefix: str,
) -> dict[str, list]:
    """Batched map function: source sentences → input ids; target sentences → `labels` (text_target)."""
    sources = [source_prefix + text for text in batch[source_column]]
    encoded = tokenizer(sources, max_length=max_length, truncation=True)
    if target_column in batch:
        targets = tokenizer(text_target=batch[target_column], max_length=max_target_length, truncation=True)
        encoded["labels"] = targets["input_ids"]
    return dict(encoded)


def decode_ids(tokenizer, ids) -> list[str]:
    """Generated ids or labels (padded with -100 by Trainer/the collator) → stripped text."""
    ids = np.asarray(ids)
    if ids.ndim == 3:  # logits (evaluation without predict_with_generate): the teacher-forced argmax
        ids = ids.argmax(-1)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = np.where(ids < 0, pad, ids)
    return [text.strip() for text in tokenizer.batch_decode(ids.tolist(), skip_special_tokens=True)]


def decoder_start_field(tokenizer, field_names: set[str]) -> dict[str, Any]:
    """A decoder built from scratch starts from the tokenizer's bos token (eos when it has none)."""
    if "decoder_start_token_id" not in field_names:
        return {}
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    return {"decoder_start_token_id": start}


def configure_generation(model, args, settings: dict[str, Any], max_length: int) -> None:
    """Evaluation (predict_with_generate), the pipelines and the attention pictures all decode with the saved
    GenerationConfig: the recipe's `generation` settings, and `max_length` (the evaluation's length limit)
    rather than transformers' default of 20 tokens."""
    if args.generation_max_length is None:
        args.generation_max_length = max_length
    if not {"max_length", "max_new_tokens"} & set(settings):
        model.generation_config.max_length = args.generation_max_length
    model.generation_config.update(**settings)


@dataclasses.dataclass(kw_only=True)
class TranslationTask(Task):
    """Source sentence → target sentence, scored with sacreBLEU."""

    problem_type: str = "seq2seq"
    main_metric: str = "bleu"
    generates: ClassVar[bool] = True
    source_lang: str = option("de", "language of the source column")
    target_lang: str = option("en", "language of the target column")
    source_prefix: str = option(
        "", "text put before every source sentence (e.g. 'translate German to English: ')"
    )
    max_target_length: int | None = option(None, "target tokens kept (default: max_length)")

    def __post_init__(self):
        super().__post_init__()
        for field, lang in (("source_lang", self.source_lang), ("target_lang", self.target_lang)):
            if lang not in LANGUAGES:
                raise UserError(f"task {self.name}: {field} {lang!r} is not one of {', '.join(LANGUAGES)}")
        if self.source_lang == self.target_lang:
            raise UserError(f"task {self.name}: source_lang and target_lang are both {self.source_lang!r}")

    @property
    def pipeline_task(self) -> str:
        return "translation"

    # ---- training: Seq2SeqTrainer, generation, a tokenizer that ends every sequence -------------------------
    @property
    def training_arguments_class(self) -> type:
        from transformers import Seq2SeqTrainingArguments

        return Seq2SeqTrainingArguments

    def training_defaults(self) -> dict[str, Any]:
        return {**super().training_defaults(), "predict_with_generate": True}

    def train_tokenizer(
        self,
        make: Callable[[Callable[[], Iterable[str]]], Any],
        train: datasets.Dataset,
        separate: bool = False,
    ):
        """Trained on the source and target sentences, jointly or (`separate`) one per side; either way every
        sequence ends with end-of-sequence, so that the decoder learns to stop."""
        source, target = values(train, self.source_lang), values(train, self.target_lang)
        if not separate:
            return append_eos(make(lambda: source + target))
        return seq2seq_tokenizer(append_eos(make(lambda: source)), append_eos(make(lambda: target)))

    def config_fields(self, tokenizer, field_names: set[str]) -> dict[str, Any]:
        """The decoder starts from the tokenizer's bos token (eos when it has none); a tokenizer with two
        vocabularies sizes the source and target embeddings apart (and they cannot be one shared matrix)."""
        fields = decoder_start_field(tokenizer, field_names)
        target_size = getattr(tokenizer, "target_vocab_size", None)  # HfrSeq2SeqTokenizer
        if target_size is not None:
            names = next((VOCABULARY_FIELDS[f] for f in VOCABULARY_FIELDS if f in field_names), None)
            if names is None:
                raise UserError(
                    "tokenizer.separate_vocabularies: this model has one vocabulary for source and target (its "
                    f"config has none of {', '.join(VOCABULARY_FIELDS)}); use a joint vocabulary"
                )
            fields.update({names[0]: len(tokenizer), names[1]: target_size})
        return fields

    def configure_model(self, model, args, settings: dict[str, Any], max_length: int) -> None:
        """Evaluation (predict_with_generate), the pipelines and `hf-recipes attention` all decode with the
        saved GenerationConfig: the recipe's `generation` settings, and the evaluation's length limit rather than
        transformers' default of 20 tokens."""
        configure_generation(model, args, settings, self.max_target_length or max_length)

    def write_pictures(self, out: Path, model, tokenizer, examples, output) -> list[Path]:
        """attention_<i>.png: the cross-attention of the final model on the first validation sentences."""
        from ..evaluation.attention import write_attention_pictures

        sources = values(examples.select(range(min(ATTENTION_PICTURES, len(examples)))), self.source_lang)
        return write_attention_pictures(model, tokenizer, sources, out)

    def preprocess(self, tokenizer, max_length: int | None = None, *, split: str = "train"):
        max_length = max_length or self.default_max_length
        return functools.partial(
            tokenize_translation,
            tokenizer=tokenizer,
            max_length=max_length,
            max_target_length=self.max_target_length or max_length,
            source_column=self.source_lang,
            target_column=self.target_lang,
            source_prefix=self.source_prefix,
        )

    def data_collator(self, tokenizer, model=None):
        from transformers import DataCollatorForSeq2Seq

        check_pad_token(tokenizer, self.name)
        return DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=IGNORE_INDEX)

    def _compute_metrics(self, eval_pred, *, tokenizer, references) -> dict[str, float]:
        predictions = eval_pred.predictions
        if isinstance(predictions, tuple | list):
            predictions = predictions[0]
        hypotheses = decode_ids(tokenizer, predictions)
        if references is None:
            references = decode_ids(tokenizer, eval_pred.label_ids)
        lengths = (np.asarray(predictions) >= 0) & (np.asarray(predictions) != tokenizer.pad_token_id)
        gen_len = float(lengths.sum(-1).mean()) if np.asarray(predictions).ndim == 2 else 0.0
        return {**M.bleu(hypotheses, references[: len(hypotheses)]), "gen_len": gen_len}

    def compute_metrics_fn(self, *, tokenizer=None, examples=None, features=None):
        if tokenizer is None:
            raise ValueError("translation compute_metrics needs the tokenizer (to decode generated ids)")
        references = values(examples, self.target_lang) if examples is not None else None
        return functools.partial(self._compute_metrics, tokenizer=tokenizer, references=references)

    def predictions(self, examples, features, raw_predictions, *, tokenizer=None) -> list[dict[str, Any]]:
        if tokenizer is None:
            raise ValueError("predictions() of a translation task needs the tokenizer")
        if isinstance(raw_predictions, tuple | list):
            raw_predictions = raw_predictions[0]
        hypotheses = decode_ids(tokenizer, raw_predictions)
        return [
            {"source": row[self.source_lang], "reference": row[self.target_lang], "prediction": hypothesis}
            for row, hypothesis in zip(examples, hypotheses)
        ]


@dataclasses.dataclass(kw_only=True)
class Multi30kTask(TranslationTask):
    def load_files(
        self, data_dir: Path, *, cache_dir: str | None = None, splits: Sequence[str] | None = None
    ) -> datasets.DatasetDict:
        folder = find_dir(data_dir, "multi30k", must_contain="train.en")
        out = {}
        for split, stem in MULTI30K_FILES.items():
            if splits is not None and split not in splits:
                continue
            paths = {lang: folder / f"{stem}.{lang}" for lang in LANGUAGES}
            missing = [p for p in paths.values() if not p.is_file()]
            if missing:
                if split in ("train", "validation", "test"):
                    raise UserError(f"{missing[0]}: file not found (the {split} split of {self.name})")
                continue
            out[split] = _read_pair(paths, split, cache_dir)
        return datasets.DatasetDict(out)

    def load_file(
        self, paths: Sequence[Path], split: str, *, cache_dir: str | None = None
    ) -> datasets.Dataset:
        """Line-aligned files named by their language (`test_2017_mscoco.de:test_2017_mscoco.en`), or their
        common stem (`test_2017_mscoco`: the `.de` and `.en` beside it)."""
        if len(paths) == 1 and paths[0].suffix.lstrip(".") not in LANGUAGES:
            paths = [paths[0].with_name(f"{paths[0].name}.{lang}") for lang in LANGUAGES]
        by_language = {path.suffix.lstrip("."): path for path in paths}
        if sorted(by_language) != sorted(LANGUAGES) or len(paths) != len(LANGUAGES):
            raise UserError(
                f"task {self.name}: --file needs one file per language ({', '.join(LANGUAGES)}), named by it: "
                f"STEM.de:STEM.en, or STEM; got {', '.join(map(str, paths))}"
            )
        missing = [path for path in by_language.values() if not path.is_file()]
        if missing:
            raise UserError(f"{missing[0]}: file not found")
        return _read_pair(by_language, split, cache_dir)


def _read_pair(paths: dict[str, Path], split: str, cache_dir: str | None) -> datasets.Dataset:
    """Line-aligned files, one per language, as rows {lang: sentence} (cached)."""
    features = datasets.Features({lang: datasets.Value("string") for lang in LANGUAGES})
    return cached_dataset(
        read_parallel,
        features,
        list(paths.values()),
        cache_dir,
        split=split,
        paths={lang: str(path) for lang, path in paths.items()},
    )


def multi30k(**options: Any) -> Multi30kTask:
    fixed = dict(
        name="multi30k",
        description="Multi30k task 1 (Flickr30k captions) translation, test = test_2016_flickr",
        hub_dataset="bentrevett/multi30k",
    )
    return build_task(Multi30kTask, fixed, options)


TASKS = {
    "multi30k": multi30k,
    "multi30k_en_de": functools.partial(multi30k, source_lang="en", target_lang="de"),
}
ALIASES = {"multi30k_de_en": "multi30k", "multi30k-de-en": "multi30k", "multi30k-en-de": "multi30k_en_de"}
