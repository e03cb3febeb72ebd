"""tfx-pipelines: five Keras model families as one TFX pipeline, served by TF Serving.

The package root holds only the layer table; ``setup.py`` maps each
top-level folder of the repository into this package as one sub-package
(``core/`` -> ``tfxp.core``, ``models/`` -> ``tfxp.models``, ...).

``LAYERS``: folder -> rank. A module imports its own folder and folders of a
lower rank, never a higher or an equal one (``tests/test_layers.py``):

- 0 ``core``: shared facts (datasets, feature keys, signature names,
  workspace layout, environment set-up, exit codes); imports nothing of ours;
- 1 ``models`` (Keras builders, ``preprocessing_fn``, ``run_fn``, export)
  and ``serving`` (TF Serving's protocols: server, manager, clients);
- 2 ``components``: custom TFX components and executors;
- 3 ``pipeline``: ``create_pipeline``, ``RunConfig``, TFMA config, schemas;
- 4 ``observability``: MLMD summaries, HTML reports;
- 5 ``runner`` (the local run: log, lock, recovery; batch scoring) and ``kubeflow``;
- 6 ``cli``: the ``tfxp`` command line.
"""

LAYERS = {
    "core": 0,
    "models": 1,
    "serving": 1,
    "components": 2,
    "pipeline": 3,
    "observability": 4,
    "runner": 5,
    "kubeflow": 5,
    "cli": 6,
}
