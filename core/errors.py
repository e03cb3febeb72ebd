"""Exit codes and the usage-error type that every command line layer shares."""

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(ValueError):
    """Bad user input; printed as one line, exit code ``EXIT_USAGE``."""


def one_line(err: BaseException) -> str:
    """``Type: first line of the message``, for errors shown without a traceback."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__
