"""The reader's mistakes and the environment's failures, as one-line messages.

`InputError` is a problem with the reader's input (a missing dataset, an output folder that
cannot be written, a flag value), not with the code: `command_line.run` prints it as one
`error:` line and exits with code 2 instead of a traceback. `error_reason` is the first line
of an exception's message, the reason those lines give.

Its own module, importing nothing of this project, so that the backend check (which runs
before anything else), the loaders and the output writers can all use it without import
cycles. Not in the book scripts: the book's code assumes its input is there.
"""


class InputError(Exception):
    """A problem with the reader's input (paths, files, folders, flag values), not with the
    code: `run` prints it as one `error:` line and exits with code 2, no traceback."""


class DataUnavailable(InputError):
    """A dataset file could not be found, downloaded or read."""


def error_reason(error):
    """The first line of an exception's message (or its type's name): the reason to print."""
    return str(error).splitlines()[0] if str(error) else type(error).__name__
