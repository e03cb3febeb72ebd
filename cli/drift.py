"""``tfxp drift``: the served traffic of a model against its training data.

Reads the model's request logs (``tfxp serve --log-requests RATE`` writes
them under ``<workspace>/request_logs/<model>/``), compares the logged
requests with the training statistics and curated schema of the run that
produced the served version, prints one line per feature and comparison
(kind, distance, threshold, verdict) and the schema anomalies, writes a page
under ``<workspace>/reports/drift-<model>/`` and rewrites that run's report so
that it links to it (``observability.drift``).

Exit codes (``core.errors``): 0 ok; 2 bad input, one line, nothing written;
3 a skew or drift threshold crossed; 4 schema anomalies in the traffic, no
threshold crossed; 1 an unexpected failure.

Registering the command imports nothing heavy; the cheap checks (unknown
model, missing or empty logs, ``--since`` in the future) answer before
TensorFlow loads.
"""
from __future__ import annotations

import argparse
import sys

from tfxp.core.errors import EXIT_FAILED, UsageError, one_line
from tfxp.core.workspace import DEFAULT_WORKSPACE

# A day per window: a daily cron job with --since 2d compares yesterday with
# the day before.
DEFAULT_WINDOW = "1d"


def register(subparsers) -> None:
    """Adds ``drift`` to ``tfxp``'s sub-command parsers."""
    drift = subparsers.add_parser(
        "drift",
        help="compare a model's logged requests with its training data (skew, drift, "
             "schema anomalies)",
        description="Compares a served model's logged requests (tfxp serve --log-requests "
                    "RATE) with the training statistics and curated schema of the run that "
                    "produced the served version: skew against training, drift between "
                    "windows, schema anomalies. Prints one line per feature and comparison, "
                    "writes a page under <workspace>/reports/drift-<model>/ and links it "
                    "from that run's report.",
        epilog="exit codes: 0 ok, 3 a threshold crossed, 4 schema anomalies only, 2 bad "
               "input (nothing written), 1 failure. Thresholds: "
               "schemas/<dataset>/drift_skew.pbtxt.")
    drift.add_argument("--model", required=True, help="served model name, e.g. dense")
    drift.add_argument("--workspace", default=DEFAULT_WORKSPACE,
                       help=f"workspace folder (default: {DEFAULT_WORKSPACE})")
    drift.add_argument("--logs", help="request log folder, file or glob (default: "
                       "<workspace>/request_logs/<model>/)")
    drift.add_argument("--since", metavar="TIME",
                       help="only logs written since TIME: a local date or time "
                       "(2026-12-01, 2026-12-01T14:30) or a duration before now (6h, 2d) "
                       "(default: all)")
    drift.add_argument("--window", default=DEFAULT_WINDOW, metavar="DURATION",
                       help="cut the traffic into windows this long (30m, 6h, 1d) and "
                       f"compare each with the one before; 'none': one window "
                       f"(default: {DEFAULT_WINDOW})")
    drift.add_argument("--version", type=int, help="served version to compare with "
                       "(default: the newest that answered the logged requests)")
    drift.set_defaults(func=cmd_drift)


def cmd_drift(args: argparse.Namespace) -> int:
    from tfxp.observability import drift

    inputs = drift.check_inputs(args.workspace, args.model, logs=args.logs,
                                since=args.since, window=args.window)
    try:
        result = drift.run(inputs, version=args.version)
    except UsageError:
        raise
    except Exception as err:  # noqa: BLE001 - e.g. unreadable statistics: one line, exit 1
        print(f"tfxp: error: drift of model {args.model!r} failed: {one_line(err)}",
              file=sys.stderr)
        return EXIT_FAILED
    print(drift.format_result(result), flush=True)
    page = drift.write_page(result)
    print(f"  page: {page}", flush=True)
    _relink_run_report(args.workspace, result.baseline.run_id)
    return result.exit_code


def _relink_run_report(workspace: str, run_id: str) -> None:
    """Rewrites the baseline run's report, which links to its latest drift
    page; a report that cannot be written is a warning, the drift page stands."""
    from tfxp.observability import report

    try:
        print(f"  run report: {report.write_report(workspace, run_id)}", flush=True)
    except Exception as err:  # noqa: BLE001 - the drift result is written already
        print(f"tfxp: warning: report of run {run_id} not rewritten: "
              f"{type(err).__name__}: {err}", file=sys.stderr)
