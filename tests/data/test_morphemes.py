"""`tokenizer.morphemes: kiwi`: WordPiece and BPE vocabularies learned without merging across the morphemes of
a Korean word, saved as ordinary tokenizers (no kiwipiepy needed to load or encode)."""

import json

import pytest
from transformers import AutoTokenizer

from hf_recipes.checkpoints import tokenizer_from_spec
from hf_recipes.config.pretrain import TokenizerSpec
from hf_recipes.data import morphemes
from hf_recipes.data.morphemes import MARK, mark_morphemes
from hf_recipes.data.tokenization import train_tokenizer
from hf_recipes.errors import UserError

pytest.importorskip("kiwipiepy", reason="kiwipiepy (the `korean` extra) is not installed")

# Whole words that recur often enough for a plain trainer to learn them whole: 먹었다 = 먹 + 었 + 다.
CORPUS = ["밥을 먹었다", "책을 읽었다", "빵을 먹고 잤다", "영화가 재밌었어요", "친구가 읽고 갔다"] * 20


def test_the_analyser_marks_the_joints_inside_words_and_keeps_the_surface_form():
    marked = list(mark_morphemes(["밥을 먹었다", "했다 ㅋㅋ", "", f"a{MARK}b"], normalize=str))
    assert [text.replace(MARK, "|") for text in marked] == ["밥|을 먹|었|다", "했|다 ㅋㅋ", "", "ab"]


def test_wordpiece_learns_morphemes_as_continuation_pieces():
    plain = train_tokenizer(CORPUS, "wordpiece", 120)
    kiwi = train_tokenizer(CORPUS, "wordpiece", 120, morphemes="kiwi")
    assert plain.tokenize("먹었다") == ["먹었다"]  # what the trainer learns from whole words
    assert kiwi.tokenize("먹었다") == ["먹", "##었", "##다"]
    assert kiwi.tokenize("재밌었어요") == ["재밌", "##었", "##어요"]
    assert not [token for token in kiwi.get_vocab() if MARK in token]
    assert kiwi.get_vocab() == train_tokenizer(iter(CORPUS), "wordpiece", 120, morphemes="kiwi").get_vocab()
    assert sorted(kiwi.get_vocab().values()) == list(range(len(kiwi)))  # ids without gaps


def test_byte_level_bpe_learns_morphemes_as_pieces_without_the_space():
    plain = train_tokenizer(CORPUS, "bpe", 400)
    kiwi = train_tokenizer(CORPUS, "bpe", 400, morphemes="kiwi")

    def pieces(tokenizer, text):
        return [tokenizer.convert_tokens_to_string([token]) for token in tokenizer.tokenize(text)]

    assert pieces(plain, "밥을 먹었다") == ["밥을", " 먹었다"]
    assert pieces(kiwi, "밥을 먹었다") == ["밥", "을", " 먹", "었", "다"]
    assert kiwi.decode(kiwi("영화가 재밌었어요 ㅋㅋ")["input_ids"]) == "영화가 재밌었어요 ㅋㅋ"


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
def test_the_saved_tokenizer_is_the_ordinary_one(kind, tmp_path):
    tokenizer = tokenizer_from_spec(
        TokenizerSpec(train=kind, vocab_size=400 if kind == "bpe" else 120, morphemes="kiwi"), lambda: CORPUS
    )
    tokenizer.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    assert MARK not in json.dumps(saved, ensure_ascii=False)
    assert saved["pre_tokenizer"]["type"] == ("BertPreTokenizer" if kind == "wordpiece" else "ByteLevel")
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    text = "친구가 책을 읽었다"
    assert reloaded(text).data == tokenizer(text).data


def test_morphemes_for_other_kinds_or_analysers_is_one_clear_error():
    with pytest.raises(
        UserError, match="tokenizer.morphemes: for the wordpiece and bpe kinds only, not char"
    ):
        train_tokenizer(CORPUS, "char", morphemes="kiwi")
    with pytest.raises(UserError, match="'mecab' is not a morpheme analyser; one of kiwi"):
        train_tokenizer(CORPUS, "bpe", 400, morphemes="mecab")


def test_without_kiwipiepy_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "kiwipiepy", None)
    morphemes._kiwi.cache_clear()
    try:
        with pytest.raises(UserError, match=r"pip install 'hf-recipes\[korean\]'"):
            train_tokenizer(CORPUS, "wordpiece", 120, morphemes="kiwi")
    finally:
        morphemes._kiwi.cache_clear()
