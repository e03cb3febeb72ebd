"""Beam runner presets for the pipeline's Beam-based components.

ExampleGen, StatisticsGen, Transform and Evaluator run their data processing
on Beam; ``beam_pipeline_args`` decide where. The local default is the
FnApiRunner in-process (``pipeline.config.DEFAULT_BEAM_ARGS``, which says
why); ``direct-multiprocess`` spreads it over one process per core.
The presets below move that work to a cluster. Each preset holds the options
that make the runner work with this project; the options that name *your*
cluster (project, endpoint, ...) are required and come from ``--beam-arg``.
Options given later win, so ``--beam-arg`` also overrides a preset's default.

Presets (options as Beam 2.74 defines them in
``apache_beam/options/pipeline_options.py``):

- ``direct``: Beam's local FnApiRunner in-process (``in_memory``), the
  runner DirectRunner settles on for batch pipelines, named so that no
  PrismRunner binary is downloaded (see ``DEFAULT_BEAM_ARGS``). The default.
- ``direct-multiprocess``: DirectRunner, one SDK worker process per core
  (``multi_processing``); pays a TensorFlow import per worker and component,
  so it only wins on many cores with large data. DirectRunner, not the
  FnApiRunner by name, because only DirectRunner hands the pipeline options
  to the worker processes; it tries PrismRunner first (see above).
- ``dataflow``: Google Cloud Dataflow. Required: ``--project``, ``--region``,
  ``--temp_location`` (a gs:// folder; derived from a gs:// pipeline root) and
  ``--sdk_container_image`` (the pipeline image, which carries TFX and this
  project's code, and Beam's ``/opt/apache/beam/boot`` entrypoint; filled in
  from ``--image`` when compiling for Kubeflow). Runner v2 is required for
  custom containers.
- ``flink``: Beam's portable FlinkRunner talking to a running Beam Flink job
  server. Required: ``--job_endpoint`` (host:port of the job server, 8099 by
  default). SDK workers run as an EXTERNAL worker pool: a sidecar next to each
  Flink task manager running the pipeline image with ``--worker_pool``
  (listening on localhost:50000).
- ``spark``: Beam's portable SparkRunner talking to a running Beam Spark job
  server. Required: ``--job_endpoint``. Same EXTERNAL worker pool as ``flink``.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

from tfxp.pipeline.config import DEFAULT_BEAM_ARGS

# Beam SDK worker pool address for the portable runners: the sidecar that runs
# ``<pipeline image> --worker_pool`` beside each Flink/Spark worker.
WORKER_POOL_ADDRESS = "localhost:50000"


@dataclasses.dataclass(frozen=True)
class BeamPreset:
    """A documented set of Beam options for one runner.

    Attributes:
      name: what ``--beam-preset`` takes.
      runner: the ``--runner`` value.
      summary: one line for ``--help``.
      args: options the preset always sets (overridable by later args).
      required: option names (Beam ``dest`` names, e.g. ``temp_location``)
        that must be non-empty once every argument is merged.
    """
    name: str
    runner: str
    summary: str
    args: Tuple[str, ...] = ()
    required: Tuple[str, ...] = ()


_PORTABLE_WORKERS = ("--environment_type=EXTERNAL",
                     f"--environment_config={WORKER_POOL_ADDRESS}")

PRESETS: Dict[str, BeamPreset] = {p.name: p for p in (
    BeamPreset("direct", "FnApiRunner",
               "local FnApiRunner, in-process (the default)",
               args=DEFAULT_BEAM_ARGS),
    BeamPreset("direct-multiprocess", "DirectRunner",
               "local DirectRunner, one worker process per core",
               args=("--direct_running_mode=multi_processing", "--direct_num_workers=0")),
    BeamPreset("dataflow", "DataflowRunner",
               "Google Cloud Dataflow with the pipeline image as SDK container",
               args=("--runner=DataflowRunner", "--experiments=use_runner_v2"),
               required=("project", "region", "temp_location", "sdk_container_image")),
    BeamPreset("flink", "FlinkRunner",
               "portable FlinkRunner via a Beam Flink job server (--job_endpoint)",
               args=("--runner=FlinkRunner",) + _PORTABLE_WORKERS,
               required=("job_endpoint",)),
    BeamPreset("spark", "SparkRunner",
               "portable SparkRunner via a Beam Spark job server (--job_endpoint)",
               args=("--runner=SparkRunner",) + _PORTABLE_WORKERS,
               required=("job_endpoint",)),
)}


# Runners that run the Beam work on this machine: Beam's in-process FnApiRunner
# and the DirectRunner family (``apache_beam/runners/direct/direct_runner.py``).
LOCAL_RUNNERS = ("FnApiRunner", "DirectRunner", "BundleBasedDirectRunner",
                 "SwitchingDirectRunner", "PrismRunner")


def runs_locally(args: Sequence[str]) -> bool:
    """Whether Beam options ``args`` run on this machine (``LOCAL_RUNNERS``;
    no ``--runner`` is Beam's DirectRunner), not on a cluster."""
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    runner = PipelineOptions(list(args)).view_as(StandardOptions).runner or "DirectRunner"
    return runner.rpartition(".")[2] in LOCAL_RUNNERS


def runs_in_process(args: Sequence[str]) -> bool:
    """Whether Beam options ``args`` run every bundle in this process with
    one worker (a local runner, ``direct_running_mode=in_memory``,
    ``direct_num_workers`` 1: the default), where nothing can spread work
    over workers."""
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions

    direct = PipelineOptions(list(args)).view_as(DirectOptions)
    return (runs_locally(args) and direct.direct_running_mode == "in_memory"
            and (direct.direct_num_workers or 1) == 1)


def get_preset(name: str) -> BeamPreset:
    """Raises ``ValueError`` naming the known presets for an unknown ``name``."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown Beam preset {name!r}; expected one of: "
                         f"{', '.join(PRESETS)}") from None


def preset_args(name: str, extra_args: Sequence[str] = (), *,
                image: Optional[str] = None,
                temp_root: Optional[str] = None) -> List[str]:
    """The ``beam_pipeline_args`` of preset ``name`` plus ``extra_args``.

    Args:
      name: a key of ``PRESETS``.
      extra_args: user options (``--key=value``), appended last so they win.
      image: the pipeline image; becomes Dataflow's ``--sdk_container_image``.
      temp_root: the pipeline root; a gs:// root gives Dataflow a default
        ``--temp_location`` of ``<temp_root>/beam-tmp``.
    Returns:
      The merged argument list, validated with ``validate``.
    Raises:
      ValueError: unknown preset, or a required option is missing.
    """
    preset = get_preset(name)
    args = list(preset.args)
    if preset.runner == "DataflowRunner":
        if image:
            args.append(f"--sdk_container_image={image}")
        if temp_root and temp_root.startswith("gs://"):
            args.append(f"--temp_location={temp_root.rstrip('/')}/beam-tmp")
    args.extend(extra_args)
    validate(preset, args)
    return args


def validate(preset: BeamPreset, args: Sequence[str]) -> Dict[str, object]:
    """Parses ``args`` as Beam ``PipelineOptions`` and checks them against ``preset``.

    Returns:
      ``PipelineOptions.get_all_options()`` of ``args``.
    Raises:
      ValueError: the runner differs from the preset's, or required options
        are unset; the message names them.
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    options = PipelineOptions(list(args)).get_all_options()
    runner = options.get("runner") or "DirectRunner"
    if runner != preset.runner:
        raise ValueError(f"Beam preset {preset.name!r} runs on {preset.runner}, "
                         f"but the arguments set --runner={runner}")
    missing = [f"--{key}" for key in preset.required if not options.get(key)]
    if missing:
        raise ValueError(f"Beam preset {preset.name!r} needs {', '.join(missing)}; "
                         f"pass them as --beam-arg=--OPTION=VALUE")
    return options
