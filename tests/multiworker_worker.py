"""One worker process of ``test_multiworker.py``.

Runs the Trainer's ``run_fn`` the way TFX's GenericExecutor prepares it
(module file loaded by path, ``FnArgs`` from real artifacts) under the
``TF_CONFIG`` the parent set, then saves the final Keras weights as ``.npz``
so the parent can compare workers.

Usage: python tests/multiworker_worker.py JOB_JSON, where JOB_JSON holds the
artifact URIs (``examples``, ``transform_graph``, ``schema``, ``model``,
``model_run``), ``train_steps``, ``eval_steps``, ``custom_config`` and
``weights_out``.
"""
from tfxp.core import env  # noqa: F401  (TF_USE_LEGACY_KERAS before TF import)

import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import tf_keras as keras  # noqa: E402
from tfx.components.trainer import executor as trainer_executor  # noqa: E402
from tfx.components.util import udf_utils  # noqa: E402
from tfx.types import artifact_utils, standard_artifacts  # noqa: E402
from tfx.types import standard_component_specs as keys  # noqa: E402

from tfxp.pipeline.pipeline import MODULE_FILE  # noqa: E402


def artifact(cls, uri):
    result = cls()
    result.uri = uri
    return result


def main(job):
    examples = artifact(standard_artifacts.Examples, job["examples"])
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    inputs = {keys.EXAMPLES_KEY: [examples],
              keys.TRANSFORM_GRAPH_KEY: [artifact(standard_artifacts.TransformGraph,
                                                  job["transform_graph"])],
              keys.SCHEMA_KEY: [artifact(standard_artifacts.Schema, job["schema"])]}
    outputs = {keys.MODEL_KEY: [artifact(standard_artifacts.Model, job["model"])],
               keys.MODEL_RUN_KEY: [artifact(standard_artifacts.ModelRun, job["model_run"])]}
    exec_properties = {
        keys.TRAIN_ARGS_KEY: json.dumps({"num_steps": job["train_steps"]}),
        keys.EVAL_ARGS_KEY: json.dumps({"num_steps": job["eval_steps"]}),
        keys.CUSTOM_CONFIG_KEY: json.dumps(job["custom_config"]),
        keys.MODULE_FILE_KEY: MODULE_FILE}
    fn_args = trainer_executor.GenericExecutor()._GetFnArgs(inputs, outputs, exec_properties)
    run_fn = udf_utils.get_fn(exec_properties, "run_fn")

    trained = []
    fit = keras.Model.fit

    def recording_fit(self, *args, **kwargs):
        history = fit(self, *args, **kwargs)
        trained.append(self)
        return history

    keras.Model.fit = recording_fit
    run_fn(fn_args)
    np.savez(job["weights_out"], *[w.numpy() for w in trained[-1].weights])


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
