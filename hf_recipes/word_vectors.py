"""Using and judging word vectors: nearest neighbours, analogies (3CosAdd and 3CosMul), word-similarity and
analogy benchmarks, and a 2-D map of chosen words.

`WordVectors` holds a vocabulary and its vectors, from any of our embedding models (word2vec, FastText, GloVe:
`WordVectors.from_pretrained(dir)`, tokenizer + model as saved) or a word2vec-format file
(hf_recipes.data.vector_files); a FastText model also gives vectors to words outside its vocabulary, from their
character n-grams. Everything is matrix arithmetic over the unit-normalised vectors (torch), as gensim's
KeyedVectors does it:

    most_similar(w)        cos(w, x) over the vocabulary
    analogy a : b :: c : ? 3CosAdd (Mikolov et al. 2013): argmax cos(x, b − a + c)
                           3CosMul (Levy & Goldberg 2014): argmax cos'(x,b)·cos'(x,c) / (cos'(x,a) + ε),
                           cos' = (1 + cos)/2, the question words excluded
    evaluate_analogies     accuracy on questions-words.txt-style files, restricted (as gensim's
                           restrict_vocab) to the most frequent words; questions with a word outside are skipped
    evaluate_similarity    Spearman's ρ (and Pearson's r) with human scores (WordSim-353, SimLex-999), pairs
                           with a word outside skipped
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import UserError


@dataclass
class WordVectors:
    """Words (in the order of their ids: the most frequent first for our tokenizers) and their vectors."""

    words: list[str]
    vectors: torch.Tensor  # (len(words), dim)
    model: object | None = None  # a FastText model, for words outside the vocabulary
    index: dict[str, int] = field(init=False)

    def __post_init__(self):
        self.vectors = self.vectors.detach().float().cpu()
        self.index = {}
        for i, word in enumerate(self.words):
            self.index.setdefault(word, i)  # a word listed twice: its first vector, as tokenizers do
        self.unit = torch.nn.functional.normalize(self.vectors, dim=1)

    @classmethod
    def load(cls, name: str | Path, trust_remote_code: bool = False) -> WordVectors:
        """A word-vector file (word2vec text/binary, GloVe text: see hf_recipes.data.vector_files), or else a
        saved embedding model (`from_pretrained`)."""
        if Path(name).expanduser().is_file():
            from .data.vector_files import read_vectors

            words, vectors = read_vectors(Path(name).expanduser())
            return cls(words, torch.from_numpy(vectors))
        return cls.from_pretrained(str(name), trust_remote_code=trust_remote_code)

    @classmethod
    def from_pretrained(cls, name: str, trust_remote_code: bool = False) -> WordVectors:
        """The vectors of a saved embedding model (word2vec, FastText, GloVe: any AutoModel whose
        `get_input_embeddings()` is its word vectors) and the words of its tokenizer; special tokens left out."""
        import transformers

        import hf_recipes  # noqa: F401  (our model types, registered with the AutoClasses)

        from .checkpoints import load_model, load_tokenizer

        model = load_model(transformers.AutoModel, name, trust_remote_code=trust_remote_code).eval()
        return cls.from_model(model, load_tokenizer(name, trust_remote_code=trust_remote_code), name)

    def save_pretrained(self, output_dir: str | Path, lowercase: bool | None = None) -> Path:
        """These vectors as a word2vec model directory (`hfr_word2vec`: config, weights, code, and a word
        tokenizer of these words) that AutoModel/AutoTokenizer load; `lowercase` (default: when no word has an
        uppercase letter) makes the tokenizer lowercase text first. The directory appears whole or not at all.
        The output vectors and word counts of the model are empty: it serves its vectors, it is not a run to
        resume."""
        import shutil

        from .data.tokenization import word_tokenizer
        from .models.word2vec import HfrWord2VecConfig, HfrWord2VecModel

        output_dir = Path(output_dir)
        if output_dir.exists() and any(output_dir.iterdir()):
            raise UserError(f"{output_dir}: exists and is not empty; choose a new directory")
        if lowercase is None:
            lowercase = all(word == word.lower() for word in self.words)
        tokenizer = word_tokenizer(self.words, lowercase)
        config = HfrWord2VecConfig(
            vocab_size=len(tokenizer),
            vector_size=self.vectors.shape[1],
            pad_token_id=tokenizer.pad_token_id,
            unk_token_id=tokenizer.unk_token_id,
        )
        model = HfrWord2VecModel(config)
        with torch.no_grad():
            model.embed.weight.zero_()
            ids = torch.tensor([tokenizer.convert_tokens_to_ids(word) for word in self.words])
            first = torch.tensor([self.index[word] == row for row, word in enumerate(self.words)])
            model.embed.weight[ids[first]] = self.vectors[first]  # a word given twice: its first vector
        partial = output_dir.with_name(f".{output_dir.name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        if output_dir.exists():
            output_dir.rmdir()
        partial.rename(output_dir)
        return output_dir

    @classmethod
    def from_model(cls, model, tokenizer, name: str = "the model") -> WordVectors:
        """The vectors of an embedding model (`get_input_embeddings()`) for the words of its tokenizer."""
        vectors = model.get_input_embeddings().weight.detach()
        kept = tokenizer_words(tokenizer, vectors.shape[0])
        if not kept:
            raise UserError(f"{name}: the tokenizer has no words to give vectors for")
        words, ids = zip(*kept)
        subwords = model if hasattr(model, "word_vector") else None
        return cls(list(words), vectors[list(ids)], subwords)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def vector(self, word: str) -> torch.Tensor:
        """The vector of `word`: its own, else (FastText) the mean of its character n-grams' vectors."""
        if word in self.index:
            return self.vectors[self.index[word]]
        if self.model is not None:
            vector = self.model.word_vector(word).detach().float().cpu()
            if bool(vector.any()):
                return vector
        raise UserError(
            f"{word!r} is not in the vocabulary" + ("" if self.model is None else " and has no n-gram")
        )

    def most_similar(
        self, query: torch.Tensor, top: int = 10, exclude: set[str] = frozenset()
    ) -> list[tuple[str, float]]:
        """The `top` words whose vectors have the highest cosine with `query`, but the `exclude`d."""
        scores = self.unit @ torch.nn.functional.normalize(query.float(), dim=0)
        for word in exclude:
            if word in self.index:
                scores[self.index[word]] = -float("inf")
        best = torch.topk(scores, min(top, len(self.words)))
        return [(self.words[i], float(s)) for s, i in zip(best.values, best.indices)]

    def neighbours(self, word: str, top: int = 10) -> list[tuple[str, float]]:
        return self.most_similar(self.vector(word), top, exclude={word})

    def analogy(self, a: str, b: str, c: str, top: int = 5, method: str = "add") -> list[tuple[str, float]]:
        """a : b :: c : ? (man : king :: woman : queen), by 3CosAdd (`add`) or 3CosMul (`mul`)."""
        va, vb, vc = (torch.nn.functional.normalize(self.vector(w), dim=0) for w in (a, b, c))
        if method == "add":
            return self.most_similar(vb - va + vc, top, exclude={a, b, c})
        if method != "mul":
            raise UserError(f"--method {method!r}: expected add (3CosAdd) or mul (3CosMul)")
        scores = _cos_mul(self.unit, va[None], vb[None], vc[None])[0]
        for word in (a, b, c):
            if word in self.index:
                scores[self.index[word]] = -float("inf")
        best = torch.topk(scores, min(top, len(self.words)))
        return [(self.words[i], float(s)) for s, i in zip(best.values, best.indices)]

    def evaluate_analogies(self, path: str | Path, restrict_vocab: int = 30000, method: str = "add") -> dict:
        """Accuracy on a questions-words.txt file (`: section` lines, then `a b c d` per question; case folded),
        over the questions whose four words are among the `restrict_vocab` most frequent; all at once."""
        words = self.words[:restrict_vocab]
        known = {w.lower(): i for i, w in enumerate(words)}
        questions = []
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            parts = line.lower().split()
            if len(parts) == 4 and not line.startswith(":"):
                questions.append(parts)
        usable = [[known[w] for w in q] for q in questions if all(w in known for w in q)]
        if not usable:
            return {"analogy_accuracy": 0.0, "analogy_questions": 0, "analogy_total": len(questions)}
        unit = self.unit[: len(words)]
        correct = 0
        ids = torch.tensor(usable)
        for start in range(0, len(ids), 1024):
            batch = ids[start : start + 1024]
            a, b, c, d = (unit[batch[:, k]] for k in range(4))
            scores = (
                (b - a + c) @ unit.T if method == "add" else _cos_mul(unit, a, b, c)
            )  # (questions, words)
            for k in range(3):
                scores.scatter_(1, batch[:, k : k + 1], -float("inf"))
            correct += int((scores.argmax(1) == batch[:, 3]).sum())
        return {
            "analogy_accuracy": correct / len(usable),
            "analogy_questions": len(usable),
            "analogy_total": len(questions),
        }

    def evaluate_similarity(self, path: str | Path) -> dict:
        """Spearman's ρ and Pearson's r between the cosines and human scores (`word1 word2 score` lines, tab or
        space separated, `#` comments; case folded); pairs with a word outside the vocabulary are skipped."""
        from scipy.stats import pearsonr, spearmanr

        known = {w.lower(): i for i, w in enumerate(self.words)}
        ours, theirs, total = [], [], 0
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            parts = line.lower().replace("\t", " ").split()
            if line.startswith("#") or len(parts) < 3:
                continue
            try:
                score = float(parts[2])
            except ValueError:
                continue
            total += 1
            if parts[0] in known and parts[1] in known:
                ours.append(float(self.unit[known[parts[0]]] @ self.unit[known[parts[1]]]))
                theirs.append(score)
        if len(ours) < 3:
            return {
                "spearman": float("nan"),
                "pearson": float("nan"),
                "pairs": len(ours),
                "pairs_total": total,
            }
        return {
            "spearman": float(spearmanr(ours, theirs).statistic),
            "pearson": float(pearsonr(ours, theirs).statistic),
            "pairs": len(ours),
            "pairs_total": total,
        }


