"""Exit codes and the usage-error type that every command line layer shares."""

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(ValueError):
    """Bad user input; printed as one line, exit code ``EXIT_USAGE``."""
