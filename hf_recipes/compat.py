"""What differs between the transformers releases inside the range pyproject.toml declares, in one place.

The model files cannot import this (they are copied next to checkpoints and must stand alone); they carry their
own `CACHE_FIELD`. Code that drives any causal LM, ours or a Hub checkpoint, reads and passes caches through
the names here.
"""

from transformers.modeling_outputs import CausalLMOutputWithPast

# transformers 5.25 renamed the cache argument of `forward` and the cache field of model outputs from
# `past_key_values` to `cache` (the old name is deprecated until 5.40, with a warning on every use).
CACHE_NAME = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


def output_cache(output):
    """The cache a model returned, under the name the installed transformers uses."""
    return getattr(output, CACHE_NAME)


__all__ = ["CACHE_NAME", "output_cache"]
