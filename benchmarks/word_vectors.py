"""The word-vector benchmark of `make bench` (`--only word_vectors`): our word2vec (skip-gram, CBOW), FastText
and GloVe recipes against gensim's Word2Vec and FastText, on the same corpus and machine, in one run.

The corpus is word2vec_offline's (the pooled offline English text), split into words exactly as our word
tokenizer splits them (NFC, lowercase, runs of word characters / punctuation), one sentence per line: gensim
trains on that file, we on the recipe. Same hyperparameters: 100 dimensions, window 5, 5 noise words, min_count
5, subsampling 1e-3, 5 epochs (FastText: n-grams 3-6 in 200k buckets; GloVe: its recipe). gensim gets as many
worker threads as the machine has cores; torch uses as many threads.

For each run: training seconds (gensim's `train()`, our Trainer's train_runtime) and the words/s they give,
counting every word of the corpus once per epoch for both (gensim's "raw words"); this machine's speed drifts
between runs (up to 1.5x on the 2-core VM it was written on), so gensim runs before AND after each of ours and
`speed_vs_gensim` divides our words/s by the mean of those two; wall seconds of the whole
command (vocabulary, data preparation, saving); peak resident memory of its process; then, by the same code
(hf_recipes.word_vectors) for every model: analogy accuracy on questions-words.txt (3CosAdd, the 30,000 most
frequent words, gensim's restrict_vocab convention), Spearman's rho on WordSim-353 and SimLex-999, and the
mean top-10 neighbour overlap with gensim's model of the same kind for the 200 most frequent words; gensim
trained again with another seed gives that overlap's noise floor. The evaluation sets are gensim's
(gensim/test/test_data in the installed wheel), so this benchmark needs `pip install gensim`.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 5
GENSIM_SETTINGS = dict(vector_size=100, window=5, negative=5, min_count=5, sample=1e-3, epochs=EPOCHS)
BUCKET = 200_000  # fasttext_offline's


def _measured(command: list[str], cwd: Path) -> tuple[float, float, str]:
    """Run `command`; (wall seconds, peak RSS in MiB of its process tree's largest process, stdout)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        out.seek(0)
        text = out.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{shlex.join(command)} failed:\n{text[-2000:]}")
    return wall, usage.ru_maxrss / 1024, text


def _corpus(data_dir: str, work: Path) -> tuple[Path, int]:
    """word2vec_offline's documents, one line a sentence of words as our word tokenizer splits them."""
    from hf_recipes.config import PretrainRecipe
    from hf_recipes.data.loading import load_documents
    from hf_recipes.data.tokenization import train_tokenizer
    from hf_recipes.resolve import resolve

    recipe = resolve(PretrainRecipe, "word2vec_offline", [], data_dir=data_dir).recipe
    documents = load_documents(recipe.data, recipe.data_dir)["train"]
    backend = train_tokenizer(["x"], "word", 10, lowercase=True).backend_tokenizer
    path, words = work / "corpus.txt", 0
    with path.open("w", encoding="utf-8") as file:
        for text in documents["text"]:
            for line in text.split("\n"):
                tokens = [
                    w
                    for w, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(line))
                ]
                if tokens:
                    file.write(" ".join(tokens) + "\n")
                    words += len(tokens)
    return path, words


def _gensim(corpus: Path, kind: str, seed: int, output: Path) -> None:
    """In a subprocess: train gensim's model, save its vectors (word2vec binary), print the seconds."""
    import multiprocessing

    from gensim.models import FastText, Word2Vec
    from gensim.models.word2vec import LineSentence

    sentences = list(LineSentence(str(corpus)))
    settings = dict(GENSIM_SETTINGS, workers=multiprocessing.cpu_count(), seed=seed, sg=int(kind != "cbow"))
    if kind == "fasttext":
        model = FastText(min_n=3, max_n=6, bucket=BUCKET, **settings)
    else:
        model = Word2Vec(**settings)
    model.build_vocab(sentences)
    start = time.perf_counter()
    model.train(sentences, total_examples=model.corpus_count, epochs=EPOCHS)
    seconds = time.perf_counter() - start
    model.wv.save_word2vec_format(str(output), binary=True)
    print(json.dumps({"train_seconds": seconds}))


def _ours(recipe: str, overrides: list[str], data_dir: str, out: Path, device: str):
    command = [sys.executable, "-m", "hf_recipes", "pretrain", recipe, "--data-dir", data_dir, "--output-dir",
               str(out), *overrides, *(["training.use_cpu=true"] if device == "cpu" else [])]  # fmt: skip
    wall, memory, _ = _measured(command, ROOT)
    metrics = json.loads((out / "metrics.json").read_text())
    shown = shlex.join(["hf-recipes", "pretrain", recipe, "--data-dir", data_dir, *overrides])
    return wall, memory, metrics, shown


