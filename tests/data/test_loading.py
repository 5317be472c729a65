"""A recipe's corpus from local files of every supported format, the Hub code path, the built-in corpus."""

import json
import os
import time

import pytest
from datasets import IterableDataset

from hf_recipes.config import DataSpec, HubSource, LocalSource
from hf_recipes.data.loading import load_documents, stream_documents
from hf_recipes.errors import UserError
from tests.helpers import pretrain_recipe

ARTICLES = [
    " = First = \n",
    " The first article starts here . It goes on .\n",
    " = = A section = = \n",
    " Still the first article .\n",
    " = Second = \n",
    " The second one .\n",
]


def texts(dataset) -> list[str]:
    return dataset["text"][:]


def test_text_files_split_at_titles_blank_lines_rows_or_not_at_all(tmp_path):
    (tmp_path / "wiki.txt").write_text("".join(ARTICLES))
    by_title = load_documents(DataSpec(local={"train": "wiki.txt"}, document_boundary="title"), str(tmp_path))
    assert texts(by_title["train"]) == [
        "= First =\nThe first article starts here . It goes on .\n= = A section = =\nStill the first article .",
        "= Second =\nThe second one .",
    ]
    (tmp_path / "bert.txt").write_text("Sentence one.\nSentence two.\n\nOther document.\n")
    by_blank = load_documents(DataSpec(local={"train": "bert.txt"}), str(tmp_path))
    assert texts(by_blank["train"]) == ["Sentence one.\nSentence two.", "Other document."]
    by_row = load_documents(DataSpec(local={"train": "bert.txt"}, document_boundary="row"), str(tmp_path))
    assert texts(by_row["train"]) == ["Sentence one.", "Sentence two.", "Other document."]
    whole = load_documents(DataSpec(local={"train": "bert.txt"}, document_boundary="file"), str(tmp_path))
    assert texts(whole["train"]) == ["Sentence one.\nSentence two.\n\nOther document.\n"]  # byte for byte


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".tsv", ".parquet"])
def test_table_formats_read_the_text_column(tmp_path, suffix):
    rows = [{"id": i, "body": f"document number {i} ."} for i in range(5)]
    path = tmp_path / f"corpus{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif suffix in (".csv", ".tsv"):
        sep = "," if suffix == ".csv" else "\t"
        path.write_text(f"id{sep}body\n" + "".join(f"{r['id']}{sep}{r['body']}\n" for r in rows))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    spec = DataSpec(local={"train": path.name}, text_column="body", document_boundary="row")
    assert texts(load_documents(spec, str(tmp_path))["train"]) == [row["body"] for row in rows]
    with pytest.raises(UserError, match=rf"{path.name}.*no column 'text'"):
        load_documents(DataSpec(local={"train": path.name}, document_boundary="row"), str(tmp_path))


def test_files_of_different_layouts_mix_in_one_split(tmp_path):
    """WikiText articles plus the sentence column of a GLUE-style TSV (whose `"` are text, not quoting), each
    file read its own way; the recipe's YAML form parses to the same spec."""
    (tmp_path / "wiki.txt").write_text("".join(ARTICLES))
    (tmp_path / "task.tsv").write_text('sentence\tlabel\na "quoted start\t1\nplain row\t0\n')
    recipe, _ = pretrain_recipe(
        "bert_mlm_nsp_wikitext",
        [
            "data.hub=null",
            "data.local.train=[wiki.txt, {path: task.tsv, text_column: sentence, document_boundary: file}]",
            "data.local.validation=wiki.txt",
        ],
    )
    spec = recipe.data
    assert spec.local["train"][1] == LocalSource("task.tsv", "sentence", "file")
    documents = load_documents(spec, str(tmp_path))["train"]
    assert texts(documents) == [
        "= First =\nThe first article starts here . It goes on .\n= = A section = =\nStill the first article .",
        "= Second =\nThe second one .",
        'a "quoted start\nplain row',  # one document: the whole column, a row a line
    ]
    with pytest.raises(UserError, match=r"data.local.train\[1\].document_boundary: expected one of"):
        pretrain_recipe(
            "bert_mlm_nsp_wikitext", ["data.local.train=[wiki.txt, {path: t, document_boundary: x}]"]
        )


