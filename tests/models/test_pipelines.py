"""`pipeline("fill-mask")` and `pipeline("text-generation")` on saved checkpoints, after a few seconds of
training on a corpus with one obvious pattern, so the pipelines' answers can be checked, not just run."""

import pytest
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

import hf_recipes  # noqa: F401  (registers the AutoClasses)
from hf_recipes.models.bert import HfrBertConfig
from hf_recipes.models.gpt import HfrGPTConfig

ANIMALS = ["cat", "dog", "cow", "fox", "owl", "bee"]
SOUNDS = {"cat": "meows", "dog": "barks", "cow": "moos", "fox": "yelps", "owl": "hoots", "bee": "buzzes"}
CORPUS = [f"the {animal} {SOUNDS[animal]} at night ." for animal in ANIMALS] * 4


def wordpiece_tokenizer() -> transformers.PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(CORPUS, trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tokenizer.decoder = decoders.WordPiece()
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


def bpe_tokenizer() -> transformers.PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<|endoftext|>",
    )


def train(model, batches, steps: int = 150, lr: float = 3e-3) -> None:
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        loss = model(**batches(step)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


@pytest.mark.parametrize("checkpoint_head", ["AutoModelForPreTraining", "AutoModelForMaskedLM"])
def test_fill_mask_pipeline_on_a_saved_checkpoint(tmp_path, checkpoint_head):
    tokenizer = wordpiece_tokenizer()
    config = HfrBertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=32,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = getattr(transformers, checkpoint_head).from_config(config)
    encoded = tokenizer(CORPUS, return_tensors="pt", padding=True)
    sound_position = 3  # [CLS] the <animal> <sound>: mask the sound, which the animal determines

    def batches(step):
        labels = torch.full_like(encoded["input_ids"], -100)
        labels[:, sound_position] = encoded["input_ids"][:, sound_position]
        masked = encoded["input_ids"].clone()
        masked[:, sound_position] = tokenizer.mask_token_id
        batch = {**encoded, "input_ids": masked, "labels": labels}
        if checkpoint_head == "AutoModelForPreTraining":
            batch["next_sentence_label"] = torch.zeros(len(CORPUS), dtype=torch.long)
        return batch

    train(model, batches)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)

    fill_mask = transformers.pipeline("fill-mask", model=str(tmp_path), device="cpu")
    assert type(fill_mask.model).__name__ == "HfrBertForMaskedLM"
    for animal in ("cat", "owl"):
        predictions = fill_mask(f"the {animal} [MASK] at night .")
        assert predictions[0]["token_str"] == SOUNDS[animal], predictions


def test_text_generation_pipeline_on_a_saved_checkpoint(tmp_path):
    tokenizer = bpe_tokenizer()
    config = HfrGPTConfig(
        vocab_size=len(tokenizer),
        n_positions=32,
        n_embd=48,
        n_layer=2,
        n_head=4,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config)
    encoded = tokenizer([text + tokenizer.eos_token for text in CORPUS], return_tensors="pt", padding=True)
    labels = encoded["input_ids"].masked_fill(encoded["attention_mask"] == 0, -100)
    train(model, lambda step: {**encoded, "labels": labels})
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)

    generator = transformers.pipeline("text-generation", model=str(tmp_path), device="cpu")
    for animal in ("dog", "bee"):
        text = generator(f"the {animal}", max_new_tokens=6, do_sample=False)[0]["generated_text"]
        assert text.startswith(f"the {animal} {SOUNDS[animal]} at night"), text
