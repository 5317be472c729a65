"""The one home of the recipe schema: every recipe dataclass (pretrain, finetune, transfer, compare, prompt), its
validation (one `UserError` line naming the file, the dotted key and what is allowed there) and its YAML.

A recipe is read in four steps (hf_recipes.resolve drives them, the same way for every kind):

1. the YAML file (a name resolves to `recipes/<kind>/<name>.yaml`);
2. the named variant's overrides (`variants: {tiny: {...}, gpu: {...}}`, chosen by `variant:` or the
   `variant=<name>` override), so one file holds the CPU and GPU sizes of a recipe;
3. command-line overrides, `dotted.key=value` (values are YAML: `training.max_steps=20`, `data.local=null`);
4. validation: every key must exist and every value must have the declared type. `model.config` is checked
   against the model family's config class and `training` against `transformers.TrainingArguments` (both are
   dataclasses), so a typo is caught before a model is built.

The fully resolved recipe is saved with every run (`recipe.yaml`) and re-runs the same job when passed back in.
Nothing here imports the model or task registries: the checks that need them are in hf_recipes.resolve.
"""

from .base import Recipe
from .compare import CompareRecipe
from .finetune import (
    CHECKPOINT_ONLY_KEYS,
    CONFIG_ONLY_KEYS,
    TASK_KEYS,
    FinetuneDataSpec,
    FinetuneModelSpec,
    FinetuneRecipe,
    FinetuneTokenizerSpec,
)
from .io import (
    RECIPES_DIR,
    command,
    dump_recipe,
    flatten,
    load_yaml,
    merge_recipe,
    parse_overrides,
    recipe_header,
    resolve_path,
    set_dotted,
    yaml_load,
)
from .pretrain import (
    PROBE_WORDS,
    CausalLMObjective,
    CooccurrenceObjective,
    DataSpec,
    HubSource,
    LocalSource,
    MaskedLMObjective,
    ModelSpec,
    PretrainRecipe,
    SamplesSpec,
    TokenizerSpec,
    WordVectorsObjective,
)
from .prompt import PromptRecipe
from .schema import build, check_fields, check_training_arguments, check_training_values, coerce
from .transfer import TransferRecipe

__all__ = [
    "CompareRecipe",
    "CHECKPOINT_ONLY_KEYS",
    "CONFIG_ONLY_KEYS",
    "RECIPES_DIR",
    "TASK_KEYS",
    "PROBE_WORDS",
    "CausalLMObjective",
    "CooccurrenceObjective",
    "WordVectorsObjective",
    "DataSpec",
    "FinetuneDataSpec",
    "FinetuneModelSpec",
    "FinetuneRecipe",
    "FinetuneTokenizerSpec",
    "HubSource",
    "LocalSource",
    "MaskedLMObjective",
    "ModelSpec",
    "PretrainRecipe",
    "PromptRecipe",
    "Recipe",
    "SamplesSpec",
    "TokenizerSpec",
    "TransferRecipe",
    "build",
    "check_fields",
    "check_training_arguments",
    "check_training_values",
    "coerce",
    "command",
    "dump_recipe",
    "flatten",
    "load_yaml",
    "merge_recipe",
    "parse_overrides",
    "recipe_header",
    "resolve_path",
    "set_dotted",
    "yaml_load",
]
