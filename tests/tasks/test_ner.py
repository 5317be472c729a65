"""NER: CoNLL reader, first-sub-token label alignment, IOB1/IOB2, seqeval metric from logits."""

import numpy as np
import pytest
from datasets import Dataset, DatasetDict
from transformers import DataCollatorForTokenClassification, EvalPrediction

from hf_recipes.errors import UserError
from hf_recipes.tasks import IGNORE_INDEX, get_task
from hf_recipes.tasks.ner import CONLL2003_LABELS, continuation_ids

L = {name: i for i, name in enumerate(CONLL2003_LABELS)}


def _one_sentence(tokens, tags):
    return Dataset.from_dict({"tokens": [tokens], "ner_tags": [[L[t] for t in tags]]})


def test_first_sub_token_gets_the_label(handmade_tokenizer):
    # "Washington" → wash ##ing ##ton; "Johnson" → john ##son (see HANDMADE_VOCAB).
    tokens = ["Johnson", "lives", "in", "Washington", "."]
    tags = ["B-PER", "O", "O", "B-LOC", "O"]
    task = get_task("conll2003")
    row = _one_sentence(tokens, tags).map(task.preprocess(handmade_tokenizer, 32), batched=True)[0]
    pieces = handmade_tokenizer.convert_ids_to_tokens(row["input_ids"])
    assert pieces == ["[CLS]", "john", "##son", "lives", "in", "wash", "##ing", "##ton", ".", "[SEP]"]
    X = IGNORE_INDEX
    assert row["labels"] == [X, L["B-PER"], X, L["O"], L["O"], L["B-LOC"], X, X, L["O"], X]


def test_label_all_tokens_trains_continuations_but_eval_stays_per_word(handmade_tokenizer):
    tokens = ["Johnson", "lives", "in", "New", "Washington"]
    tags = ["B-PER", "O", "O", "B-LOC", "I-LOC"]
    task = get_task("conll2003", label_all_tokens=True)
    data = _one_sentence(tokens, tags)
    train_row = data.map(task.preprocess(handmade_tokenizer, 32, split="train"), batched=True)[0]
    X = IGNORE_INDEX
    # john ##son: B-PER, I-PER (B- becomes I- on continuation pieces); wash ##ing ##ton: I-LOC ×3
    assert train_row["labels"] == [X, 1, 2, 0, 0, 5, 6, 6, 6, X]
    eval_row = data.map(task.preprocess(handmade_tokenizer, 32, split="eval"), batched=True)[0]
    assert eval_row["labels"] == [X, 1, X, 0, 0, 5, 6, X, X, X]
    assert continuation_ids(CONLL2003_LABELS) == [0, 2, 2, 4, 4, 6, 6, 8, 8]


def test_truncation_keeps_alignment(handmade_tokenizer):
    task = get_task("conll2003")
    row = _one_sentence(["Washington", "Johnson", "lives"], ["B-LOC", "B-PER", "O"])
    row = row.map(task.preprocess(handmade_tokenizer, max_length=5), batched=True)[0]
    # [CLS] wash ##ing ##ton [SEP]: only the first word survives.
    assert row["labels"] == [IGNORE_INDEX, L["B-LOC"], IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]


def test_conll_reader_counts(shared_data, cache_dir):
    raw = get_task("conll2003").load(shared_data, cache_dir=cache_dir)
    assert {split: len(ds) for split, ds in raw.items()} == {
        "train": 14_041,
        "validation": 3_250,
        "test": 3_453,
    }
    first = raw["train"][0]
    assert first["tokens"] == ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."]
    assert [CONLL2003_LABELS[t] for t in first["ner_tags"]] == [
        "B-ORG",
        "O",
        "B-MISC",
        "O",
        "O",
        "O",
        "B-MISC",
        "O",
        "O",
    ]
    assert first["pos_tags"][0] == "NNP" and first["chunk_tags"][0] == "B-NP"
    assert raw["train"].features["ner_tags"].feature.names == CONLL2003_LABELS


def _to_iob1(tags):
    """IOB2 → IOB1: B- only where the previous token is of the same type."""
    out, previous = [], "O"
    for tag in tags:
        if tag.startswith("B-") and not (previous != "O" and previous[2:] == tag[2:]):
            tag = "I-" + tag[2:]
        out.append(tag)
        previous = tag
    return out


