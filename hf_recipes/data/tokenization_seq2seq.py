"""A tokenizer with two vocabularies, one per language, for translation models with separate source and target
embeddings (as MarianTokenizer has, for 🤗 tokenizers backends).

    tokenizer("Ein Mann fährt Fahrrad.")                   # the source vocabulary (tokenizer.json)
    tokenizer(text_target="A man rides a bike.")            # the target vocabulary (target_tokenizer.json)
    tokenizer.decode(generated_ids)                         # the target vocabulary: decoding reads model outputs
    tokenizer.decode(input_ids, use_source_tokenizer=True)  # the source vocabulary

Both vocabularies start with the same special tokens at the same ids, so padding, the end-of-sequence token and
the decoder's start token mean the same on both sides.

This file is copied next to every saved tokenizer of this class (config `auto_map`), so it imports nothing from
hf_recipes: `AutoTokenizer.from_pretrained(DIR, trust_remote_code=True)` and `pipeline("translation", model=DIR,
trust_remote_code=True)` load it where only transformers is installed.
"""

import json
import os

from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast

TARGET_TOKENIZER_FILE = "target_tokenizer.json"


class HfrSeq2SeqTokenizer(PreTrainedTokenizerFast):
    """Source text through one 🤗 tokenizers pipeline, targets (`text_target=`) and decoding through another."""

    vocab_files_names = {"tokenizer_file": "tokenizer.json", "target_tokenizer_file": TARGET_TOKENIZER_FILE}

    def __init__(self, *args, target_tokenizer_file=None, target_tokenizer_object=None, **kwargs):
        super().__init__(*args, **kwargs)
        if target_tokenizer_object is None:
            if target_tokenizer_file is None or not os.path.isfile(target_tokenizer_file):
                raise ValueError(
                    f"{type(self).__name__} needs its target vocabulary ({TARGET_TOKENIZER_FILE})"
                )
            target_tokenizer_object = Tokenizer.from_file(target_tokenizer_file)
        self._source_tokenizer = self._tokenizer
        self._target_tokenizer = target_tokenizer_object
        for token, token_id in self._source_tokenizer.get_added_tokens_decoder().items():
            if self._target_tokenizer.id_to_token(token) != token_id.content:
                raise ValueError(
                    f"special token {token_id.content!r} has id {token} in the source vocabulary but not in the "
                    "target one: both must list the special tokens first, in the same order"
                )

    @classmethod
    def convert_to_native_format(cls, trust_remote_code=False, **kwargs):
        # Both files are complete 🤗 tokenizers serialisations: load them as they are. (The default rebuilds a
        # subclass that has its own __init__ from the bare vocabulary and merges, which loses the byte-level
        # pre-tokenizer of our BPE.)
        return kwargs

    @property
    def target_vocab_size(self) -> int:
        """Size of the target vocabulary with its special tokens (`len(tokenizer)` is the source's)."""
        return self._target_tokenizer.get_vocab_size(with_added_tokens=True)

    # `PreTrainedTokenizerBase.__call__` switches to target mode around `text_target` and back afterwards.
    def _switch_to_target_mode(self):
        self._tokenizer = self._target_tokenizer

    def _switch_to_input_mode(self):
        self._tokenizer = self._source_tokenizer

    def _decode(self, token_ids, skip_special_tokens=False, clean_up_tokenization_spaces=None, **kwargs):
        """Decodes with the target vocabulary (what a model generates), the source one with
        `use_source_tokenizer=True` (as MarianTokenizer)."""
        source = kwargs.pop("use_source_tokenizer", False)
        current, self._tokenizer = (
            self._tokenizer,
            (self._source_tokenizer if source else self._target_tokenizer),
        )
        try:
            return super()._decode(token_ids, skip_special_tokens, clean_up_tokenization_spaces, **kwargs)
        finally:
            self._tokenizer = current

    def _save_pretrained(self, save_directory, file_names, legacy_format=None, filename_prefix=None):
        self._switch_to_input_mode()  # tokenizer.json is the source side
        saved = super()._save_pretrained(save_directory, file_names, legacy_format, filename_prefix)
        path = os.path.join(
            save_directory, (filename_prefix + "-" if filename_prefix else "") + TARGET_TOKENIZER_FILE
        )
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(json.loads(self._target_tokenizer.to_str()), handle, ensure_ascii=False, indent=2)
        return (*saved, path)


# save_pretrained copies this file next to the tokenizer and names it in tokenizer_config.json's auto_map.
HfrSeq2SeqTokenizer.register_for_auto_class("AutoTokenizer")

__all__ = ["HfrSeq2SeqTokenizer"]
