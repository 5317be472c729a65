"""hf_recipes.metrics: offline metrics against hand-computed values and the official SQuAD normalisation."""

import math

import numpy as np
import pytest

from hf_recipes import metrics as M


def test_classification_metrics_by_hand():
    predictions = [1, 0, 1, 1, 0, 1]
    references = [1, 0, 0, 1, 1, 1]
    assert M.accuracy(predictions, references) == {"accuracy": pytest.approx(4 / 6)}
    # positive class: tp=3, fp=1, fn=1 → P = R = 3/4
    assert M.f1(predictions, references)["f1"] == pytest.approx(0.75)
    # class 0: tp=1, fp=1, fn=1 → F1 0.5; macro = (0.5 + 0.75) / 2
    assert M.f1(predictions, references, average="macro")["f1"] == pytest.approx(0.625)
    tp, tn, fp, fn = 3, 1, 1, 1
    mcc = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert M.matthews_correlation(predictions, references)["matthews_correlation"] == pytest.approx(mcc)


def test_correlations():
    references = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    exact = M.pearson_spearman(references * 2 + 1, references)
    assert exact == {"pearson": pytest.approx(1.0), "spearmanr": pytest.approx(1.0)}
    monotone = M.pearson_spearman(references**3, references)
    assert monotone["spearmanr"] == pytest.approx(1.0) and monotone["pearson"] < 1.0
    assert M.pearson_spearman(np.ones(5), references) == {"pearson": 0.0, "spearmanr": 0.0}  # no NaN
    assert M.regression_scores([1.0, 2.0], [1.0, 4.0])["mse"] == pytest.approx(2.0)


def test_multi_label_scores():
    references = np.array([[1, 0, 1], [0, 1, 0]])
    assert M.multi_label_scores(references, references)["subset_accuracy"] == 1.0
    half = M.multi_label_scores(np.array([[1, 0, 1], [0, 0, 0]]), references)
    assert half["subset_accuracy"] == 0.5 and half["micro_f1"] == pytest.approx(0.8)


def test_iob1_to_iob2():
    # IOB1 (CoNLL-2003 as released): B- only where an entity follows one of the same type.
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "O"]
    assert M.iob1_to_iob2(iob1) == ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "O"]
    iob2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "O"]
    assert M.iob1_to_iob2(iob2) == iob2  # idempotent


def test_seqeval_iob1_and_iob2_give_the_same_scores():
    gold_iob2 = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "B-ORG", "I-ORG", "O"]]
    gold_iob1 = [["I-PER", "I-PER", "O", "I-LOC"], ["I-ORG", "B-ORG", "I-ORG", "O"]]
    pred_iob2 = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "B-ORG", "I-ORG", "O"]]
    pred_iob1 = [["I-PER", "I-PER", "O", "I-ORG"], ["I-ORG", "B-ORG", "I-ORG", "O"]]
    reference = M.seqeval_scores(gold_iob2, pred_iob2)
    # 4 gold entities (PER, LOC, ORG, ORG), 4 predicted, 3 correct.
    assert reference["precision"] == pytest.approx(0.75) and reference["recall"] == pytest.approx(0.75)
    assert reference["f1"] == pytest.approx(0.75)
    for gold, pred in ((gold_iob1, pred_iob1), (gold_iob1, pred_iob2), (gold_iob2, pred_iob1)):
        assert M.seqeval_scores(gold, pred) == pytest.approx(reference)
    assert set(reference) >= {"precision", "recall", "f1", "accuracy", "PER_f1", "LOC_f1", "ORG_f1"}


def test_seqeval_scores_match_seqeval_and_handle_edge_cases():
    from seqeval.metrics import f1_score, precision_score, recall_score

    rng = np.random.default_rng(0)
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG"]
    gold = [list(rng.choice(tags, size=12)) for _ in range(50)]
    pred = [[t if rng.random() < 0.7 else str(rng.choice(tags)) for t in seq] for seq in gold]
    ours = M.seqeval_scores(gold, pred)
    assert ours["f1"] == pytest.approx(f1_score(gold, pred))
    assert ours["precision"] == pytest.approx(precision_score(gold, pred))
    assert ours["recall"] == pytest.approx(recall_score(gold, pred))
    assert M.seqeval_scores([["O", "O"]], [["O", "O"]]) == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "accuracy": 1.0,
    }
    assert M.seqeval_scores([], [])["f1"] == 0.0
    with pytest.raises(ValueError, match="same shape"):
        M.seqeval_scores([["O"]], [["O", "O"]])


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("The Denver Broncos", "denver broncos"),
        ("  an Apple,  a day!  ", "apple day"),
        ("Theatre the", "theatre"),  # "the" only as a word
        ("U.S. Army's", "us armys"),
        ("A", ""),
        (
            "1,000–2,000",
            "1000–2000",
        ),  # the en dash is not in string.punctuation: kept, as the official script
    ],
)
def test_squad_normalisation(text, normalised):
    assert M.normalize_answer(text) == normalised


def test_squad_em_f1():
    assert M.squad_exact_match("the Broncos!", "Broncos") == 1.0
    assert M.squad_f1("Denver Broncos team", "the Denver Broncos") == pytest.approx(0.8)  # P=2/3, R=1
    assert M.squad_f1("Carolina", "Denver Broncos") == 0.0
    scores = M.squad_scores(
        {"q1": "Denver Broncos", "q2": "in Santa Clara", "q3": "wrong"},
        {"q1": ["Broncos", "Denver Broncos"], "q2": ["Santa Clara, California"], "q3": ["right"]},
    )
    # q1: EM 1 (max over golds); q2: EM 0, F1 = 2·(2/3·2/3)/(4/3) = 2/3; q3: 0
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (1 + 2 / 3) / 3)
    assert M.squad_scores({}, {"q": ["x"]}) == {"exact_match": 0.0, "f1": 0.0}  # missing prediction scores 0


def test_bleu():
    text = ["A man is playing a guitar.", "Two dogs run through the snow."]
    assert M.bleu(text, text)["bleu"] == pytest.approx(100.0)
    assert M.bleu(text, [[t, "something else"] for t in text])["bleu"] == pytest.approx(100.0)
    assert M.bleu(["A man is playing guitar ."], ["A woman sings a song."])["bleu"] < 20


def test_bleu_1_to_4_counts_clipped_ngrams_against_all_references():
    """By hand: hypothesis "a red circle on a mat" (6 words) against "a red circle on the mat" and "the circle is
    red": clipped matches 5/6 unigrams ("a" twice, the references have one), 3/5 bigrams, 2/4 trigrams, 1/3
    4-grams; the closest reference length is 6, so no brevity penalty."""
    scores = M.bleu_1_to_4(["a red circle on a mat"], [["a red circle on the mat", "the circle is red"]])
    precisions = [5 / 6, 3 / 5, 2 / 4, 1 / 3]
    for n in range(1, 5):
        expected = 100 * math.exp(sum(math.log(p) for p in precisions[:n]) / n)
        assert scores[f"bleu_{n}"] == pytest.approx(expected)
    text = ["A man is playing a guitar.", "Two dogs run through the snow."]
    assert M.bleu_1_to_4(text, text)["bleu_4"] == pytest.approx(M.bleu(text, text)["bleu"])
    assert M.bleu_1_to_4(["a red thing"], [["a blue circle"]]) == {"bleu_1": pytest.approx(100 / 3), "bleu_2": 0.0,
                                                                   "bleu_3": 0.0, "bleu_4": 0.0}  # fmt: skip
