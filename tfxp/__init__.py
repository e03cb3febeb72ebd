"""tfx-pipelines: five Keras model families as one TFX pipeline, served by TF Serving.

The package root holds nothing but this docstring; ``setup.py`` maps each
top-level folder of the repository into it (``core/`` -> ``tfxp.core``,
``models/`` -> ``tfxp.models``, ...), one folder per layer.
"""
