"""Reading, writing and checking compiled PipelineSpecs, and the names the
runner, the CLI and ``submit`` share (run parameters, targets, GPU type).

Light on purpose (protobuf, PyYAML and kfp-pipeline-spec only, no TFX), so
that ``submit`` and ``tfxp --help`` need no TensorFlow import.
"""
from __future__ import annotations

import contextlib
import os
import re
import uuid
from typing import TYPE_CHECKING, Dict, Optional, Tuple

import yaml
from google.protobuf import json_format

if TYPE_CHECKING:  # kfp is imported where a spec is parsed, not by `tfxp --help`
    from kfp.pipeline_spec import pipeline_spec_pb2

TRAIN_ARGS_PARAM, EVAL_ARGS_PARAM = "train_args", "eval_args"
TARGETS = ("kfp", "vertex")
# What a tabular --data-root is on the cluster (kubeflow.runner.check_paths).
DATA_KINDS = ("file", "folder")
# Kubernetes extended resource of NVIDIA's device plugin; on Vertex AI use an
# accelerator name such as NVIDIA_TESLA_T4 instead.
DEFAULT_GPU_TYPE = "nvidia.com/gpu"
KFP_SCHEMA_VERSION = "2.1.0"
# pipelineInfo.name as KFP's API server requires it (v2_template.go).
_KFP_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")


def executor_specs(spec: pipeline_spec_pb2.PipelineSpec) -> Dict[str, dict]:
    """``deploymentSpec.executors`` as plain dicts (label -> ExecutorSpec JSON)."""
    return json_format.MessageToDict(spec.deployment_spec).get("executors", {})


def check_kfp_compatible(spec: pipeline_spec_pb2.PipelineSpec) -> None:
    """Rejects what open-source KFP 2.x rejects, before a cluster does.

    Raises:
      ValueError: schema version other than 2.1.0, a pipeline name KFP does
        not accept, a Resolver executor, or a container without image/command.
    """
    if spec.schema_version != KFP_SCHEMA_VERSION:
        raise ValueError(f"KFP only supports PipelineSpec schema {KFP_SCHEMA_VERSION}, "
                         f"got {spec.schema_version!r}")
    name = spec.pipeline_info.name
    if not _KFP_NAME.match(name):
        raise ValueError(f"pipeline name {name!r} is not valid on KFP: lower-case "
                         f"letters, digits, '-' and '.' only")
    for label, executor in executor_specs(spec).items():
        if "resolver" in executor:
            raise ValueError(f"executor {label!r} is a Resolver, which open-source KFP "
                             f"cannot run; compile with target='vertex' or drop it")
        container = executor.get("container")
        if container is not None and not (container.get("image") and container.get("command")):
            raise ValueError(f"executor {label!r} has no image or command")


def spec_parameters(spec: pipeline_spec_pb2.PipelineSpec) -> Dict[str, str]:
    """Pipeline parameters a run can set: name -> default value (None: required)."""
    return {name: json_format.MessageToDict(definition).get("defaultValue")
            for name, definition in spec.root.input_definitions.parameters.items()}


def write_spec(path: str, spec: pipeline_spec_pb2.PipelineSpec,
               platform: Optional[pipeline_spec_pb2.PlatformSpec] = None) -> None:
    """Writes ``spec`` (and ``platform``, as a second document) as YAML, the
    package format ``kfp.Client`` uploads.

    The file is written beside ``path`` under a temporary name and renamed
    over it, so a failed write leaves no half-written spec (and an older
    spec at ``path`` intact).

    Raises:
      OSError: the folder cannot be created or written.
    """
    docs = [json_format.MessageToDict(spec)]
    if platform is not None:
        docs.append(json_format.MessageToDict(platform))
    header = (f"# PIPELINE DEFINITION\n# Name: {spec.pipeline_info.name}\n"
              f"# Compiled by kubeflow/runner.py with tfx-KubeflowV2DagRunner "
              f"({spec.sdk_version}).\n")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "x") as f:
            f.write(header)
            yaml.safe_dump_all(docs, f, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load_spec(path: str) -> Tuple[pipeline_spec_pb2.PipelineSpec,
                                  Optional[pipeline_spec_pb2.PlatformSpec]]:
    """Parses a spec file strictly: unknown fields raise ``ParseError``.

    Raises:
      ValueError: the file holds no document or more than two.
    """
    from kfp.pipeline_spec import pipeline_spec_pb2

    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    if not 1 <= len(docs) <= 2:
        raise ValueError(f"{path!r} holds {len(docs)} YAML documents; expected a "
                         f"PipelineSpec and optionally a PlatformSpec")
    spec = json_format.ParseDict(docs[0], pipeline_spec_pb2.PipelineSpec(),
                                 ignore_unknown_fields=False)
    platform = (json_format.ParseDict(docs[1], pipeline_spec_pb2.PlatformSpec(),
                                      ignore_unknown_fields=False)
                if len(docs) == 2 else None)
    return spec, platform


