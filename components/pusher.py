"""Pusher executor that publishes versions atomically.

Subclasses TFX's filesystem Pusher executor (blessing checks, MLMD
properties and archiving stay TFX's) and replaces only the copy into the
serving folder with ``serving.versions.push_atomically``; see that module for
why TFX's own copy is not safe for a polling model server, and how a push
into a ``gs://``/``s3://`` base path (Kubeflow's default, under the pipeline
root) stays safe without an atomic rename.
"""
from __future__ import annotations

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
        version, written = push_atomically(model_path, base)
        logging.info("model %s version %d at %s", "pushed as" if written
                     else "already served as", version, base)
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=f"{base}/{version}",
                         pushed_version=str(version))


EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(AtomicPushExecutor)
