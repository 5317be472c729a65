"""Word vectors end to end through the shipped recipes (word2vec_offline, fasttext_offline, glove_offline) on
small synthetic corpora whose answer is known: words planted in clusters must end up each other's nearest
neighbours; FastText must place unseen inflections (English and Korean) next to their relatives. Then the
tools: export/import in the word2vec formats, the CLI verbs, reloading through AutoModel/AutoTokenizer and
remote code, feature-based initialisation of a classifier, and two processes under accelerate launch."""

import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
import transformers

from hf_recipes.config import RECIPES_DIR
from hf_recipes.data.vector_files import read_vectors, write_vectors
from hf_recipes.errors import UserError
from hf_recipes.jobs import finetune, pretrain
from hf_recipes.word_vectors import WordVectors
from tests.helpers import run_without_hf_recipes

CLUSTERS = [[f"{prefix}{i}" for i in range(6)] for prefix in ("red", "blue", "green", "gold")]


def _write_cluster_corpus(path, sentences=1200, length=8, seed=0):
    """Each line: `length` words drawn from one cluster (chosen at random), so that a word's contexts are
    always the other words of its own cluster."""
    rng = random.Random(seed)
    lines = [" ".join(rng.choices(rng.choice(CLUSTERS), k=length)) for _ in range(sentences)]
    path.write_text("\n".join(lines) + "\n")
    return path


# Settings for a corpus of a few thousand words: every word kept (the subsampling of 1e-3 would drop most of
# a 24-word vocabulary), small vectors, a few epochs.
SMALL = [
    "tokenizer.min_frequency=1",
    "data.document_boundary=row",
    "training.save_steps=100000",
    "training.logging_steps=20",
]
RECIPES = {
    "word2vec_skipgram": (
        "word2vec_offline",
        ["model.config.vector_size=16", "model.config.window=3", "model.config.sample=0",
         "objective.block_size=200", "training.num_train_epochs=4"],
    ),
    "word2vec_cbow": (
        "word2vec_offline",
        ["variant=cbow", "model.config.vector_size=16", "model.config.window=3", "model.config.sample=0",
         "objective.block_size=200", "training.num_train_epochs=4"],
    ),
    # A vocabulary of a dozen words repeats each n-gram row dozens of times in a block, each time with the whole
    # gradient of its word (as fastText updates it): the summed step needs a lower rate than the recipe's.
    "fasttext": (
        "fasttext_offline",
        ["model.config.vector_size=16", "model.config.window=3", "model.config.sample=0",
         "model.config.bucket=5000", "objective.block_size=200", "training.num_train_epochs=4",
         "training.learning_rate=0.01"],
    ),
    "glove": (
        "glove_offline",
        ["model.config.vector_size=16", "model.config.x_max=10", "objective.window=3",
         "objective.entries_per_example=64", "training.num_train_epochs=40"],
    ),
}  # fmt: skip


def _train(recipe, overrides, corpus, out):
    train = [f"data.local={{train: {corpus.name}}}", *SMALL, *overrides]
    return pretrain.run(recipe, train, data_dir=str(corpus.parent), output_dir=str(out))


def _cluster_of(word):
    return next(index for index, cluster in enumerate(CLUSTERS) if word in cluster)


@pytest.fixture(scope="module")
def cluster_corpus(tmp_path_factory):
    return _write_cluster_corpus(tmp_path_factory.mktemp("clusters") / "corpus.txt")


@pytest.fixture(scope="module")
def word2vec_run(cluster_corpus, tmp_path_factory):
    recipe, overrides = RECIPES["word2vec_skipgram"]
    out = tmp_path_factory.mktemp("runs") / "word2vec"
    return _train(recipe, overrides, cluster_corpus, out), out


@pytest.mark.parametrize("name", RECIPES)
def test_planted_clusters_become_nearest_neighbours(name, cluster_corpus, word2vec_run, tmp_path):
    if name == "word2vec_skipgram":
        metrics, out = word2vec_run
    else:
        recipe, overrides = RECIPES[name]
        out = tmp_path / name
        metrics = _train(recipe, overrides, cluster_corpus, out)
    vectors = WordVectors.from_pretrained(str(out))
    assert sorted(vectors.words) == sorted(word for cluster in CLUSTERS for word in cluster)
    same = [
        np.mean([_cluster_of(other) == _cluster_of(word) for other, _ in vectors.neighbours(word, 5)])
        for word in vectors.words
    ]
    assert np.mean(same) >= 0.9, f"{name}: share of same-cluster neighbours {np.mean(same):.2f}"
    unit = metrics.get("train_words_per_second", metrics.get("train_entries_per_second"))
    assert unit and unit > 0
    assert (out / "neighbours.txt").is_file() and (out / "loss.png").is_file()


