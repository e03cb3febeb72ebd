"""Exit codes and the usage-error type that every command line layer shares.

- ``EXIT_OK`` 0: done, nothing to report;
- ``EXIT_FAILED`` 1: the work failed (a failed pipeline, an unreadable artifact);
- ``EXIT_USAGE`` 2: bad input (flags, files, names), one line, nothing written;
- ``EXIT_THRESHOLD`` 3: ``tfxp drift`` measured a skew or drift distance
  above its threshold (so a cron job or CI step can act on it);
- ``EXIT_ANOMALIES`` 4: ``tfxp drift`` found schema anomalies in the served
  traffic (unseen categories, missing features, out-of-range values) but no
  threshold crossed.
"""

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_THRESHOLD, EXIT_ANOMALIES = 3, 4


class UsageError(ValueError):
    """Bad user input; printed as one line, exit code ``EXIT_USAGE``."""


def one_line(err: BaseException) -> str:
    """``Type: first line of the message``, for errors shown without a traceback."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__