def _quality(vectors, reference=None) -> dict:
    from gensim.test.utils import datapath

    row = {
        "analogy": round(
            vectors.evaluate_analogies(datapath("questions-words.txt"), 30000)["analogy_accuracy"], 4
        ),
        "ws353": round(vectors.evaluate_similarity(datapath("wordsim353.tsv"))["spearman"], 4),
        "simlex999": round(vectors.evaluate_similarity(datapath("simlex999.txt"))["spearman"], 4),
    }
    if reference is not None:
        row["top10_overlap"] = round(neighbour_overlap(vectors, reference), 3)
    return row


def neighbour_overlap(ours, theirs, words: int = 200, top: int = 10) -> float:
    """Mean share of common words among the `top` neighbours of the `words` most frequent words of both."""
    common = [word for word in theirs.words if word in ours][:words]
    shares = []
    for word in common:
        mine = {w for w, _ in ours.neighbours(word, top)}
        shares.append(len(mine & {w for w, _ in theirs.neighbours(word, top)}) / top)
    return sum(shares) / max(len(shares), 1)


def run(args) -> list[dict]:
    import torch

    from hf_recipes.data.vector_files import read_vectors
    from hf_recipes.word_vectors import WordVectors

    work = Path(tempfile.mkdtemp(prefix="bench-word-vectors-"))
    corpus, words = _corpus(args.data_dir, work)
    print(f"word_vectors: corpus {corpus} ({words:,} words), work in {work}", flush=True)
    gensim_vectors, rows = {}, []

    def gensim_row(kind: str, seed: int) -> dict:
        output = work / f"gensim-{kind}-{seed}.bin"
        command = [sys.executable, __file__, "gensim", str(corpus), kind, str(seed), str(output)]
        wall, memory, text = _measured(command, ROOT)
        seconds = json.loads(text.strip().splitlines()[-1])["train_seconds"]
        names, values = read_vectors(output)
        vectors = WordVectors(names, torch.from_numpy(values))
        row = {"model": f"gensim {kind}", "seed": seed, **_timing(words, seconds, wall, memory)}
        if seed == 1:
            gensim_vectors[kind] = vectors
            row.update(_quality(vectors))
        else:  # the noise floor: gensim against itself
            row.update(_quality(vectors, gensim_vectors[kind]))
        row["command"] = f"gensim {kind} (benchmarks/word_vectors.py)"
        return row

    ours = {
        "skipgram": ("word2vec_offline", []),
        "cbow": ("word2vec_offline", ["variant=cbow"]),
        "fasttext": ("fasttext_offline", []),
        "glove": ("glove_offline", []),
    }
    for kind, (recipe, overrides) in ours.items():
        if kind not in args.word_vectors:
            continue
        if kind != "glove":
            rows.append(gensim_row(kind, 1))
            print(json.dumps(rows[-1]), flush=True)
        out = work / f"ours-{kind}"
        overrides = [*overrides, *getattr(args, "override", [])]
        wall, memory, metrics, command = _ours(recipe, overrides, args.data_dir, out, args.device)
        vectors = WordVectors.from_pretrained(str(out))
        row = {"model": f"hf_recipes {kind} ({args.device})", "seed": 1}
        row.update(_timing(words, metrics["train_runtime"], wall, memory))
        if kind == "glove":  # 15 epochs over co-occurrence entries, not 5 over the text
            row["words_per_second"] = f"{metrics['train_entries_per_second']:,} entries/s"
        row.update(_quality(vectors, gensim_vectors.get(kind)))
        row["command"] = command
        if kind != "glove":  # gensim again (seed 2) right after ours: the speed ratio takes both gensim runs
            second = gensim_row(kind, 2)
            speeds = [r["words_per_second"] for r in (rows[-1], second)]
            row["speed_vs_gensim"] = round(row["words_per_second"] / (sum(speeds) / 2), 2)
            rows.append(row)
            rows.append(second)
        else:
            rows.append(row)
        for printed in rows[-2 if kind != "glove" else -1 :]:
            print(json.dumps(printed), flush=True)
    return rows


def _timing(words: int, seconds: float, wall: float, memory: float) -> dict:
    return {
        "words_per_second": round(words * EPOCHS / seconds),
        "train_seconds": round(seconds, 1),
        "wall_seconds": round(wall, 1),
        "peak_memory_mib": round(memory),
    }


if __name__ == "__main__":  # the gensim side, run in its own process
    _, verb, corpus_path, model_kind, model_seed, vectors_path = sys.argv
    assert verb == "gensim"
    _gensim(Path(corpus_path), model_kind, int(model_seed), Path(vectors_path))
