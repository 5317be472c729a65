"""The model families of hf_recipes and their registration with the transformers AutoClasses.

A family is a sub-package here with `configuration_<arch>.py` + `modeling_<arch>.py` and an `__init__` that
names `CONFIG_CLASS`, `MODELING` (the modeling module, whose `AUTO_MAP` lists every head and its Auto class)
a one-line `DESCRIPTION`, `SIZES` (named config presets: tiny, base, ...), `TOKENIZER` (the tokenizer kind
a model built from scratch trains) and, for a family that reads more than text, `PROCESSOR` (registered with
AutoProcessor). Every such sub-package is found and registered on import: adding an
architecture is adding its folder, nothing else.
"""

import importlib
import pkgutil
from dataclasses import dataclass
from types import ModuleType

import transformers


@dataclass(frozen=True)
class Head:
    auto_class: str  # e.g. "AutoModelForMaskedLM"
    model_class: type  # e.g. HfrBertForMaskedLM


@dataclass(frozen=True)
class Family:
    model_type: str
    config_class: type
    heads: tuple[Head, ...]
    description: str
    sizes: dict[str, dict]  # named presets of config fields, e.g. {"base": {"hidden_size": 768, ...}}
    tokenizer: str | None = None  # the tokenizer kind it is trained with from scratch (wordpiece, bpe, word)

    def head(self, auto_class: str) -> type:
        for head in self.heads:
            if head.auto_class == auto_class:
                return head.model_class
        raise KeyError(
            f"{self.model_type} has no {auto_class} head; it has {[h.auto_class for h in self.heads]}"
        )


def _register(family: ModuleType) -> Family:
    config_class = family.CONFIG_CLASS
    transformers.AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    # register_for_auto_class makes save_pretrained copy the code files next to the weights.
    config_class.register_for_auto_class()
    heads = []
    for auto_name, class_name in family.MODELING.AUTO_MAP.items():
        model_class = getattr(family.MODELING, class_name)
        getattr(transformers, auto_name).register(config_class, model_class, exist_ok=True)
        model_class.register_for_auto_class(auto_name)
        heads.append(Head(auto_name, model_class))
    processor = getattr(family, "PROCESSOR", None)  # a family whose inputs are not text alone (images)
    if processor is not None:
        transformers.AutoProcessor.register(config_class, processor, exist_ok=True)
        processor.register_for_auto_class()
    sizes = getattr(family, "SIZES", {})
    return Family(
        config_class.model_type,
        config_class,
        tuple(heads),
        family.DESCRIPTION,
        sizes,
        getattr(family, "TOKENIZER", None),
    )


def _discover() -> list[ModuleType]:
    packages = sorted(info.name for info in pkgutil.iter_modules(__path__) if info.ispkg)
    modules = [importlib.import_module(f"{__name__}.{name}") for name in packages]
    return [module for module in modules if hasattr(module, "CONFIG_CLASS")]


REGISTRY: dict[str, Family] = {family.model_type: family for family in map(_register, _discover())}


def get_family(model_type: str) -> Family:
    if model_type not in REGISTRY:
        raise KeyError(f"unknown model_type {model_type!r}; registered: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[model_type]


__all__ = ["REGISTRY", "Family", "Head", "get_family"]
