"""``tfxp score``: batch scoring of files with a pushed model (``runner.score``).

    tfxp score --model dense --input rows.csv --output scores/
    tfxp score --model cnn --input 'images/*.png' --output scores/ --format tfrecord

Registering the command imports no TensorFlow or Beam; ``runner.score``
loads them when the command runs. Bad input is one line and exit code 2
(``core.errors.UsageError``); a failure of the model or the Beam runner is
one line and exit code 1.
"""
from __future__ import annotations

import argparse
import sys

from tfxp.cli.beam_flags import add_beam_flags, beam_args_from
from tfxp.core.errors import EXIT_FAILED, UsageError, one_line
from tfxp.core.signatures import DEFAULT_SIGNATURE
from tfxp.core.workspace import DEFAULT_WORKSPACE


def register(subparsers) -> None:
    """Adds ``score`` to ``tfxp``'s sub-command parsers."""
    from tfxp.runner.bulk_inference import OUTPUT_FORMATS

    score = subparsers.add_parser(
        "score", help="score CSV rows, TFRecords, PNG images or text lines with a pushed model "
        "(Beam, TFX BulkInferrer's RunInference); write predictions as CSV or TFRecord",
        description="Scores every input with a pushed version (the latest by default) on "
        "Beam the way TFX's BulkInferrer does, and writes one prediction per input. "
        "Inputs by file ending: .csv (tabular rows), .png (28x28 greyscale images), .txt "
        "(one text a line), .tfrecord/.tfrecords/.tfr or .gz (tf.Examples). Outputs in "
        "--output: predictions.csv (input, row, top_class, top_score, score_<label>...) "
        "or prediction_logs-*.gz (PredictionLog TFRecords), and score.json. A folder "
        "that holds results already is refused unless --overwrite.")
    score.add_argument("--model", required=True,
                       help="model name: its folder under <workspace>/serving (with "
                       "--model-dir, the name recorded in the outputs)")
    score.add_argument("--input", required=True, metavar="FILE_OR_GLOB",
                       help="a file or a quoted glob, e.g. 'rows/*.csv' (local or gs://)")
    score.add_argument("--output", required=True, metavar="DIR",
                       help="folder for the predictions (created if need be)")
    score.add_argument("--workspace", default=DEFAULT_WORKSPACE,
                       help=f"workspace whose serving/ folder holds the pushed versions "
                       f"(default: {DEFAULT_WORKSPACE})")
    which = score.add_mutually_exclusive_group()
    which.add_argument("--version", type=int,
                       help="pushed version to use (default: the latest)")
    which.add_argument("--model-dir", help="a SavedModel folder to use instead of a "
                       "pushed version")
    score.add_argument("--format", choices=OUTPUT_FORMATS, default=OUTPUT_FORMATS[0],
                       help="csv: one row per input; tfrecord: PredictionLogs as "
                       f"BulkInferrer writes them (default: {OUTPUT_FORMATS[0]})")
    score.add_argument("--signature", action="append", metavar="NAME",
                       help=f"signature to run, repeatable: one gives a classify, regress "
                       f"or predict log by its method, several classify/regress ones a "
                       f"multi-inference (default: {DEFAULT_SIGNATURE})")
    score.add_argument("--batch-size", type=int, help="fixed inference batch size "
                       "(default: Beam's adaptive batching, as BulkInferrer)")
    score.add_argument("--overwrite", action="store_true",
                       help="replace the results an earlier score left in --output")
    add_beam_flags(score)
    score.set_defaults(func=cmd_score)


def cmd_score(args: argparse.Namespace) -> int:
    from tfxp.runner.score import ScoreConfig, format_result, score

    beam_args = beam_args_from(args)
    config = ScoreConfig(
        model=args.model, inputs=args.input, output=args.output, workspace=args.workspace,
        version=args.version, model_dir=args.model_dir, output_format=args.format,
        signatures=tuple(args.signature or (DEFAULT_SIGNATURE,)),
        overwrite=args.overwrite, batch_size=args.batch_size,
        **({"beam_pipeline_args": tuple(beam_args)} if beam_args is not None else {}))
    try:
        result = score(config)
    except UsageError:
        raise
    except Exception as err:  # noqa: BLE001 - the model or the runner failed: one line
        print(f"tfxp: error: scoring failed: {one_line(err)}", file=sys.stderr)
        return EXIT_FAILED
    print(format_result(result))
    return 0
