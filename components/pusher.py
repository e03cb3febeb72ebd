"""Pusher executor that publishes versions atomically, with their warm-up file.

Subclasses TFX's filesystem Pusher executor (blessing checks, MLMD
properties and archiving stay TFX's) and replaces only the copy into the
serving folder with ``serving.versions.push_atomically``; see that module for
why TFX's own copy is not safe for a polling model server, and how a push
into a ``gs://``/``s3://`` base path (Kubeflow's default, under the pipeline
root) stays safe without an atomic rename.

Warm-up: when the infra validator (``components.infra_validator``) left a
warm-up file in its InfraBlessing (``WARMUP_FILE_IN_BLESSING``: PredictionLog
records built from real eval examples, as TFX's InfraValidator does with
``RequestSpec.make_warmup``), the pushed version gets it as
``assets.extra/tf_serving_warmup_requests``, in the same atomic push, unless
the model already carries one. Real TF Serving and ``serving.server`` then
both run those requests before the version takes traffic.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.components.pusher import executor as tfx_pusher_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from tfxp.serving.versions import push_atomically


class AtomicPushExecutor(tfx_pusher_executor.Executor):
    """Pushes a blessed model to ``<base_directory>/<version>`` atomically."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        base = destination.filesystem.base_directory
        model_path = self.GetModelPath(input_dict)
        extra = _warmup_from_blessing(input_dict, model_path)
        version, written = push_atomically(model_path, base, extra_files=extra)
        logging.info("model %s version %d at %s", "pushed as" if written
                     else "already served as", version, base)
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=f"{base}/{version}",
                         pushed_version=str(version))


def _warmup_from_blessing(input_dict: Dict[str, List[types.Artifact]],
                          model_path: str) -> Dict[str, bytes]:
    """``{WARMUP_FILE: bytes}`` from the InfraBlessing, or {} when there is
    none, it has no warm-up file, or the model brings its own."""
    import tensorflow as tf
    from tfxp.components.infra_validator import WARMUP_FILE_IN_BLESSING
    from tfxp.serving.warmup import WARMUP_FILE

    blessings = input_dict.get(standard_component_specs.INFRA_BLESSING_KEY) or []
    if not blessings or tf.io.gfile.exists(os.path.join(model_path, WARMUP_FILE)):
        return {}
    source = os.path.join(blessings[0].uri, WARMUP_FILE_IN_BLESSING)
    if not tf.io.gfile.exists(source):
        return {}
    with tf.io.gfile.GFile(source, "rb") as f:
        data = f.read()
    logging.info("adding %s (%d bytes) from the infra validator", WARMUP_FILE, len(data))
    return {WARMUP_FILE.replace(os.sep, "/"): data}


EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPushExecutor)
