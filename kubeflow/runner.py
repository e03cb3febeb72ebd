"""Compiles the pipeline for Kubeflow Pipelines v2 with ``KubeflowV2DagRunner``.

The pipeline is the one ``pipeline.pipeline.create_pipeline`` assembles for
the local runner; this module only chooses Kubeflow's side of it:

- **Images.** ``default_image`` is a dict: the Trainer runs in the GPU image,
  every other component in the CPU image (``kubeflow/Dockerfile``).
- **User code.** TFX normally packages the module file into a wheel under
  ``<pipeline_root>/_wheels`` *at compile time*, so compiling needs a writable
  ``pipeline_root`` and the machine that compiles must reach the bucket. Here
  the code is already in the image, so the module file is referenced by its
  in-image path (``/app/models/tfx_module/module_file.py``) and packaging is
  switched off while the components are built (``udf_utils`` reads
  ``UNSUPPORTED_DO_NOT_PACKAGE_USER_MODULES``). Compiling therefore writes
  nothing under ``pipeline_root`` and needs no access to it. The price: the image must be
  built from the same commit the spec is compiled from; ``code_version`` in
  the Transform/Trainer ``custom_config`` records which one.
- **Spec version.** Open-source KFP 2.x accepts only PipelineSpec schema
  2.1.0 (``backend/src/apiserver/template/v2_template.go``), so the runner
  uses ``use_pipeline_spec_2_1=True``.
- **Resolver.** Open-source KFP cannot run Resolver executors
  (``backend/src/v2/compiler/argocompiler/dag.go``: "resolver executors not
  implemented"), so for ``target='kfp'`` the latest-blessed-model Resolver is
  left out and the Evaluator blesses on absolute thresholds, and a warm start
  (``RunConfig.warm_start``, which feeds the Resolver's model to the Trainer)
  is refused. ``target='vertex'`` keeps it (Vertex AI Pipelines runs
  Resolver executors).
- **GPU.** ``trainer_gpus > 0`` sets the Trainer's ``platform_config`` to a
  ``ResourceSpec`` with an accelerator, which TFX copies into the executor's
  ``container.resources``; KFP turns ``accelerator {type, count}`` into the
  pod limit ``<type>: <count>`` (``backend/src/v2/driver/driver.go``).
- **Runtime parameters.** ``train_args`` and ``eval_args`` are pipeline
  parameters (JSON of ``TrainArgs``/``EvalArgs``, as in TFX's
  ``penguin_pipeline_kubeflow.py``), so a run can change the step counts
  without recompiling.
- **Pipeline root.** Written into the spec's ``defaultPipelineRoot``;
  ``submit`` also passes it as the run's ``pipeline_root``.
- **Data contract.** The curated schema is referenced at its in-image path
  (``/app/schemas/<dataset>/schema.pbtxt``); the CSV ExampleGen's column
  types are read from the local copy at compile time into its
  ``column_types`` parameter (``components/csv_example_gen.py``). The SQL checks of
  ``custom_validation.pbtxt`` are left out: TFX 1.16 passes that proto as a
  ``make_proto`` placeholder, which ``KubeflowV2DagRunner`` cannot compile;
  the schema checks still gate the data.
- **PVCs.** ``pvc_mounts`` adds a Kubernetes platform spec (second YAML
  document, the format of ``kfp-kubernetes``' ``mount_pvc``) mounting each
  claim into every task, for data roots or a serving base on a volume.
- **Paths the cluster can use** (``check_paths``, before anything is built).
  Every path is written into the spec as given and read by pods, never by
  the compiling machine, so compiling refuses: relative paths (each pod
  would resolve them in its own working folder, and TFX bakes the compiling
  machine's absolute path into some); a local pipeline root or serving base
  that no ``pvc_mounts`` volume covers (each pod has its own disk, so one
  task's outputs would be gone for the next; tfx#4019), and any local one
  for ``vertex``, which mounts no volumes and keeps artifacts in Cloud
  Storage; and a tabular data root whose kind, CSV file or folder, is not
  stated (``data_kind``, or a trailing ``/`` for a folder): looking at the
  compiling machine's disk decided it before, and a file that existed only
  on the cluster became an input base with pattern ``*`` matching nothing.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
from typing import Dict, Iterator, List, Optional, Tuple

from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx

from tfxp.core.uris import is_uri
from tfxp.kubeflow.image import IMAGE_DATA_DIR, IMAGE_TAXI_DIR, image_path
from tfxp.kubeflow.spec import (DATA_KINDS, DEFAULT_GPU_TYPE, EVAL_ARGS_PARAM, TARGETS,
                                TRAIN_ARGS_PARAM, check_kfp_compatible, executor_specs,
                                write_spec)
from tfxp.pipeline import schemas
from tfxp.pipeline.config import DEFAULT_BEAM_ARGS, RunConfig
from tfxp.core.datasets import TABULAR
from tfxp.pipeline.pipeline import MODULE_FILE, create_pipeline, csv_example_gen, trainer_args

IMAGE_MODULE_FILE = image_path(MODULE_FILE)
_PACKAGING_SWITCH = "UNSUPPORTED_DO_NOT_PACKAGE_USER_MODULES"

ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec


@dataclasses.dataclass
class KubeflowOptions:
    """Where and how the compiled pipeline runs.

    Attributes:
      pipeline_root: root of component outputs on the cluster. TFX executors
        open artifact URIs with TensorFlow's filesystems: gs:// works; s3://
        needs tensorflow-io in the image; minio:// is not readable by TF.
      image: CPU pipeline image (``kubeflow/Dockerfile`` target ``cpu``).
      gpu_image: the Trainer's image (target ``gpu``); None means ``image``.
      data_root: input data as the cluster sees it. Tabular families: a CSV
        file or folder (default: the taxi CSV baked into the image). Image and
        text families: the folder holding ``fashion_mnist/``/``rotten_tomatoes/``
        (default: the image's ``/app/data``).
      data_kind: ``file`` or ``folder``: what a tabular ``data_root`` is on
        the cluster; None only for a default data root or one ending in ``/``.
      serving_base: where the Pusher writes model versions; None means
        ``<pipeline_root>/serving/<model name>``.
      trainer_gpus: GPUs requested for the Trainer pod (0 = none).
      gpu_type: the accelerator resource name (``nvidia.com/gpu`` on KFP).
      target: ``kfp`` (open-source Kubeflow Pipelines 2.x) or ``vertex``.
      beam_pipeline_args: Beam options for every Beam-based component; None
        means the local default (FnApiRunner in-process) inside each pod.
      pvc_mounts: PersistentVolumeClaim name -> mount path, mounted in every task.
    """
    pipeline_root: str
    image: str
    gpu_image: Optional[str] = None
    data_root: Optional[str] = None
    data_kind: Optional[str] = None
    serving_base: Optional[str] = None
    trainer_gpus: int = 0
    gpu_type: str = DEFAULT_GPU_TYPE
    target: str = "kfp"
    beam_pipeline_args: Optional[List[str]] = None
    pvc_mounts: Dict[str, str] = dataclasses.field(default_factory=dict)

    def validate(self) -> None:
        """Raises ``ValueError`` naming the first bad field."""
        if not self.pipeline_root:
            raise ValueError("pipeline_root is required, e.g. gs://BUCKET/tfxp")
        if not self.image:
            raise ValueError("image is required: the pipeline image pushed to a "
                             "registry the cluster can pull from")
        if self.target not in TARGETS:
            raise ValueError(f"unknown target {self.target!r}; expected one of: "
                             f"{', '.join(TARGETS)}")
        if self.trainer_gpus < 0:
            raise ValueError(f"trainer_gpus must be >= 0, got {self.trainer_gpus}")
        if self.trainer_gpus and not self.gpu_image:
            raise ValueError(f"trainer_gpus={self.trainer_gpus} needs a gpu_image: the "
                             f"CPU image {self.image!r} has no CUDA libraries")
        for claim, path in self.pvc_mounts.items():
            if not claim or not path.startswith("/"):
                raise ValueError(f"PVC mount {claim!r}={path!r}: expected "
                                 f"CLAIM=/absolute/mount/path")
        if self.data_kind is not None and self.data_kind not in DATA_KINDS:
            raise ValueError(f"unknown data_kind {self.data_kind!r}; expected one of: "
                             f"{', '.join(DATA_KINDS)}")


class UnreachablePath(ValueError):
    """An option holds a path the cluster cannot use.

    Attributes:
      field: the ``KubeflowOptions`` field (``tfxp compile``'s flag is
        ``--`` + the field with ``-`` for ``_``).
      value: the path as given.
      why: what is wrong and how to fix it.
    """

    def __init__(self, field: str, value: str, why: str):
        super().__init__(f"{field} {value!r}: {why}")
        self.field, self.value, self.why = field, value, why


def _covering_claim(path: str, pvc_mounts: Dict[str, str]) -> Optional[str]:
    """The claim whose mount path is ``path`` or one of its parents, or None."""
    for claim, mount in sorted(pvc_mounts.items()):
        mount = mount.rstrip("/") or "/"
        if path == mount or path.startswith(mount.rstrip("/") + "/"):
            return claim
    return None


def check_paths(config: RunConfig, options: KubeflowOptions) -> None:
    """Refuses paths a cluster cannot use (see the module docstring).

    Raises:
      UnreachablePath: the first offending option, naming its value and
        how to fix it.
    """
    for field in ("pipeline_root", "serving_base", "data_root"):
        value = getattr(options, field)
        if value and not is_uri(value) and not value.startswith("/"):
            raise UnreachablePath(field, value, (
                "a relative path; each pod would resolve it in its own working folder. "
                "Give a URI (gs://BUCKET/PATH) or an absolute path"))
    for field in ("pipeline_root", "serving_base"):
        value = getattr(options, field)
        if not value or is_uri(value):
            continue
        if options.target == "vertex":
            raise UnreachablePath(field, value, (
                "a local path; Vertex AI Pipelines mounts no volumes and keeps "
                "artifacts in Cloud Storage. Give gs://BUCKET/PATH"))
        if _covering_claim(value, options.pvc_mounts) is None:
            raise UnreachablePath(field, value, (
                "a local path, which every pod has on its own disk, so what one task "
                f"writes there is gone for the next. Mount a volume over it (--pvc "
                f"CLAIM={value}, or a parent folder) or give a URI (gs://BUCKET/PATH)"))
    tabular = config.dataset_spec.modality == TABULAR
    root, kind = options.data_root, options.data_kind
    if kind is not None and not root:
        raise UnreachablePath("data_kind", kind, (
            "describes --data-root, which is not given (the default, the copy in the "
            "image, is a folder)"))
    if not tabular and kind == "file":
        raise UnreachablePath("data_kind", kind, (
            f"{config.dataset_spec.name} is read from the folder holding it; give the "
            f"folder as --data-root and drop --data-kind"))
    if tabular and root:
        if kind is None and not root.endswith("/"):
            raise UnreachablePath("data_root", root, (
                "cannot tell whether it is a CSV file or a folder of CSV files on the "
                "cluster, and the compiling machine's disk does not decide it. Add "
                "--data-kind file or --data-kind folder"))
        if kind == "file" and root.endswith("/"):
            raise UnreachablePath("data_root", root, (
                "ends in '/', a folder, but --data-kind is file"))


def tabular_example_gen(options: KubeflowOptions, dataset: str = "chicago_taxi"):
    """The CSV ExampleGen over the tabular data root as the cluster sees it,
    typing columns by ``dataset``'s curated schema."""
    if not options.data_root:
        return csv_example_gen(IMAGE_TAXI_DIR, is_file=False, dataset=dataset)
    is_file = options.data_kind == "file"
    return csv_example_gen(options.data_root if is_file else
                           options.data_root.rstrip("/") or "/", is_file=is_file,
                           dataset=dataset)


def kubeflow_config(config: RunConfig, options: KubeflowOptions) -> RunConfig:
    """``config`` with its data locations as the cluster sees them."""
    data_root = options.data_root
    if config.dataset_spec.modality == TABULAR:
        return dataclasses.replace(config, csv=data_root or IMAGE_TAXI_DIR)
    return dataclasses.replace(config, data_dir=data_root or IMAGE_DATA_DIR)


def serving_base(config: RunConfig, options: KubeflowOptions) -> str:
    return options.serving_base or (
        f"{options.pipeline_root.rstrip('/')}/serving/{config.model_name}")


@contextlib.contextmanager
def _module_file_not_packaged() -> Iterator[None]:
    """Components built inside keep ``module_file`` as given (see module doc)."""
    old = os.environ.get(_PACKAGING_SWITCH)
    os.environ[_PACKAGING_SWITCH] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ[_PACKAGING_SWITCH]
        else:
            os.environ[_PACKAGING_SWITCH] = old


class _DropInvertedImageWarning(logging.Filter):
    """TFX 1.16's ``pipeline_builder._check_default_image`` warns
    "DEFAULT_IMAGE_PATH_KEY is not found" exactly when the key *is* there
    (inverted condition); the warning would send users looking for a bug."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "DEFAULT_IMAGE_PATH_KEY is not found" not in record.getMessage()


def step_parameters(config: RunConfig):
    """``train_args``/``eval_args`` runtime parameters; defaults from ``config``."""
    train, evaluation = trainer_args(config)
    return (
        tfx.dsl.experimental.RuntimeParameter(
            name=TRAIN_ARGS_PARAM, ptype=str, default=json.dumps(train)),
        tfx.dsl.experimental.RuntimeParameter(
            name=EVAL_ARGS_PARAM, ptype=str, default=json.dumps(evaluation)))


def build_pipeline(config: RunConfig, options: KubeflowOptions):
    """The TFX pipeline for ``config`` as it runs on the cluster, and its
    runtime parameters."""
    config = kubeflow_config(config, options)
    config.validate()
    train_args, eval_args = step_parameters(config)
    example_gen = {"example_gen": tabular_example_gen(options, config.dataset_spec.name)} if (
        config.dataset_spec.modality == TABULAR) else {}
    with _module_file_not_packaged():
        pipeline = create_pipeline(
            config, pipeline_root=options.pipeline_root,
            serving_base=serving_base(config, options),
            beam_pipeline_args=(list(options.beam_pipeline_args)
                                if options.beam_pipeline_args is not None
                                else list(DEFAULT_BEAM_ARGS)),
            module_file=IMAGE_MODULE_FILE,
            train_args=train_args, eval_args=eval_args,
            schema_file=image_path(schemas.schema_file(config.dataset_spec.name)),
            custom_validation=False,
            baseline=options.target == "vertex", **example_gen)
    if options.trainer_gpus:
        trainer = trainer_component(pipeline)
        trainer.with_platform_config(ResourceSpec(
            accelerator=ResourceSpec.AcceleratorConfig(
                type=options.gpu_type, count=options.trainer_gpus)))
    return pipeline, (train_args, eval_args)


def trainer_component(pipeline):
    trainers = [c for c in pipeline.components if isinstance(c, tfx.components.Trainer)]
    if len(trainers) != 1:
        raise ValueError(f"expected one Trainer in {pipeline.pipeline_info.pipeline_name}, "
                         f"found {len(trainers)}")
    return trainers[0]


def compile_spec(config: RunConfig, options: KubeflowOptions
                 ) -> Tuple[pipeline_spec_pb2.PipelineSpec, Optional[pipeline_spec_pb2.PlatformSpec]]:
    """Compiles ``config`` into a PipelineSpec (and a platform spec for PVCs).

    Raises:
      UnreachablePath: a path the cluster cannot use (``check_paths``).
      ValueError: bad options or config, or (``target='kfp'``) a spec that
        open-source KFP would reject (see ``check_kfp_compatible``).
    """
    options.validate()
    check_paths(config, options)
    pipeline, parameters = build_pipeline(config, options)
    images = {"default_image_path": options.image,
              trainer_component(pipeline).id: options.gpu_image or options.image}
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=images, use_pipeline_spec_2_1=True))
    absl_logger, drop = logging.getLogger("absl"), _DropInvertedImageWarning()
    absl_logger.addFilter(drop)
    try:
        job = runner.run(pipeline, write_out=False)
    finally:
        absl_logger.removeFilter(drop)
    spec = json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec(),
                                 ignore_unknown_fields=False)
    spec.default_pipeline_root = options.pipeline_root
    # TFX puts runtime-parameter defaults only into a PipelineJob's runtime
    # config, which a YAML PipelineSpec does not carry; without a default KFP
    # would demand every parameter at run creation.
    for param in parameters:
        definition = spec.root.input_definitions.parameters[param.name]
        definition.default_value.string_value = param.default
        definition.is_optional = True
    if options.target == "kfp":
        check_kfp_compatible(spec)
    return spec, platform_spec(spec, options.pvc_mounts)


def platform_spec(spec: pipeline_spec_pb2.PipelineSpec, pvc_mounts: Dict[str, str]
                  ) -> Optional[pipeline_spec_pb2.PlatformSpec]:
    """A Kubernetes platform spec mounting ``pvc_mounts`` into every container
    executor, or None without mounts.

    The per-executor config is ``KubernetesExecutorConfig`` of kfp-kubernetes
    (``kubernetes_platform/proto/kubernetes_executor_config.proto``:
    ``pvcMount: [{constant: CLAIM, mountPath: PATH}]``).
    """
    if not pvc_mounts:
        return None
    mounts = [{"constant": claim, "mountPath": path}
              for claim, path in sorted(pvc_mounts.items())]
    executors = {label: {"pvcMount": mounts}
                 for label, executor in executor_specs(spec).items()
                 if "container" in executor}
    return json_format.ParseDict(
        {"platforms": {"kubernetes": {"deploymentSpec": {"executors": executors}}}},
        pipeline_spec_pb2.PlatformSpec(), ignore_unknown_fields=False)


def compile_to_file(config: RunConfig, options: KubeflowOptions, output: str) -> str:
    """Compiles and writes the spec to ``output``; returns ``output``."""
    spec, platform = compile_spec(config, options)
    write_spec(output, spec, platform)
    return output
