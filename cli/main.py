"""tfxp: the command line.

Sub-commands:
  run      run the pipeline locally (ingest -> ... -> push), print a summary,
           write the HTML report and the log into the workspace
  status   list recorded pipeline runs from MLMD
  report   write a run's HTML report, or a page comparing several runs
  drift    compare a served model's logged requests with its training data

Bad input (unknown family or dataset, missing/empty CSV, CSV without the label
columns, a CSV cell that does not convert to its column's schema type without
loss, non-writable workspace, bad config file, ``--warm-start`` from a
blessed model with other architecture hparams) is reported on one line with
exit code 2 and no traceback, before anything is written to the workspace.
A failed pipeline exits 1.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from typing import List, Optional

from tfxp.core import env  # noqa: F401  (must precede TensorFlow imports)
from tfxp.cli.beam_flags import add_beam_flags, beam_args_from
from tfxp.core.errors import EXIT_FAILED, EXIT_USAGE, UsageError, one_line
from tfxp.core.workspace import Workspace


def _check_workspace(path: str) -> None:
    """Raises UsageError unless ``path`` is a writable folder or can be made
    one. Creates nothing: a workspace that does not exist yet is checked
    through its nearest existing parent (the run creates it), so a check of
    a later setting that fails (``--model all``) leaves no empty folder."""
    existing = os.path.abspath(path)
    while not os.path.exists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f"workspace {path!r} is not writable: {existing!r} is a file, "
                         f"not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".write-test-"):
            pass
    except OSError as err:
        raise UsageError(f"workspace {path!r} is not writable: "
                         f"{err.strerror or err}") from None


def _check_csv(path: str, required_columns) -> List[str]:
    """Raises UsageError unless ``path`` (file or folder) holds CSVs with a
    header naming ``required_columns`` and at least one data row; returns
    the files."""
    if not os.path.exists(path):
        raise UsageError(f"CSV path {path!r} does not exist")
    files = ([path] if os.path.isfile(path) else
             sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".csv")))
    if not files:
        raise UsageError(f"CSV folder {path!r} holds no .csv file")
    from tfxp.core import csv_types

    for file in files:
        try:
            with csv_types.open_csv(file) as reader:
                header = next(reader, None)
                first_row = next(reader, None)
        except csv_types.CsvFormatError as err:
            raise UsageError(f"--csv: {err}") from None
        if not header:
            raise UsageError(f"CSV file {file!r} is empty; expected a header row "
                             f"and data rows")
        missing = [c for c in required_columns if c not in header]
        if missing:
            raise UsageError(
                f"CSV file {file!r} lacks the label column(s) {missing}; the label "
                f"'big tipper' is computed from columns {list(required_columns)}")
        if first_row is None:
            raise UsageError(f"CSV file {file!r} has a header but no data rows")
    return files


def _check_csv_types(files: List[str], dataset: str) -> None:
    """Raises UsageError at the first cell of ``files`` that does not convert
    to its column's curated schema type without loss (``core.csv_types``, the
    rule the CSV ExampleGen applies), naming column, value, file and line;
    prints the conversions it will make, per column."""
    from tfxp.core import csv_types
    from tfxp.pipeline.schemas import column_types

    try:
        counts = csv_types.check_csv_files(files, column_types(dataset))
    except csv_types.CsvTypeError as err:
        raise UsageError(f"--csv: {err}; fix the data, or review "
                         f"schemas/{dataset}/schema.pbtxt if the data is right") from None
    except csv_types.CsvShapeError as err:
        raise UsageError(f"--csv: {err}; fix the data") from None
    except csv_types.CsvFormatError as err:
        raise UsageError(f"--csv: {err}") from None
    if counts:
        print(f"csv: values the run converts to the curated schema's types: "
              f"{csv_types.format_counts(counts)}", flush=True)


def _check_warm_start(config) -> None:
    """``--warm-start``: finds the model the Trainer will start from (the
    latest blessed model of this pipeline in the workspace's MLMD, as the
    Resolver will) and raises UsageError when its architecture differs
    (``models.warm_start.check_compatible``); prints which model it is, or
    that there is none yet and the Trainer trains from scratch."""
    from tfxp.models import warm_start
    from tfxp.models.registry import architecture

    base = None
    if os.path.isfile(config.metadata_path):
        from tfxp.observability import mlmd
        base = mlmd.latest_blessed_model(mlmd.open_store(config.metadata_path),
                                         config.pipeline_name)
    if base is None:
        print(f"warm start: no blessed {config.model_name} model in {config.workspace} yet; "
              f"the Trainer trains from scratch", flush=True)
        return
    spec = warm_start.read_spec(base.uri)
    if spec is None:
        print(f"warm start: the latest blessed model ({base.uri}) has no "
              f"{warm_start.WARM_START_DIR}/ weights (exported before warm start "
              f"existed); the Trainer trains from scratch", flush=True)
        return
    try:
        warm_start.check_compatible(spec, config.model, config.dataset_spec.name,
                                    architecture(config.family, config.hparams), base.uri)
    except warm_start.WarmStartMismatch as err:
        raise UsageError(str(err)) from None
    print(f"warm start: from the latest blessed model ({base.uri})", flush=True)


NO_THRESHOLDS = "none"


def _threshold(text: str):
    """``--threshold``: a number, or ``none`` for metrics without any blessing."""
    if text.strip().lower() == NO_THRESHOLDS:
        return NO_THRESHOLDS
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number in [0, 1] or '{NO_THRESHOLDS}', got {text!r}") from None


def _config_source(path: Optional[str], from_file, err: ValueError) -> str:
    """``'<path>: '`` when the config file ``path`` alone (``from_file``, the
    ``RunConfig`` read from it, before the flags) fails validation with the
    same message as ``err``: the bad value is the file's, not a flag's.
    Else ``''``."""
    if not path:
        return ""
    try:
        from_file.validate()
    except ValueError as file_err:
        if str(file_err) == str(err):
            return f"{path}: "
    return ""


def config_from_args(args: argparse.Namespace):
    """Builds and validates the ``RunConfig`` of ``run``. Raises UsageError."""
    from tfxp.core import features as F
    from tfxp.pipeline.config import RunConfig
    from tfxp.core.datasets import TABULAR

    if args.config:
        try:
            with open(args.config) as f:
                config = RunConfig.from_json(f.read())
        except (OSError, ValueError, TypeError) as err:
            raise UsageError(f"cannot read config {args.config!r}: {err}") from None
    else:
        config = RunConfig()
    from_file = config
    overrides = {
        "model": args.model, "dataset": args.dataset, "workspace": args.workspace,
        "data_dir": args.data_dir, "csv": args.csv, "train_steps": args.train_steps,
        "eval_steps": args.eval_steps, "epochs": args.epochs,
        "early_stopping_patience": args.early_stopping_patience, "seed": args.seed,
        "per_replica_batch": args.batch, "max_metric_drop": args.max_metric_drop,
        "warm_start": args.warm_start or None,
    }
    if args.threshold == NO_THRESHOLDS:
        overrides.update(thresholds=False, metric_threshold=None)
    elif args.threshold is not None:
        overrides.update(thresholds=True, metric_threshold=args.threshold)
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items()
                                            if v is not None or k == "metric_threshold"})
    beam_args = beam_args_from(args)
    if beam_args is not None:
        config.beam_pipeline_args = beam_args
    if args.no_cache:
        config.enable_cache = False
    try:
        config.validate()
    except ValueError as err:
        raise UsageError(_config_source(args.config, from_file, err) + str(err)) from None
    if config.csv and config.dataset_spec.modality != TABULAR:
        raise UsageError(f"--csv is for tabular data; family {config.model!r} reads "
                         f"{config.dataset_spec.modality} data ({config.dataset_spec.name})")
    if config.dataset_spec.modality == TABULAR and config.csv:
        files = _check_csv(config.csv, (F.FARE_KEY, F.TIPS_KEY))
        _check_csv_types(files, config.dataset_spec.name)
    from tfxp.models import embeddings, pretrained_encoder
    for name, module in ((config.pretrained_embeddings, embeddings),
                         (config.pretrained_encoder, pretrained_encoder)):
        if name:  # on this machine's disk, before any component
            try:
                module.check_available(config.data_dir, name)
            except ValueError as err:
                raise UsageError(str(err)) from None
    _check_workspace(config.workspace)
    if config.warm_start:
        _check_warm_start(config)
    return config


ALL_FAMILIES = "all"


def _run_one(config):
    """Runs one pipeline and prints its summary; returns (exit code, summary, seconds)."""
    import time

    from tfxp.observability import mlmd
    from tfxp.runner.local_runner import PipelineFailed, run_local

    print(f"running {config.pipeline_name}: family={config.model} "
          f"dataset={config.dataset_spec.name} workspace={config.workspace}", flush=True)
    start = time.perf_counter()
    try:
        summary = run_local(config)
    except PipelineFailed as err:
        if err.summary is not None:
            print(mlmd.format_summary(err.summary))
            _report_after_run(config.workspace, err.summary.run_id)
        print(f"tfxp: error: {err}", file=sys.stderr)
        return EXIT_FAILED, err.summary, time.perf_counter() - start
    print(mlmd.format_summary(summary), flush=True)
    if summary.blessed is False:
        print_failed_checks(config.workspace, summary.run_id)
    _report_after_run(config.workspace, summary.run_id)
    return (0 if summary.ok else EXIT_FAILED), summary, time.perf_counter() - start


def print_failed_checks(workspace: str, run_id: str, store=None) -> None:
    """Prints why the Evaluator did not bless the run's model: TFMA's failed
    checks, one ``  failed check: ...`` line each (the run report's "Failed
    checks", ``report.load_blessing``). ``store``: the workspace's open MLMD
    store, if the caller has one. A result that cannot be read is a
    warning: the run itself is done."""
    from tfxp.observability import mlmd, report

    try:
        store = store or mlmd.open_store(Workspace(workspace).metadata_path)
        evaluator = mlmd.run_outputs(store, run_id).get("Evaluator", {})
        failures = report.load_blessing(evaluator["ModelEvaluation"].uri,
                                        evaluator.get("ModelBlessing")).failures
    except Exception as err:  # noqa: BLE001 - the run itself is done
        print(f"tfxp: warning: failed checks of run {run_id} not read: "
              f"{type(err).__name__}: {err}", file=sys.stderr)
        return
    for failure in failures:
        print(f"  failed check: {failure}", flush=True)


def _report_after_run(workspace: str, run_id: str) -> None:
    """Writes the run's HTML report and prints where it and the log are; a
    report that cannot be written is a warning, never a failed run."""
    from tfxp.observability import report

    log = Workspace(workspace).log_path(run_id)
    if os.path.isfile(log):
        print(f"  log: {log}")
    try:
        print(f"  report: {report.write_report(workspace, run_id)}", flush=True)
    except Exception as err:  # noqa: BLE001 - the run itself is done
        print(f"tfxp: warning: report of run {run_id} not written: "
              f"{type(err).__name__}: {err}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    if args.model != ALL_FAMILIES:
        return _run_one(config_from_args(args))[0]
    from tfxp.models.registry import FAMILIES
    from tfxp.observability import mlmd

    if args.dataset:
        raise UsageError("--model all runs each family on its default dataset; "
                         "drop --dataset")
    # Every family's config is checked before the first pipeline runs: a
    # setting only some families accept stops here, not after hours of runs.
    configs = []
    for family in FAMILIES:
        args.model = family
        try:
            configs.append(config_from_args(args))
        except UsageError as err:
            raise UsageError(f"--model all: family {family!r}: {err}") from None
    rows, worst, run_ids = [], 0, []
    for config in configs:
        code, summary, seconds = _run_one(config)
        worst = max(worst, code)
        rows.append(mlmd.comparison_row(config, summary, seconds))
        run_ids += [summary.run_id] if summary is not None else []
    print(mlmd.format_comparison(rows))
    if run_ids:
        from tfxp.observability import report
        try:
            print(f"comparison: {report.write_comparison(config.workspace, run_ids)}")
        except Exception as err:  # noqa: BLE001 - the runs themselves are done
            print(f"tfxp: warning: comparison page not written: {err}", file=sys.stderr)
    return worst


def cmd_status(args: argparse.Namespace) -> int:
    from tfxp.observability import mlmd

    try:
        store = mlmd.open_store(Workspace(args.workspace).metadata_path)
    except FileNotFoundError as err:
        raise UsageError(str(err)) from None
    if args.run:
        try:
            summary = mlmd.run_summary(store, args.run)
        except KeyError as err:
            raise UsageError(str(err.args[0])) from None
        print(mlmd.format_summary(summary, every_slice=True))
        if summary.blessed is False:
            print_failed_checks(args.workspace, args.run, store)
        return 0
    print(mlmd.format_status([mlmd.run_summary(store, run_id)
                              for _, run_id in mlmd.list_runs(store)]))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from tfxp.observability import report

    try:
        if args.compare:
            print(report.write_comparison(args.workspace, args.compare))
        else:
            print(report.write_report(args.workspace, args.run))
    except (FileNotFoundError, LookupError, ValueError) as err:
        raise UsageError(str(err.args[0]) if err.args else str(err)) from None
    except OSError as err:  # e.g. a reports folder that cannot be written
        raise UsageError(f"report not written: {err.strerror or err}"
                         + (f": {err.filename!r}" if err.filename else "")) from None
    except Exception as err:  # noqa: BLE001 - e.g. an unreadable artifact: one line
        raise UsageError(f"report not written: {one_line(err)}") from None
    return 0


def build_parser() -> argparse.ArgumentParser:
    from tfxp.models.registry import FAMILIES
    from tfxp.core.workspace import DEFAULT_WORKSPACE
    from tfxp.pipeline.config import DEFAULT_DATA_DIR
    from tfxp.core.datasets import DATASETS

    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(prog="tfxp", description=__doc__.split("\n")[0],
                                     formatter_class=fmt)
    parser.add_argument("--verbose", action="store_true",
                        help="show third-party warnings and INFO logs")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the pipeline locally")
    run.add_argument("--model", help=f"model family: {', '.join(FAMILIES)}, or "
                     f"{ALL_FAMILIES} for one pipeline each (default: dense)")
    run.add_argument("--dataset", help=f"dataset: {', '.join(DATASETS)} "
                     "(default: the family's)")
    run.add_argument("--workspace", help=f"workspace folder (default: {DEFAULT_WORKSPACE})")
    run.add_argument("--data-dir", help=f"offline dataset folder (default: {DEFAULT_DATA_DIR})")
    run.add_argument("--csv", help="CSV file or folder for tabular data "
                     "(default: the taxi CSV in the tfx wheel)")
    run.add_argument("--train-steps", type=int, help="training steps, global batches "
                     "(default: the family's)")
    run.add_argument("--eval-steps", type=int, help="evaluation steps (default: the family's)")
    run.add_argument("--epochs", type=int, help="epochs the steps are split into "
                     "(default: the family's)")
    run.add_argument("--early-stopping-patience", type=int, metavar="EPOCHS",
                     help="stop after EPOCHS epochs without a better blessing metric "
                     "(default: off; the best epoch is exported either way)")
    run.add_argument("--seed", type=int, help="the Trainer's random seed: weight "
                     "initialisation, dropout, input shuffle (default: unseeded)")
    run.add_argument("--batch", type=int, help="per-replica batch size "
                     "(default: the family's)")
    run.add_argument("--threshold", type=_threshold,
                     help="lower bound on AUC (binary) / accuracy (multi-class) "
                     "for blessing, or 'none': metrics only, no verdict, nothing "
                     "pushed (default: the family's)")
    run.add_argument("--max-metric-drop", type=float,
                     help="allowed drop below the latest blessed model (default: 0)")
    add_beam_flags(run)
    run.add_argument("--no-cache", action="store_true", help="re-execute every component "
                     "(default: reuse cached outputs)")
    run.add_argument("--warm-start", action="store_true",
                     help="initialise the Trainer from the latest blessed model of this "
                     "family and dataset in the workspace (same architecture hparams; "
                     "none yet: train from scratch) (default: from scratch)")
    run.add_argument("--config", help="config.json of an earlier run to repeat, e.g. "
                     "workspace/runs/<run id>/config.json; flags given override it "
                     "(default: none)")
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", help="list pipeline runs recorded in MLMD",
                            formatter_class=fmt)
    status.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="workspace folder")
    status.add_argument("--run", help="show one run in detail")
    status.set_defaults(func=cmd_status)

    rep = sub.add_parser("report", help="write a run's HTML report (or compare runs)",
                         formatter_class=fmt,
                         description="Writes <workspace>/reports/<run id>/index.html "
                         "and its PNGs; `run` does this after every run.")
    rep.add_argument("--workspace", default=DEFAULT_WORKSPACE, help="workspace folder")
    rep.add_argument("--run", help="run id (see `tfxp status`); None means the latest run")
    rep.add_argument("--compare", nargs="+", metavar="RUN_ID",
                     help="write one side-by-side page of these runs instead, under "
                     "<workspace>/reports/compare-<hash>/")
    rep.set_defaults(func=cmd_report)
    from tfxp.cli.serving import register as register_serving
    register_serving(sub)
    from tfxp.cli.kubeflow import register as register_kubeflow
    register_kubeflow(sub)
    from tfxp.cli.drift import register as register_drift
    register_drift(sub)
    from tfxp.cli.score import register as register_score
    register_score(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    env.quiet(not args.verbose)
    try:
        return args.func(args)
    except UsageError as err:
        print(f"tfxp: error: {err}", file=sys.stderr)
        return EXIT_USAGE


def console_main() -> None:
    """Console-script entry: ``main`` then a hard exit.

    ``os._exit`` skips interpreter teardown, where TF 2.16 prints harmless
    ``AtomicFunction.__del__`` tracebacks; all output is flushed and MLMD's
    SQLite writes are committed by then.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    console_main()
