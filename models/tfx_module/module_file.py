"""TFX module file: only what Transform and Trainer call.

It sits alone in its folder because TFX packages every ``.py`` beside the
module file into the user-code wheel. Code changes elsewhere reach the cache
key through ``custom_config['code_version']`` (see ``pipeline.pipeline``).
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from tfxp.models.preprocessing import preprocessing_fn  # noqa: E402,F401
from tfxp.models.training import run_fn  # noqa: E402,F401
