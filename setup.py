"""Installs the project's packages and the ``tfxp`` command.

Dependencies are pinned in requirements.lock and installed from it (see
scripts/setup.sh); setup.py declares none so that an editable install never
re-resolves the TFX stack.
"""
from setuptools import find_packages, setup

setup(
    name="tfx-pipelines",
    version="0.1.0",
    description="A TFX pipeline for five Keras model families, served by TF Serving",
    python_requires=">=3.10,<3.11",
    packages=find_packages(include=["pipeline*", "components*", "models*",
                                    "serving*", "kubeflow*"]),
    package_data={"models": ["tfx_module/*.py"]},
    entry_points={"console_scripts": ["tfxp=pipeline.cli:console_main"]},
)