def _cos_mul(unit: torch.Tensor, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """3CosMul scores of every vocabulary word for each question row: (questions, vocabulary)."""
    shift = lambda query: (1 + query @ unit.T) / 2  # noqa: E731  (cosines moved to [0, 1])
    return shift(b) * shift(c) / (shift(a) + 1e-3)


def projection(vectors: torch.Tensor, method: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D coordinates of the rows of `vectors`: PCA (their two main directions), or t-SNE (scikit-learn)."""
    data = vectors.detach().float().cpu().numpy()
    if method == "pca":
        centred = data - data.mean(0)
        _, _, components = np.linalg.svd(centred, full_matrices=False)
        return centred @ components[:2].T
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = max(2.0, min(30.0, (len(data) - 1) / 3))
        return TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(data)
    raise UserError(f"--method {method!r}: expected pca or tsne")


def describe(vectors: WordVectors, probes: list[str], out: Path, title: str, top: int = 8) -> dict:
    """neighbours.txt (the `top` nearest words of each probe word the vocabulary has) and projection.png (the
    probes on a PCA map) in `out`; returns how many probes the vocabulary has."""
    from .plots import plot_word_map

    found = [word for word in probes if word in vectors]
    lines = [
        f"{word}: " + ", ".join(f"{other} ({score:.2f})" for other, score in vectors.neighbours(word, top))
        for word in found
    ]
    (out / "neighbours.txt").write_text(
        "\n".join(lines) + "\n" if lines else "no probe word is in the vocabulary\n"
    )
    if len(found) >= 3:
        points = projection(torch.stack([vectors.vector(word) for word in found]))
        plot_word_map(points, found, out / "projection.png", title)
    return {"probe_words_found": len(found)}


# --- feature-based transfer ----------------------------------------------------------------------------------

# Marks that tokenizers put on a token to say where it stands in a word: WordPiece's continuation, byte-level
# BPE's and SentencePiece's leading space.
_TOKEN_MARKS = ("##", "Ġ", "▁")


def tokenizer_words(tokenizer, rows: int) -> list[tuple[str, int]]:
    """(token, id) of every token of `tokenizer` but its special ones, in id order, for the ids below `rows`
    (the rows of an embedding table)."""
    special = set(tokenizer.all_special_ids)
    vocabulary = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    return [(token, index) for token, index in vocabulary if index not in special and index < rows]


def token_word(token: str) -> str:
    """The text of a vocabulary token as a word: without its tokenizer's position marks."""
    for mark in _TOKEN_MARKS:
        if token.startswith(mark) and len(token) > len(mark):
            return token[len(mark) :]
    return token


def initialise_embeddings(model, tokenizer, vectors: WordVectors, freeze: bool = False) -> dict:
    """Feature-based transfer: every row of `model`'s input embeddings becomes the vector of its token's word
    (`token_word`; as written, else lowercased): its own vector, else (FastText) its n-grams', else the mean
    vector. Special tokens keep their rows. `freeze` stops the embeddings from training. Returns the coverage:
    the share of tokens found as words, from n-grams, and given the mean."""
    embedding = model.get_input_embeddings()
    if embedding.weight.shape[1] != vectors.vectors.shape[1]:
        raise UserError(
            f"model.embeddings_from: vectors of {vectors.vectors.shape[1]} dimensions, but the model's input "
            f"embeddings have {embedding.weight.shape[1]}: train vectors of that size or set the model's "
            "embedding size to theirs"
        )
    rows, words = [], []
    for token, index in tokenizer_words(tokenizer, embedding.weight.shape[0]):
        rows.append(index)
        words.append(token_word(token))
    found, from_ngrams, mean = 0, 0, vectors.vectors.mean(0)
    values = torch.empty(len(rows), vectors.vectors.shape[1])
    for position, word in enumerate(words):
        known = word if word in vectors.index else word.lower()
        if known in vectors.index:
            values[position] = vectors.vectors[vectors.index[known]]
            found += 1
            continue
        ngram = vectors.model.word_vector(word).float().cpu() if vectors.model is not None else None
        if ngram is not None and bool(ngram.any()):
            values[position] = ngram
            from_ngrams += 1
        else:
            values[position] = mean
    matrix = embedding.weight.detach().clone()
    matrix[torch.tensor(rows, dtype=torch.long)] = values.to(matrix)
    if hasattr(model, "load_pretrained_embeddings"):  # the recurrent family: records the choice in its config
        model.load_pretrained_embeddings(matrix, freeze=freeze)
    else:
        with torch.no_grad():
            embedding.weight.copy_(matrix)
        embedding.weight.requires_grad_(not freeze)
    total = max(len(rows), 1)
    return {
        "embeddings_coverage": round(found / total, 4),
        "embeddings_from_ngrams": round(from_ngrams / total, 4),
        "embeddings_mean_vector": round((total - found - from_ngrams) / total, 4) if rows else 0.0,
        "embeddings_frozen": freeze,
    }


__all__ = ["WordVectors", "describe", "initialise_embeddings", "projection", "token_word", "tokenizer_words"]
