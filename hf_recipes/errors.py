"""The exceptions a run ends with when it is not a bug.

The CLI prints each as a single line, without a traceback: a `UserError` (a mistake in what the user gave us: a
recipe, a path, a column name...) as `error: ...` with exit status 2, an `Interrupted` run as one line with
status 128 + the signal number. Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import math
import signal
from pathlib import Path


class UserError(Exception):
    """A problem with the user's input, stated in one line that names the file/field and what was expected."""


class NonFiniteLoss(UserError):
    """Training produced a NaN or infinite loss (or weights) and stopped before saving anything from it."""

    def __init__(self, step: int, loss: float, output_dir: str | Path, *, weights: bool = False):
        from .runs import last_complete_checkpoint

        what = "the weights became non-finite" if weights else f"the loss became {_number(loss)}"
        last = last_complete_checkpoint(Path(output_dir), quiet=True)
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint was saved before it"
        super().__init__(
            f"training: {what} at step {step}; stopped without saving it ({kept}). Lower "
            "training.learning_rate, or set training.max_grad_norm (gradient clipping)"
        )
        self.step = step


class Interrupted(Exception):
    """Training stopped on a signal (SIGTERM, SIGINT) after saving a checkpoint at the current step."""

    def __init__(self, signum: int, step: int, checkpoint: str | Path):
        self.signum, self.step, self.checkpoint = signum, step, Path(checkpoint)
        self.exit_code = 128 + signum
        name = signal.Signals(signum).name
        super().__init__(
            f"{name}: stopped at step {step}, saved {self.checkpoint}; run the same command again to resume there"
        )


def _number(value: float) -> str:
    return (
        str(value)
        if math.isfinite(value)
        else ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
    )