def _write_inflection_corpus(path, families, contexts, sentences=1500, seed=0):
    """Lines of one family's forms mixed with that family's context words."""
    rng = random.Random(seed)
    lines = []
    for _ in range(sentences):
        family = rng.randrange(len(families))
        words = rng.choices(families[family], k=3) + rng.choices(contexts[family], k=4)
        rng.shuffle(words)
        lines.append(" ".join(words))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "language, families, contexts, unseen, extra",
    [
        (
            "english",
            [["jump", "jumping", "jumped", "jumper"], ["swim", "swimming", "swimmer", "swam"],
             ["read", "reading", "reader", "reread"]],
            [["high", "fence", "hop", "leap"], ["pool", "water", "lake", "sea"],
             ["book", "page", "letter", "novel"]],
            {"jumps": 0, "swims": 1, "reads": 2, "jumpin": 0},
            [],
        ),
        (
            "korean",
            [["먹다", "먹고", "먹어", "먹었다"], ["가다", "가고", "가서", "갔다"], ["보다", "보고", "봐서", "봤다"]],
            [["밥", "빵", "음식", "식당"], ["학교", "집", "길", "버스"], ["영화", "책", "그림", "사진"]],
            {"먹으면": 0, "먹는": 0, "가면": 1, "보면": 2},
            ["model.config.korean_jamo=true"],
        ),
    ],
    ids=["english", "korean"],
)  # fmt: skip
def test_fasttext_gives_unseen_words_the_vectors_of_their_relatives(
    language, families, contexts, unseen, extra, tmp_path
):
    corpus = _write_inflection_corpus(tmp_path / "corpus.txt", families, contexts)
    recipe, overrides = RECIPES["fasttext"]
    out = tmp_path / "fasttext"
    _train(recipe, [*overrides, "training.num_train_epochs=6", *extra], corpus, out)
    vectors = WordVectors.from_pretrained(str(out))
    forms = [form for forms in families for form in forms]
    known = torch.nn.functional.normalize(torch.stack([vectors.vector(form) for form in forms]), dim=1)
    for word, family in unseen.items():
        assert word not in vectors
        cosines = known @ torch.nn.functional.normalize(vectors.vector(word), dim=0)
        nearest = forms[int(cosines.argmax())]  # of the forms of every family, the closest
        assert nearest in families[family], f"{word}: {dict(zip(forms, cosines.tolist()))}"


def test_reload_through_auto_classes_and_remote_code_gives_the_same_vectors(word2vec_run, tmp_path):
    _, out = word2vec_run
    text = "red1 blue2 unknownword GOLD3"
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    model = transformers.AutoModel.from_pretrained(out).eval()
    inputs = tokenizer(text, return_tensors="pt")
    assert inputs["input_ids"][0].tolist()[-1] == tokenizer.convert_tokens_to_ids("gold3")  # lowercased
    with torch.no_grad():
        vectors = model(**inputs).last_hidden_state[0]
    torch.testing.assert_close(vectors[0], WordVectors.from_pretrained(str(out)).vector("red1"))
    result = run_without_hf_recipes(
        f"""
        import json, torch, transformers
        tokenizer = transformers.AutoTokenizer.from_pretrained({str(out)!r}, trust_remote_code=True)
        model = transformers.AutoModel.from_pretrained({str(out)!r}, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        with torch.no_grad():
            out = model(**tokenizer({text!r}, return_tensors="pt")).last_hidden_state[0]
        print(json.dumps({{"vectors": out.tolist(), "table": model.get_input_embeddings().weight.tolist()}}))
        """,
        cwd=tmp_path,
    )
    torch.testing.assert_close(torch.tensor(result["vectors"]), vectors, rtol=0, atol=0)
    torch.testing.assert_close(torch.tensor(result["table"]), model.get_input_embeddings().weight.detach())


