"""hf_recipes: pretrain and fine-tune the classic NLP architectures as native Hugging Face models.

Importing the package registers every model family with the transformers AutoClasses, so
`AutoModelForMaskedLM.from_pretrained(dir)` and friends work on hf_recipes checkpoints.
"""

from .models import REGISTRY

__version__ = "0.1.0"

__all__ = ["REGISTRY", "__version__"]
