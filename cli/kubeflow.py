"""``tfxp compile`` and ``tfxp submit``: the pipeline on Kubeflow Pipelines v2.

  compile  writes the PipelineSpec YAML of one model family
  submit   creates a run of a compiled spec on a KFP API server and prints
           the run's URL

``register(subparsers)`` adds both to ``tfxp`` (``cli.main``). Bad input
raises ``core.errors.UsageError`` (one line, exit code 2); ``compile`` checks
every path before it builds anything (``kubeflow.runner.check_paths``) and
leaves no spec file behind when it fails.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List, Optional

from tfxp.cli.beam_flags import beam_args_from
from tfxp.core.errors import EXIT_FAILED, UsageError, one_line

KFP_ENDPOINT_ENV = "KF_PIPELINES_ENDPOINT"  # kfp.Client's own variable


def _pairs(values: Optional[List[str]], flag: str) -> Dict[str, str]:
    """``['a=1', 'b=2']`` -> ``{'a': '1', 'b': '2'}``; UsageError on a bad item."""
    result = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{flag} {item!r}: expected NAME=VALUE")
        result[key] = value
    return result


def _flag(field: str) -> str:
    """``KubeflowOptions`` field -> its ``compile`` flag (``data_root`` -> ``--data-root``)."""
    return "--" + field.replace("_", "-")


def _check_output(output: str) -> None:
    """UsageError now, not after compiling, if ``output``'s folder cannot be
    created or written."""
    folder = os.path.dirname(os.path.abspath(output))
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--output {output!r}: cannot write there ({folder!r} is not a "
                         f"writable folder)")


def cmd_compile(args: argparse.Namespace) -> int:
    from tfxp.pipeline.config import RunConfig

    if args.warm_start and args.target != "vertex":
        raise UsageError(f"--warm-start needs the latest-blessed-model Resolver, which "
                         f"--target {args.target} leaves out (open-source KFP cannot run "
                         f"Resolver nodes); use --target vertex, or drop --warm-start")
    config = RunConfig(model=args.model, dataset=args.dataset,
                       train_steps=args.train_steps, eval_steps=args.eval_steps,
                       enable_cache=not args.no_cache, warm_start=args.warm_start)
    try:
        config.validate()
    except ValueError as err:
        raise UsageError(str(err)) from None
    from tfxp.kubeflow.runner import KubeflowOptions, UnreachablePath, compile_spec
    from tfxp.kubeflow.spec import write_spec

    options = KubeflowOptions(
        pipeline_root=args.pipeline_root, image=args.image, gpu_image=args.gpu_image,
        data_root=args.data_root, data_kind=args.data_kind, serving_base=args.serving_base,
        trainer_gpus=args.trainer_gpus, gpu_type=args.gpu_type, target=args.target,
        beam_pipeline_args=beam_args_from(args, image=args.image,
                                          temp_root=args.pipeline_root),
        pvc_mounts=_pairs(args.pvc, "--pvc"))
    output = args.output or f"{config.pipeline_name}.yaml"
    if not output.endswith((".yaml", ".yml")):
        raise UsageError(f"--output {output!r}: expected a .yaml file (a PipelineSpec; "
                         f"KFP's .json PipelineJob format is deprecated)")
    _check_output(output)
    try:
        spec, platform = compile_spec(config, options)
    except UnreachablePath as err:
        raise UsageError(f"{_flag(err.field)} {err.value!r}: {err.why}") from None
    except ValueError as err:
        raise UsageError(str(err)) from None
    except Exception as err:  # noqa: BLE001 - TFX's compiler: one line, no traceback
        raise UsageError(f"compiling {config.pipeline_name} failed: {one_line(err)}") from None
    try:
        write_spec(output, spec, platform)
    except OSError as err:
        raise UsageError(f"--output {output!r}: cannot write it: "
                         f"{err.strerror or err}") from None
    print(f"wrote {output}: pipeline {config.pipeline_name}, target {args.target}, "
          f"pipeline root {args.pipeline_root}")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from tfxp.kubeflow.submit import submit

    if not args.host:
        raise UsageError(f"--host is required (or set {KFP_ENDPOINT_ENV}), e.g. "
                         f"http://localhost:8080")
    if not os.path.isfile(args.package):
        raise UsageError(f"pipeline package {args.package!r} does not exist; "
                         f"write it with 'tfxp compile'")
    arguments = _pairs(args.param, "--param")
    from tfxp.core.datasets import TRAIN_SPLIT, VALIDATION_SPLIT
    from tfxp.kubeflow.spec import EVAL_ARGS_PARAM, TRAIN_ARGS_PARAM

    # The split names travel with the steps: a TrainArgs/EvalArgs JSON
    # without them would make the Trainer validate on the held-out split.
    for flag, name, steps, split in (
            ("--train-steps", TRAIN_ARGS_PARAM, args.train_steps, TRAIN_SPLIT),
            ("--eval-steps", EVAL_ARGS_PARAM, args.eval_steps, VALIDATION_SPLIT)):
        if steps is not None:
            if steps < 1:
                raise UsageError(f"{flag} must be >= 1, got {steps}")
            arguments[name] = json.dumps({"num_steps": steps, "splits": [split]})
    try:
        run = submit(args.package, args.host, arguments, experiment=args.experiment,
                     run_name=args.run_name, pipeline_root=args.pipeline_root,
                     namespace=args.namespace,
                     enable_caching=False if args.no_cache else None)
    except ValueError as err:
        raise UsageError(str(err)) from None
    except Exception as err:  # noqa: BLE001 - the server's answer, on one line
        print(f"tfxp: error: submitting {args.package} to {args.host} failed: "
              f"{_failure(err)}", file=sys.stderr)
        return EXIT_FAILED
    print(f"run {run.run_id}: {run.url}")
    return 0


def _failure(err: Exception) -> str:
    """One line saying why a request to the KFP API failed."""
    status = getattr(err, "status", None)
    if status is not None:  # kfp_server_api.ApiException: the server answered
        body = " ".join(str(getattr(err, "body", "") or "").split())
        return f"HTTP {status} {getattr(err, 'reason', '')}: {body[:300]}"
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def register(subparsers) -> None:
    """Adds ``compile`` and ``submit`` to ``tfxp``'s sub-command parsers."""
    from tfxp.kubeflow.spec import DATA_KINDS, DEFAULT_GPU_TYPE, TARGETS
    from tfxp.models.registry import FAMILIES
    from tfxp.pipeline.beam_presets import PRESETS

    comp = subparsers.add_parser(
        "compile",
        help="write the Kubeflow Pipelines v2 PipelineSpec YAML of one family")
    comp.add_argument("--model", default="dense", help=f"model family: {', '.join(FAMILIES)} (default: dense)")
    comp.add_argument("--dataset", help="dataset (default: the family's)")
    comp.add_argument("--pipeline-root", required=True,
                      help="root of the run's artefacts as the cluster sees it, "
                      "e.g. gs://BUCKET/PATH (see kubeflow/README.md for s3/minio); "
                      "a local path only on a volume mounted with --pvc (kfp)")
    comp.add_argument("--image", required=True,
                      help="pipeline image (kubeflow/Dockerfile target cpu) in a "
                      "registry the cluster pulls from")
    comp.add_argument("--gpu-image", help="Trainer image (target gpu); default: --image")
    comp.add_argument("--trainer-gpus", type=int, default=0,
                      help="GPUs requested for the Trainer pod (default: 0)")
    comp.add_argument("--gpu-type", default=DEFAULT_GPU_TYPE,
                      help=f"accelerator resource name (default: {DEFAULT_GPU_TYPE}; "
                      "Vertex: e.g. NVIDIA_TESLA_T4)")
    comp.add_argument("--data-root",
                      help="input data on the cluster: CSV file/folder for tabular "
                      "families, else the folder holding fashion_mnist/ and "
                      "rotten_tomatoes/ (default: the copy inside the image)")
    comp.add_argument("--data-kind", choices=DATA_KINDS,
                      help="what a tabular --data-root is on the cluster, a CSV file or a "
                      "folder of them; required unless the path ends in '/'")
    comp.add_argument("--serving-base",
                      help="where the Pusher writes versions, a URI or a path on a --pvc "
                      "volume (default: PIPELINE_ROOT/serving/MODEL)")
    comp.add_argument("--train-steps", type=int,
                      help="default of the train_args run parameter (default: the family's)")
    comp.add_argument("--eval-steps", type=int,
                      help="default of the eval_args run parameter (default: the family's)")
    comp.add_argument("--target", choices=TARGETS, default="kfp",
                      help="kfp: open-source Kubeflow Pipelines 2.x (no Resolver); "
                      "vertex: Vertex AI Pipelines (default: kfp)")
    comp.add_argument("--beam-preset", choices=sorted(PRESETS),
                      help="Beam runner preset (see pipeline/beam_presets.py); "
                      "default: the local default, FnApiRunner in-process, in each pod")
    comp.add_argument("--beam-arg", action="append",
                      help="Beam option, repeatable; added after the preset's")
    comp.add_argument("--pvc", action="append", metavar="CLAIM=PATH",
                      help="mount PersistentVolumeClaim CLAIM at PATH in every task")
    comp.add_argument("--no-cache", action="store_true",
                      help="compile with KFP caching off for every task")
    comp.add_argument("--warm-start", action="store_true",
                      help="the Trainer starts from the latest blessed model (the "
                      "Resolver's), as `tfxp run --warm-start`; vertex only: open-source "
                      "KFP cannot run the Resolver (default: from scratch)")
    comp.add_argument("--output", help="spec file (default: MODEL-pipeline.yaml)")
    comp.set_defaults(func=cmd_compile)

    sub = subparsers.add_parser("submit",
                                help="run a compiled spec on a Kubeflow Pipelines API server")
    sub.add_argument("package", help="the .yaml written by 'tfxp compile'")
    sub.add_argument("--host", default=os.environ.get(KFP_ENDPOINT_ENV),
                     help=f"KFP API endpoint, e.g. http://localhost:8080 (default: "
                     f"${KFP_ENDPOINT_ENV})")
    sub.add_argument("--param", action="append", metavar="NAME=VALUE",
                     help="pipeline parameter, repeatable")
    sub.add_argument("--train-steps", type=int, help="sets the train_args parameter")
    sub.add_argument("--eval-steps", type=int, help="sets the eval_args parameter")
    sub.add_argument("--experiment", default="Default", help="KFP experiment name (default: Default)")
    sub.add_argument("--run-name", help="run name (default: file name and time)")
    sub.add_argument("--pipeline-root", help="override the spec's default pipeline root")
    sub.add_argument("--namespace", help="KFP namespace (multi-user deployments)")
    sub.add_argument("--no-cache", action="store_true", help="disable caching for this run")
    sub.set_defaults(func=cmd_submit)