def test_format_reads_a_file_whatever_its_name(tmp_path):
    """NSMC's train.txt is a TSV (`format: tsv`, one entry or the whole section); a .csv of notes can be read
    as plain text (`format: text`)."""
    (tmp_path / "train.txt").write_text('id\tdocument\tlabel\n1\t굳 ㅋ "\t1\n2\t별로\t0\n', encoding="utf-8")
    (tmp_path / "notes.csv").write_text("a, b\nc, d\n")
    one = LocalSource("train.txt", text_column="document", format="tsv")
    documents = load_documents(DataSpec(local={"train": one}, document_boundary="row"), str(tmp_path))
    assert texts(documents["train"]) == ['굳 ㅋ "', "별로"]
    whole = DataSpec(local={"train": "train.txt"}, document_boundary="row", format="tsv", text_column="label")
    assert texts(load_documents(whole, str(tmp_path))["train"]) == ["1", "0"]
    plain = DataSpec(local={"train": "notes.csv"}, document_boundary="row", format="text")
    assert texts(load_documents(plain, str(tmp_path))["train"]) == ["a, b", "c, d"]
    recipe, _ = pretrain_recipe("fasttext_nsmc", [], data_dir=str(tmp_path))
    assert recipe.data.local["train"] == LocalSource("nsmc/train.txt", "document", None, "tsv")


def test_validation_is_carved_from_the_end_of_the_text(tmp_path):
    (tmp_path / "one.txt").write_text("a" * 90 + "b" * 10)
    single = load_documents(
        DataSpec(local={"train": "one.txt"}, document_boundary="file", validation_fraction=0.1), str(tmp_path)
    )
    assert texts(single["train"]) == ["a" * 90] and texts(single["validation"]) == ["b" * 10]
    (tmp_path / "many.txt").write_text("\n".join(f"doc {i}" for i in range(10)))
    many = load_documents(
        DataSpec(local={"train": "many.txt"}, document_boundary="row", validation_fraction=0.2), str(tmp_path)
    )
    assert texts(many["validation"]) == ["doc 8", "doc 9"] and len(many["train"]) == 8


