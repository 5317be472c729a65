"""Offline metrics: plain functions over numpy arrays / lists that return flat `{name: float}` dicts.

Nothing here touches the network (`evaluate.load("accuracy")` fetches a script from the Hub and fails
offline): scikit-learn, scipy, seqeval and sacreBLEU do the arithmetic, and the SQuAD answer normalisation
is the official script's, reproduced below. Scores are fractions in [0, 1] except SQuAD EM/F1 and BLEU,
which are percentages as their official scripts print them.
"""

import collections
import math
import re
import string
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "accuracy",
    "bleu",
    "f1",
    "iob1_to_iob2",
    "matthews_correlation",
    "multi_label_scores",
    "normalize_answer",
    "pearson_spearman",
    "regression_scores",
    "seqeval_scores",
    "squad_exact_match",
    "squad_f1",
    "unigram_loss",
    "squad_scores",
]


# ---------------------------------------------------------------------------------------------------------
# Classification and regression (GLUE conventions)


def perplexity(loss: float) -> float:
    """exp(loss), or inf where it would overflow."""
    return math.exp(loss) if loss < 50 else float("inf")


def unigram_loss(train_tokens, eval_tokens, vocab_size: int) -> float:
    """The held-out cross-entropy (nats per token) of predicting every token by its training frequency alone
    (add-one smoothed): what a language model scores before it uses any context. A masked or causal LM whose
    held-out loss is no lower has learned only how common each token is (the plateau its training starts on),
    and a model fine-tuned from it starts from no better features than random weights."""
    counts = np.bincount(np.asarray(train_tokens), minlength=vocab_size).astype(np.float64) + 1.0
    return float(-np.log(counts[np.asarray(eval_tokens)] / counts.sum()).mean())


def accuracy(predictions, references) -> dict[str, float]:
    predictions, references = np.asarray(predictions), np.asarray(references)
    return {"accuracy": float((predictions == references).mean())}


def f1(predictions, references, average: str = "binary", pos_label: int = 1) -> dict[str, float]:
    """F1 as GLUE reports it: `binary` (of the positive class, MRPC/QQP) or `macro`/`micro`/`weighted`."""
    from sklearn.metrics import f1_score

    kwargs = {"pos_label": pos_label} if average == "binary" else {}
    return {"f1": float(f1_score(references, predictions, average=average, zero_division=0, **kwargs))}


def matthews_correlation(predictions, references) -> dict[str, float]:
    from sklearn.metrics import matthews_corrcoef

    return {"matthews_correlation": float(matthews_corrcoef(references, predictions))}


def pearson_spearman(predictions, references) -> dict[str, float]:
    """STS-B's pair. A constant prediction has no correlation: reported as 0.0 rather than NaN."""
    from scipy.stats import pearsonr, spearmanr

    predictions = np.asarray(predictions, dtype=np.float64).reshape(-1)
    references = np.asarray(references, dtype=np.float64).reshape(-1)
    if predictions.size < 2 or np.ptp(predictions) == 0 or np.ptp(references) == 0:
        return {"pearson": 0.0, "spearmanr": 0.0}
    return {
        "pearson": float(pearsonr(predictions, references)[0]),
        "spearmanr": float(spearmanr(predictions, references)[0]),
    }


def regression_scores(predictions, references) -> dict[str, float]:
    predictions = np.asarray(predictions, dtype=np.float64).reshape(-1)
    references = np.asarray(references, dtype=np.float64).reshape(-1)
    return {
        **pearson_spearman(predictions, references),
        "mse": float(np.mean((predictions - references) ** 2)),
    }