def test_export_and_import_round_trip_exactly_in_both_formats(word2vec_run, tmp_path):
    _, out = word2vec_run
    vectors = WordVectors.from_pretrained(str(out))
    for binary, name in ((False, "vectors.vec"), (True, "vectors.bin")):
        path = write_vectors(tmp_path / name, vectors.words, vectors.vectors.numpy(), binary=binary)
        words, values = read_vectors(path)
        assert words == vectors.words
        assert np.array_equal(values, vectors.vectors.numpy())  # bit for bit, text included
        imported = WordVectors.from_pretrained(
            str(WordVectors(words, torch.from_numpy(values)).save_pretrained(tmp_path / f"model_{binary}"))
        )
        assert imported.words == vectors.words and torch.equal(imported.vectors, vectors.vectors)
    # the binary layout word2vec.c and gensim read: header line, then `word<space><D little-endian float32>`
    raw = (tmp_path / "vectors.bin").read_bytes()
    header = f"{len(vectors.words)} {vectors.vectors.shape[1]}\n".encode()
    first = vectors.words[0].encode() + b" " + vectors.vectors[0].numpy().astype("<f4").tobytes()
    assert raw.startswith(header + first)
    # GloVe's text files have no header line
    glove = tmp_path / "glove.txt"
    glove.write_text("the 0.5 -1.25\nof 2 3e-2\n")
    words, values = read_vectors(glove)
    assert words == ["the", "of"] and np.array_equal(values, np.array([[0.5, -1.25], [2, 0.03]], "f4"))


def test_vector_files_gensim_reads_and_writes_load_unchanged(word2vec_run, tmp_path):
    gensim_models = pytest.importorskip("gensim.models", reason="gensim is a benchmark-only extra")
    _, out = word2vec_run
    vectors = WordVectors.from_pretrained(str(out))
    for binary in (False, True):
        path = write_vectors(tmp_path / f"ours_{binary}", vectors.words, vectors.vectors.numpy(), binary)
        keyed = gensim_models.KeyedVectors.load_word2vec_format(str(path), binary=binary)
        assert keyed.index_to_key == vectors.words and np.array_equal(keyed.vectors, vectors.vectors.numpy())
        keyed.save_word2vec_format(str(tmp_path / f"gensim_{binary}"), binary=binary)
        words, values = read_vectors(tmp_path / f"gensim_{binary}")
        assert words == vectors.words and np.array_equal(values, vectors.vectors.numpy())