def test_an_edited_file_is_read_again_and_an_unchanged_one_comes_from_the_cache(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("first version\n")
    spec = DataSpec(local={"train": "corpus.txt"}, document_boundary="row")
    first = load_documents(spec, str(tmp_path))["train"]
    again = load_documents(spec, str(tmp_path))["train"]
    assert again.cache_files == first.cache_files  # the same Arrow file: not generated twice
    time.sleep(0.01)
    path.write_text("second version\n")
    os.utime(path, ns=(time.time_ns(), time.time_ns()))
    assert texts(load_documents(spec, str(tmp_path))["train"]) == ["second version"]


def test_text_files_are_read_under_any_name(tmp_path):
    """Plain text is recognised by its content, not a .txt suffix: Moses-style parallel files (train.en)."""
    (tmp_path / "train.en").write_text("A dog runs in the snow .\nTwo men play chess .\n")
    spec = DataSpec(local={"train": "train.en"}, document_boundary="row")
    assert texts(load_documents(spec, str(tmp_path))["train"]) == [
        "A dog runs in the snow .",
        "Two men play chess .",
    ]


def test_mistakes_are_one_line(tmp_path):
    with pytest.raises(UserError, match=r"data.local.train: file not found: .*missing.txt"):
        load_documents(DataSpec(local={"train": "missing.txt"}), str(tmp_path))
    (tmp_path / "notes.docx").write_bytes(b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xdf\xa4")
    with pytest.raises(UserError, match="notes.docx: unsupported format: not UTF-8 text"):
        load_documents(DataSpec(local={"train": "notes.docx"}), str(tmp_path))
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(UserError, match="the train split has no documents"):
        load_documents(DataSpec(local={"train": "empty.txt"}), str(tmp_path))
    with pytest.raises(UserError, match="no local files"):
        load_documents(DataSpec(hub=HubSource(path="x/y")), str(tmp_path))


def test_the_hub_route_maps_splits_and_groups_rows(tmp_path):
    """The Hub path is `load_dataset(path, name, split=...)`; a local dataset folder takes the same route,
    which is as far as these offline machines can follow it. Rows are WikiText-style lines."""
    folder = tmp_path / "wikitext-like"
    folder.mkdir()
    (folder / "train.txt").write_text("".join(ARTICLES))
    (folder / "validation.txt").write_text(" = Third = \n The third .\n")
    spec = DataSpec(
        hub=HubSource(path=str(folder), splits={"train": "validation", "validation": "train"}),
        document_boundary="title",
    )
    documents = load_documents(spec, data_dir=None)
    assert texts(documents["train"]) == ["= Third =\nThe third ."]  # our train = the source's validation
    assert len(documents["validation"]) == 2
    with pytest.raises(UserError, match=r"data.hub: cannot load .* split 'nope'"):
        load_documents(DataSpec(hub=HubSource(path=str(folder), splits={"train": "nope"})), data_dir=None)


def test_the_builtin_corpus_needs_no_files():
    documents = load_documents(DataSpec(builtin="python_reference"), data_dir=None)
    assert len(documents["train"]) > 50 and len(documents["validation"]) > 3
    text = "\n".join(texts(documents["train"]))
    assert "assert" in text and "****" not in text  # prose kept, heading underlines dropped


def test_the_offline_pretraining_corpus_pools_every_training_text_and_no_dev_sentence(shared_data):
    """bert_mlm_offline reads each source its own way (text files, TSV columns) from the real data, and
    keeps the fine-tuning tasks' dev sentences out of the pretraining."""
    recipe, _ = pretrain_recipe("bert_mlm_offline", data_dir=str(shared_data))
    documents = load_documents(recipe.data, str(shared_data))
    train = "\n".join(texts(documents["train"]))
    for source, line in [
        ("wikitext-2/valid.txt", "= Homarus gammarus =\nHomarus gammarus , known as the European lobster"),
        ("multi30k/train.en", "Two young, White males are outside near many bushes."),
        ("tinyshakespeare/input.txt", "First Citizen:\nBefore we proceed any further, hear me speak."),
        ("glue/SST-2/train.tsv", "hide new secretions from the parental units"),
        ("glue/MRPC/train.tsv", 'Amrozi accused his brother , whom he called " the witness "'),
        ("glue/STS-B/train.tsv", "A plane is taking off.\nA man is playing a large flute."),
    ]:
        assert line in train, f"nothing of {source} in the pooled corpus"
    assert "An air plane is taking off." in train  # STS-B's second sentence column, too
    for dev in ["it 's a charming and often affecting journey", "He said the foodservice pie business"]:
        assert dev not in train
    assert texts(documents["validation"])[0].startswith("= Robert <unk> =\n")


def test_streamed_documents_are_the_cached_ones(tmp_path):
    """`data.streaming` reads the same documents lazily: every boundary of a text file, several files, and the
    Hub route (here a local dataset folder, as above)."""
    (tmp_path / "wiki.txt").write_text("".join(ARTICLES) + " Odd\u2028line\n\n \n")
    (tmp_path / "bert.txt").write_text("Sentence one.\r\nSentence two.\n\nOther document.\n")
    for boundary in ("title", "blank_line", "row", "file"):
        spec = DataSpec(
            local={"train": ["wiki.txt", "bert.txt"], "validation": "bert.txt"}, document_boundary=boundary
        )
        cached, streamed = load_documents(spec, str(tmp_path)), stream_documents(spec, str(tmp_path))
        assert isinstance(streamed["train"], IterableDataset) and set(streamed) == {"train", "validation"}
        for split in cached:
            assert [row["text"] for row in streamed[split]] == texts(cached[split]), (boundary, split)

    folder = tmp_path / "wikitext-like"
    folder.mkdir()
    (folder / "train.txt").write_text("".join(ARTICLES))
    for boundary in ("title", "row"):
        spec = DataSpec(
            hub=HubSource(path=str(folder), splits={"train": "train"}), document_boundary=boundary
        )
        streamed = stream_documents(spec, data_dir=None)["train"]
        assert [row["text"] for row in streamed] == texts(load_documents(spec, data_dir=None)["train"])
    with pytest.raises(UserError, match=r"data.hub: cannot stream .* split 'nope'"):
        stream_documents(DataSpec(hub=HubSource(path=str(folder), splits={"train": "nope"})), data_dir=None)
    with pytest.raises(UserError, match="`file` .* cannot stream from the Hub"):
        stream_documents(DataSpec(hub=HubSource(path=str(folder)), document_boundary="file"), data_dir=None)