def multi_label_scores(predictions, references) -> dict[str, float]:
    """`predictions`/`references`: 0/1 matrices (examples × labels). Subset accuracy, micro and macro F1."""
    from sklearn.metrics import f1_score

    predictions, references = np.asarray(predictions).astype(int), np.asarray(references).astype(int)
    return {
        "subset_accuracy": float((predictions == references).all(axis=1).mean()),
        "micro_f1": float(f1_score(references, predictions, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(references, predictions, average="macro", zero_division=0)),
    }


# ---------------------------------------------------------------------------------------------------------
# Sequence labelling (entity level, conlleval semantics)


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """IOB1 (CoNLL-2003 as released: `B-` only between two adjacent entities of one type) → IOB2 (`B-` on
    every entity start). Idempotent: IOB2 input comes back unchanged, so it is safe on either scheme. Other
    prefixes (E-/S- of IOBES) are left alone."""
    out = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-"):
            kind = tag[2:]
            if previous == "O" or previous[2:] != kind:
                tag = "B-" + kind
        out.append(tag)
        previous = tag
    return out


def seqeval_scores(
    references: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]
) -> dict[str, float]:
    """Entity-level precision/recall/F1 (micro over entities, as conlleval and seqeval's default mode), token
    accuracy, and per-type F1 (`PER_f1`, ...). Entities are seqeval's chunks; tags may be IOB1 or IOB2: both
    sides are normalised to IOB2 first, which is also how conlleval reads an `I-` that starts an entity.
    Counting the chunks here (rather than seqeval's classification_report) keeps the no-entity and empty
    cases at 0 without NumPy warnings."""
    from seqeval.metrics.sequence_labeling import get_entities

    references = [iob1_to_iob2(list(seq)) for seq in references]
    predictions = [iob1_to_iob2(list(seq)) for seq in predictions]
    if len(references) != len(predictions) or any(len(r) != len(p) for r, p in zip(references, predictions)):
        raise ValueError("seqeval_scores: references and predictions must have the same shape")
    gold = {(i, *chunk) for i, seq in enumerate(references) for chunk in get_entities(seq)}
    found = {(i, *chunk) for i, seq in enumerate(predictions) for chunk in get_entities(seq)}
    tokens = sum(len(seq) for seq in references)
    same = sum(r == p for ref, pred in zip(references, predictions) for r, p in zip(ref, pred))
    scores = {**_prf(gold, found), "accuracy": same / tokens if tokens else 0.0}
    for kind in sorted({chunk[1] for chunk in gold | found}):
        of_kind = _prf({c for c in gold if c[1] == kind}, {c for c in found if c[1] == kind})
        scores[f"{kind}_f1"] = of_kind["f1"]
    return scores


def _prf(gold: set, found: set) -> dict[str, float]:
    correct = len(gold & found)
    precision = correct / len(found) if found else 0.0
    recall = correct / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


# ---------------------------------------------------------------------------------------------------------
# SQuAD (the official evaluate-v1.1 / v2.0 scripts' normalisation and scoring)

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation, drop the articles a/an/the, collapse whitespace (official order)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def squad_exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def squad_f1(prediction: str, truth: str) -> float:
    prediction_tokens = normalize_answer(prediction).split()
    truth_tokens = normalize_answer(truth).split()
    if not prediction_tokens or not truth_tokens:  # v2.0's rule: an empty answer matches only an empty one
        return float(prediction_tokens == truth_tokens)
    common = collections.Counter(prediction_tokens) & collections.Counter(truth_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(prediction_tokens), same / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions: Mapping[str, str], references: Mapping[str, Iterable[str]]) -> dict[str, float]:
    """`predictions`: question id → predicted text; `references`: question id → the gold answer texts.
    Each question scores the max over its gold answers; EM and F1 are percentages (0–100). A question
    without a prediction scores 0, as in the official script."""
    exact, overlap = 0.0, 0.0
    for qid, truths in references.items():
        truths = list(truths) or [""]
        prediction = predictions.get(qid)
        if prediction is None:
            continue
        exact += max(squad_exact_match(prediction, truth) for truth in truths)
        overlap += max(squad_f1(prediction, truth) for truth in truths)
    total = max(len(references), 1)
    return {"exact_match": 100.0 * exact / total, "f1": 100.0 * overlap / total}


# ---------------------------------------------------------------------------------------------------------
# Translation


def bleu(hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]]) -> dict[str, float]:
    """sacreBLEU corpus BLEU (13a tokenisation, as published numbers use) on detokenized text.
    `references`: one string per hypothesis, or one list of strings per hypothesis (several references)."""
    return {"bleu": float(_corpus_bleu(hypotheses, references).score)}


def bleu_1_to_4(
    hypotheses: Sequence[str], references: Sequence[str] | Sequence[Sequence[str]]
) -> dict[str, float]:
    """BLEU-1 .. BLEU-4 (0-100), as the captioning literature reports them: BLEU-n is the brevity penalty times
    the geometric mean of the 1..n-gram precisions, all from one sacreBLEU corpus count (13a tokenisation,
    every reference), unsmoothed (as coco-caption): `bleu_4` is `bleu(...)["bleu"]` except that an n-gram order
    without a single match gives 0 here (sacreBLEU's default smoothing gives a small score)."""
    result = _corpus_bleu(hypotheses, references)
    out = {}
    for n in range(1, 5):
        matches, totals = result.counts[:n], result.totals[:n]
        if min(matches) == 0:
            out[f"bleu_{n}"] = 0.0
            continue
        log_mean = sum(math.log(m / t) for m, t in zip(matches, totals)) / n
        out[f"bleu_{n}"] = float(100 * result.bp * math.exp(log_mean))
    return out


def _corpus_bleu(hypotheses, references):
    import sacrebleu

    hypotheses = [str(h) for h in hypotheses]
    if references and not isinstance(references[0], str):
        width = max(len(r) for r in references)
        # sacreBLEU wants one stream per reference position; a missing reference is passed as None.
        streams = [[r[i] if i < len(r) else None for r in references] for i in range(width)]
    else:
        streams = [[str(r) for r in references]]
    return sacrebleu.corpus_bleu(hypotheses, streams)