def test_bad_vector_files_are_one_line_errors(tmp_path):
    cases = {
        "short.vec": ("3 2\na 1 2\nb 1 2\n", "2 vectors, the header announces 3"),
        "ragged.txt": ("a 1 2\nb 1\n", "line 2 has 1 values, expected 2"),
        "words.txt": ("a 1 x\n", "not a number"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(UserError, match=message):
            read_vectors(tmp_path / name)
    (tmp_path / "cut.bin").write_bytes(b"2 2\na " + np.ones(2, "<f4").tobytes() + b"\nb \x00")
    with pytest.raises(UserError, match="ends after 1 of the 2 vectors"):
        read_vectors(tmp_path / "cut.bin", binary=True)


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "hf_recipes", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_cli_verbs_neighbours_analogy_project_export_import(word2vec_run, tmp_path):
    _, out = word2vec_run
    result = _cli("neighbours", str(out), "red1", "--top", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = [line.split()[1] for line in result.stdout.splitlines()[1:]]
    assert len(listed) == 3 and all(word.startswith("red") for word in listed)
    result = _cli("analogy", str(out), "red1", "red2", "blue1", "--method", "mul", cwd=tmp_path)
    assert result.returncode == 0 and "3CosMul" in result.stdout, result.stderr
    questions = tmp_path / "questions.txt"
    questions.write_text(": clusters\nred1 red2 blue1 blue2\nred1 red2 nosuch word\n")
    result = _cli("analogy", str(out), "--file", str(questions), cwd=tmp_path)
    report = json.loads(result.stdout)
    assert report["analogy_questions"] == 1 and report["analogy_total"] == 2
    result = _cli("project", str(out), "red1", "red2", "blue1", "gold1", "--output", "map.png", cwd=tmp_path)
    assert result.returncode == 0 and (tmp_path / "map.png").stat().st_size > 1000, result.stderr
    result = _cli("export-vectors", str(out), "v.bin", "--binary", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    result = _cli("import-vectors", "v.bin", "imported", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    result = _cli("neighbours", "imported", "red1", "--top", "3", cwd=tmp_path)
    assert [line.split()[1] for line in result.stdout.splitlines()[1:]] == listed
    result = _cli("neighbours", str(out), "nosuchword", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.strip() == "error: 'nosuchword' is not in the vocabulary"


def _write_classification_files(folder, seed=0):
    """red/blue sentences are label `warm`/`cool`: a classifier learns it from the word vectors alone."""
    rng = random.Random(seed)
    for name, size in (("train.csv", 240), ("validation.csv", 60)):
        rows = ["text,label"]
        for _ in range(size):
            label = rng.randrange(2)
            rows.append(f"{' '.join(rng.choices(CLUSTERS[label], k=5))},{('warm', 'cool')[label]}")
        (folder / name).write_text("\n".join(rows) + "\n")


FEATURE_BASED = [
    "model={type: hfr_rnn, config: {cell: gru, embedding_size: 16, hidden_size: 16, num_hidden_layers: 1}}",
    "training.max_steps=30",
    "training.learning_rate=0.01",
    "training.warmup_steps=0",
    "training.eval_strategy=no",
    "training.save_strategy=no",
    "training.load_best_model_at_end=false",
]


def test_feature_based_transfer_starts_a_classifier_from_the_vectors(word2vec_run, tmp_path):
    _, vectors_dir = word2vec_run
    _write_classification_files(tmp_path)
    out = tmp_path / "classifier"
    overrides = [
        *FEATURE_BASED,
        f"tokenizer={{name_or_path: {vectors_dir}}}",
        f"model.embeddings_from={vectors_dir}",
        "model.freeze_embeddings=true",
    ]
    metrics = finetune.run("custom", overrides, data_dir=str(tmp_path), output_dir=str(out))
    assert metrics["embeddings_coverage"] == 1.0 and metrics["embeddings_frozen"] is True
    assert metrics["eval_accuracy"] >= 0.9
    model = transformers.AutoModelForSequenceClassification.from_pretrained(out)
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    vectors = WordVectors.from_pretrained(str(vectors_dir))
    for word in ("red1", "gold5"):
        row = model.get_input_embeddings().weight[tokenizer.convert_tokens_to_ids(word)]
        assert torch.equal(row.detach(), vectors.vector(word))  # frozen: exactly the vectors


def test_feature_based_transfer_reports_coverage_and_refuses_what_cannot_work(word2vec_run, tmp_path):
    _, vectors_dir = word2vec_run
    _write_classification_files(tmp_path)
    # a tokenizer trained on the task: words the vectors lack get the mean vector
    overrides = [*FEATURE_BASED, "tokenizer={train: wordpiece, vocab_size: 60, lowercase: true}",
                 f"model.embeddings_from={vectors_dir}"]  # fmt: skip
    metrics = finetune.run("custom", overrides, data_dir=str(tmp_path), output_dir=str(tmp_path / "a"))
    assert 0 < metrics["embeddings_coverage"] < 1 and metrics["embeddings_mean_vector"] > 0
    assert metrics["embeddings_frozen"] is False
    with pytest.raises(UserError, match="vectors of 16 dimensions, but the model's input embeddings have 32"):
        wide = [o.replace("embedding_size: 16", "embedding_size: 32") for o in overrides]
        finetune.run("custom", wide, data_dir=str(tmp_path), output_dir=str(tmp_path / "b"))
    assert not (tmp_path / "b").exists()
    with pytest.raises(UserError, match="freeze_embeddings: needs model.embeddings_from"):
        finetune.run("custom", [*FEATURE_BASED[:1], "model.freeze_embeddings=true"], data_dir=str(tmp_path))
    with pytest.raises(UserError, match="would overwrite the pretrained embeddings"):
        finetune.run("custom", [f"model.embeddings_from={vectors_dir}"], model=str(vectors_dir))


@pytest.mark.parametrize("sparse", [True, False], ids=["sparse", "dense"])
def test_two_cpu_processes_under_accelerate_launch_train_word2vec(sparse, cluster_corpus, tmp_path):
    accelerate = os.path.join(os.path.dirname(sys.executable), "accelerate")
    if not os.path.exists(accelerate):
        pytest.skip("accelerate CLI not installed")
    recipe, overrides = RECIPES["word2vec_skipgram"]
    out = tmp_path / "ddp"
    command = [
        accelerate, "launch", "--config_file", str(RECIPES_DIR / "accelerate" / "cpu_2proc.yaml"),
        "-m", "hf_recipes", "pretrain", recipe, "--data-dir", str(cluster_corpus.parent),
        "--output-dir", str(out), f"data.local={{train: {cluster_corpus.name}}}", *SMALL, *overrides,
        f"model.config.sparse={str(sparse).lower()}", "training.num_train_epochs=2",
    ]  # fmt: skip
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epoch"] == pytest.approx(2.0)
    vectors = WordVectors.from_pretrained(str(out))
    same = [_cluster_of(vectors.neighbours(word, 1)[0][0]) == _cluster_of(word) for word in vectors.words]
    assert np.mean(same) >= 0.75
