"""Installs one import package, ``tfxp``, and the ``tfxp`` command.

The design card fixes the top-level folders (``pipeline/``, ``components/``,
``models/``, ``serving/``, ``kubeflow/``); ``package_dir`` maps each folder
into ``tfxp`` as a sub-package (``models/`` -> ``tfxp.models``) instead of
moving them under ``tfxp/``, so the repository reads as the card draws it and
site-packages gets one name. Generic top-level names would collide with other
projects (``models``, ``serving``) and shadow the ``kubeflow`` namespace of
Kubeflow's own SDKs. ``tfxp/`` holds only the package root.

Layers (README, "Layout"; ``tests/test_layers.py`` keeps them): ``core`` <
``models``, ``serving`` < ``components`` < ``pipeline`` < ``observability``
< ``runner``, ``kubeflow`` < ``cli``; a module imports only its own folder
and the layers below it.

Dependencies are pinned in requirements.lock and installed from it (see
scripts/setup.sh); setup.py declares none so that an editable install never
re-resolves the TFX stack.
"""
import os

from setuptools import setup

ROOT = "tfxp"
# Top-level folder -> sub-package of tfxp, lowest layer first.
LAYERS = ("core", "models", "serving", "components", "pipeline", "observability",
          "runner", "kubeflow", "cli")


def _packages():
    """(package -> folder) of ``tfxp`` and every package folder below a layer."""
    mapping = {ROOT: ROOT}
    for layer in LAYERS:
        for folder, _, files in os.walk(layer):
            if "__init__.py" in files:
                mapping[".".join([ROOT, *folder.split(os.sep)])] = folder
    return mapping


PACKAGE_DIR = _packages()

setup(
    name="tfx-pipelines",
    version="0.1.0",
    description="A TFX pipeline for five Keras model families, served by TF Serving",
    python_requires=">=3.10,<3.11",
    packages=sorted(PACKAGE_DIR),
    package_dir=PACKAGE_DIR,
    package_data={"tfxp.models": ["tfx_module/*.py"],
                  "tfxp.observability": ["REPORTS.md"]},
    entry_points={"console_scripts": ["tfxp=tfxp.cli.main:console_main"]},
)
