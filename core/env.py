"""Process environment that must be fixed before TensorFlow is imported.

Import this module first in every entry point (CLI, tests, module file).

- ``TF_USE_LEGACY_KERAS=1``: TFT 1.16 and TFMA 0.47 are built on Keras 2
  (``tf_keras``); with Keras 3 active, ``tf.cast`` on a KerasTensor fails and
  saving an LSTM with dropout raises "untracked resource" (see shared/STACK.md).
- ``TF_CPP_MIN_LOG_LEVEL=3`` and warning filters keep third-party noise
  (google-api-core's Python-version FutureWarnings, TF's C++ info logs) out of
  the user's face. ``quiet(False)`` (the CLI's ``--verbose``) shows it again,
  provided it runs before TensorFlow is imported (the CLI imports TF lazily).
- During a pipeline run, ``runner.runlog`` routes third-party log records
  to the run's log file and, unless verbose, only ERRORs to the console.
"""
import logging
import os
import warnings

from absl import logging as absl_logging

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# 3 also hides the C++ "Unable to register cuDNN/cuFFT factory" lines that
# TF 2.16 prints at import on machines without CUDA; real failures still
# surface as Python exceptions.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_verbose = False

_NOISY_WARNINGS = (
    (FutureWarning, r".*[Pp]ython version.*"),
    (FutureWarning, r".*google.*"),
    (DeprecationWarning, r".*"),
    (UserWarning, r".*tensorflow_io.*"),
)


def _not_beam_resource_notice(record: logging.LogRecord) -> bool:
    """False for the line Beam 2.74's RunInference logs on the root logger at
    every batch when ``apache_beam.ml.inference.model_manager`` cannot be
    imported (it imports torch, which this stack does not have, and Beam then
    forgets the ``resource`` module too): harmless, memory is just not
    reported."""
    return not record.getMessage().startswith("Resource module is not available")


def quiet(enabled: bool = True) -> None:
    """Filters known-harmless third-party warnings and log lines.

    Args:
      enabled: True filters them (the default); False restores Python's
        default warning behaviour and TF's INFO logs, for ``--verbose``.
    """
    global _verbose
    _verbose = not enabled
    if not enabled:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        warnings.resetwarnings()
        absl_logging.set_verbosity(absl_logging.INFO)
        for name in ("apache_beam", "tensorflow", "google"):
            logging.getLogger(name).setLevel(logging.INFO)
        logging.getLogger().removeFilter(_not_beam_resource_notice)
        return
    for category, pattern in _NOISY_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern, category=category)
    # TFMA's confusion-matrix plots divide by zero at the extreme thresholds.
    warnings.filterwarnings("ignore", message=r"invalid value encountered in divide",
                            category=RuntimeWarning, module=r"tensorflow_model_analysis\.")
    # Also hide them in Beam worker subprocesses, which inherit the environment.
    # The setuptools message comes from the wheel TFX builds of the module
    # file (``setup.py bdist_wheel`` in a subprocess).
    os.environ.setdefault(
        "PYTHONWARNINGS", "ignore::FutureWarning,ignore::DeprecationWarning,"
        "ignore:setup.py install is deprecated")
    # Their WARNINGs are deprecation notices and TFX internals (e.g. TF's
    # "tf_record_iterator is deprecated" on every TFMA load); ERRORs still show.
    # absl through its verbosity flag: TF's SavedModel export resets the absl
    # logger to that flag's value.
    absl_logging.set_verbosity(absl_logging.ERROR)
    for name in ("apache_beam", "tensorflow", "google"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger().addFilter(_not_beam_resource_notice)


def is_verbose() -> bool:
    """True after ``quiet(False)`` (the CLI's ``--verbose``)."""
    return _verbose


quiet(True)
