"""GloVe: word vectors fitted to the logarithm of how often words occur near each other.

Pennington, Socher & Manning, "GloVe: Global Vectors for Word Representation" (2014):

    J = Σ_{i,j: X_ij > 0} f(X_ij) · (w_i·w̃_j + b_i + b̃_j − log X_ij)²,   f(x) = min(1, (x / x_max)^α)

X_ij counts word j within `window` words of word i, each occurrence weighted 1/distance (built once from the
corpus, sparse: hf_recipes.data.word_vectors.cooccurrences). A batch is a set of those entries (`rows`,
`columns`, `counts`); the loss is ½ J summed over them, as glove.c's, which fits it with AdaGrad (lr 0.05). A
word's vector is w + w̃ (the paper's choice): what `get_input_embeddings()` and, in evaluation, `forward`
return.

This file is copied next to every saved checkpoint and imports nothing from hf_recipes, so a checkpoint
loads with `trust_remote_code=True` where only transformers is installed.
"""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_glove import HfrGloVeConfig


@dataclass
class HfrGloVeOutput(ModelOutput):
    r"""
    Args:
        loss (`torch.FloatTensor` of shape `()`, with `rows`): ½ Σ f(X_ij)(w_i·w̃_j + b_i + b̃_j − log X_ij)² over
            the batch's entries.
        last_hidden_state (`torch.FloatTensor` of shape `(batch, seq, vector_size)`, with `input_ids`): the
            vector w + w̃ of every input id.
    """

    loss: torch.FloatTensor | None = None
    last_hidden_state: torch.FloatTensor | None = None


class HfrGloVePreTrainedModel(PreTrainedModel):
    config_class = HfrGloVeConfig
    config: HfrGloVeConfig
    base_model_prefix = "glove"
    _no_split_modules = []
    # The loss is a sum over the batch's entries, as glove.c's updates: Trainer must not rescale it.
    accepts_loss_kwargs = False

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, nn.Embedding):
            bound = self.config.initializer_range or 0.5 / self.config.vector_size
            init.uniform_(module.weight, -bound, bound)  # glove.c: (rand - 0.5) / vector_size

    # Copied from hf_recipes.models.gpt.modeling_gpt.HfrGPTPreTrainedModel.save_pretrained
    def save_pretrained(self, save_directory, *args, **kwargs):
        # transformers writes only the saved class into config.auto_map; write every head so that any
        # AutoModelFor* loads this checkpoint with trust_remote_code=True where hf_recipes is not installed.
        self.config.auto_map = {**full_auto_map(), **(getattr(self.config, "auto_map", None) or {})}
        return super().save_pretrained(save_directory, *args, **kwargs)


class HfrGloVeModel(HfrGloVePreTrainedModel):
    """Word vectors w (`embed`) and biases b, context vectors w̃ (`context_embed`) and biases b̃."""

    def __init__(self, config: HfrGloVeConfig):
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.vector_size, sparse=config.sparse)
        self.context_embed = nn.Embedding(config.vocab_size, config.vector_size, sparse=config.sparse)
        self.bias = nn.Embedding(config.vocab_size, 1, sparse=config.sparse)
        self.context_bias = nn.Embedding(config.vocab_size, 1, sparse=config.sparse)
        self.post_init()

    def word_vectors(self) -> torch.Tensor:
        """w + w̃ for every word."""
        return self.embed.weight + self.context_embed.weight

    def get_input_embeddings(self):
        """The vectors w + w̃ as a frozen embedding table (the trained parameters are w and w̃)."""
        return nn.Embedding.from_pretrained(self.word_vectors().detach(), freeze=True)

    def forward(
        self,
        rows: torch.LongTensor | None = None,
        columns: torch.LongTensor | None = None,
        counts: torch.Tensor | None = None,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> HfrGloVeOutput | tuple:
        r"""
        rows, columns (`torch.LongTensor` of any shape): word i and context word j of co-occurrence entries.
        counts (`torch.Tensor`, the same shape): X_ij, the weighted count of each entry (> 0).
        input_ids (`torch.LongTensor`): instead of entries, ids whose vectors w + w̃ to return.
        attention_mask (`torch.Tensor`): accepted with `input_ids` (a tokenizer's output) and not needed: each
            word's vector is its own.
        """
        if rows is None:
            if input_ids is None:
                raise ValueError("pass co-occurrence entries (rows, columns, counts) or input_ids")
            vectors = self.embed(input_ids) + self.context_embed(input_ids)
            output = HfrGloVeOutput(last_hidden_state=vectors)
            return output if _wants_dict(return_dict, self.config) else output.to_tuple()
        rows, columns, counts = rows.flatten(), columns.flatten(), counts.flatten().float()
        real = counts > 0  # batches may be padded with empty entries
        prediction = (self.embed(rows) * self.context_embed(columns)).sum(-1)
        prediction = prediction + self.bias(rows)[:, 0] + self.context_bias(columns)[:, 0]
        weight = (counts / self.config.x_max).clamp(max=1) ** self.config.alpha * real
        difference = prediction - torch.log(counts.clamp(min=1e-12))
        loss = 0.5 * (weight * difference**2).sum()
        output = HfrGloVeOutput(loss=loss)
        return output if _wants_dict(return_dict, self.config) else output.to_tuple()


# Copied from hf_recipes.models.gpt.modeling_gpt._wants_dict with HfrGPT->HfrGloVe
def _wants_dict(return_dict: bool | None, config: HfrGloVeConfig) -> bool:
    return config.return_dict if return_dict is None else return_dict


# Every head of the family and the Auto class that loads it. hf_recipes registers them from this table,
# and `save_pretrained` writes it into config.auto_map.
AUTO_MAP = {"AutoModel": "HfrGloVeModel"}


# Copied from hf_recipes.models.gpt.modeling_gpt.full_auto_map with HfrGPT->HfrGloVe
def full_auto_map() -> dict[str, str]:
    """config.auto_map entries for the config and every head, as `module.Class` next to the weights."""
    config_module = HfrGloVeConfig.__module__.rsplit(".", 1)[-1]
    model_module = __name__.rsplit(".", 1)[-1]
    return {
        "AutoConfig": f"{config_module}.{HfrGloVeConfig.__name__}",
        **{auto_class: f"{model_module}.{name}" for auto_class, name in AUTO_MAP.items()},
    }


__all__ = ["HfrGloVePreTrainedModel", *AUTO_MAP.values()]
