"""The one exception type for mistakes in what the user gave us (a recipe, a path, a column name...).

The CLI prints it as a single `error: ...` line and exits with status 2, without a traceback; everything
else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input, stated in one line that names the file/field and what was expected."""