def test_iob1_file_reads_like_iob2(shared_data, tmp_path, cache_dir):
    lines = (shared_data / "conll2003_iob2" / "dev.txt").read_text(encoding="utf-8").split("\n")[:3000]
    sentences, block = [], []
    for line in lines + [""]:
        if line.strip():
            block.append(line.split())
        elif block:
            if block[0][0] != "-DOCSTART-":
                sentences.append(block)
            block = []
    iob1_lines = []
    for block in sentences:
        for parts, tag in zip(block, _to_iob1([p[-1] for p in block])):
            iob1_lines.append(" ".join(parts[:-1] + [tag]))
        iob1_lines.append("")
    iob2_lines = [" ".join(p) for block in sentences for p in block + [[]]]
    assert any(line.endswith(" I-ORG") and "B-ORG" not in line for line in iob1_lines)  # really IOB1
    for name, content in (("iob1", iob1_lines), ("iob2", iob2_lines)):
        folder = tmp_path / name / "conll2003_iob2"
        folder.mkdir(parents=True)
        for file in ("train.txt", "dev.txt"):
            (folder / file).write_text("\n".join(content) + "\n", encoding="utf-8")
    task = get_task("conll2003")
    from_iob1 = task.load(tmp_path / "iob1", cache_dir=cache_dir)["validation"]
    from_iob2 = task.load(tmp_path / "iob2", cache_dir=cache_dir)["validation"]
    assert len(from_iob1) == len(sentences) > 100
    assert from_iob1["ner_tags"][:] == from_iob2["ner_tags"][:]

    # The original release's names, in any folder: task.files names them (the IOB1 is detected as above).
    release = tmp_path / "CoNLL-2003 release"
    release.mkdir()
    for file in ("eng.train", "eng.testa"):
        (release / file).write_text("\n".join(iob1_lines) + "\n", encoding="utf-8")
    named = get_task("conll2003", files={"train": "eng.train", "validation": "eng.testa"})
    assert named.load(release, cache_dir=cache_dir)["validation"]["ner_tags"][:] == from_iob2["ner_tags"][:]
    with pytest.raises(UserError, match="eng.testb: file not found"):
        get_task("conll2003", files={"train": "eng.train", "validation": "eng.testb"}).load(release)
    with pytest.raises(UserError, match="expected train and validation"):
        get_task("conll2003", files={"train": "eng.train"})


def test_unknown_tag_is_one_line(tmp_path, cache_dir):
    folder = tmp_path / "conll2003_iob2"
    folder.mkdir()
    (folder / "train.txt").write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP B-FOO\n", encoding="utf-8")
    (folder / "dev.txt").write_text("EU NNP B-NP B-ORG\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"train.txt:2: tag 'B-FOO'") as error:
        get_task("conll2003").load(tmp_path, cache_dir=cache_dir)
    assert "\n" not in str(error.value)


def test_metrics_from_logits_skip_ignored_positions():
    task = get_task("conll2003")
    X = IGNORE_INDEX
    labels = np.array([[X, 1, X, 0, 5, 6, X], [X, 3, 4, 0, X, X, X]])
    predicted = np.array([[0, 1, 7, 0, 5, 6, 0], [0, 3, 4, 0, 0, 0, 0]])  # position 2 (ignored) is wrong
    logits = np.eye(9, dtype=np.float32)[predicted]
    scores = task.compute_metrics(EvalPrediction(predictions=logits, label_ids=labels))
    assert scores["f1"] == pytest.approx(1.0) and scores["precision"] == pytest.approx(1.0)
    predicted[1, 2] = 0  # ORG shrinks to its first word → 2 of 3 entities right
    scores = task.compute_metrics(EvalPrediction(predictions=predicted, label_ids=labels))  # ids work too
    assert scores["f1"] == pytest.approx(2 / 3) and scores["ORG_f1"] == 0.0 and scores["PER_f1"] == 1.0


def test_prepare_collate_and_predictions(shared_data, cache_dir, wordpiece_tokenizer):
    task = get_task("conll2003")
    raw = task.load(shared_data, cache_dir=cache_dir, splits=["validation"])
    raw = DatasetDict({"validation": raw["validation"].select(range(64))})
    features = task.prepare(raw, wordpiece_tokenizer, max_length=64)["validation"]
    assert set(features.column_names) == {"input_ids", "token_type_ids", "attention_mask", "labels"}
    # Every word that fits gets exactly one label.
    for example, feature in zip(raw["validation"], features):
        labelled = [label for label in feature["labels"] if label != IGNORE_INDEX]
        if feature["input_ids"][-1] == wordpiece_tokenizer.sep_token_id and len(feature["input_ids"]) < 64:
            assert labelled == example["ner_tags"]
    collator = task.data_collator(wordpiece_tokenizer)
    assert isinstance(collator, DataCollatorForTokenClassification)
    batch = collator([features[i] for i in range(8)])
    assert batch["labels"].shape == batch["input_ids"].shape and (batch["labels"] == IGNORE_INDEX).any()
    # Oracle logits (the gold label at every labelled position) → perfect F1 and per-word rows.
    width = max(len(f) for f in features["labels"][:])
    gold = np.full((len(features), width), IGNORE_INDEX)
    for i, row in enumerate(features["labels"][:]):
        gold[i, : len(row)] = row
    oracle = np.eye(9, dtype=np.float32)[np.where(gold < 0, 0, gold)]
    assert task.compute_metrics(EvalPrediction(predictions=oracle, label_ids=gold))["f1"] == pytest.approx(
        1.0
    )
    rows = task.predictions(raw["validation"], features, oracle, tokenizer=wordpiece_tokenizer)
    assert rows[1]["prediction"] == rows[1]["tags"] and len(rows[1]["prediction"]) == len(rows[1]["tokens"])
