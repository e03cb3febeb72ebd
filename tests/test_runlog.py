"""Progress lines and the run log (runner/runlog.py) without a pipeline:
the records LocalDagRunner emits are replayed on the ``absl`` logger."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

from tfxp.runner import runlog

# What `setup.py bdist_wheel` prints on stdout when TFX packages the module
# file (captured from a real run, version hashes shortened).
WHEEL_STDOUT = """running bdist_wheel
running build
running build_py
creating build/lib
copying module_file.py -> build/lib
installing to /tmp/tmprw98zudp
running install
running install_lib
copying build/lib/module_file.py -> /tmp/tmprw98zudp/.
running install_egg_info
running egg_info
creating tfx_user_code_Trainer.egg-info
writing tfx_user_code_Trainer.egg-info/PKG-INFO
Copying tfx_user_code_Trainer.egg-info to /tmp/tmprw98zudp/./tfx_user_code_Trainer-0.0+0057ee35-py3.10.egg-info
running install_scripts
creating '/tmp/tmpyx1dkguy/tfx_user_code_trainer-0.0+0057ee35-py3-none-any.whl' and adding '/tmp/tmprw98zudp' to it
adding 'module_file.py'
removing /tmp/tmprw98zudp"""

PIP_INSTALL = """Looking in indexes: https://pypi.org/simple, file:///opt/pypi/simple
Looking in links: /opt/wheels
Processing /ws/pipeline_root/dense-pipeline/_wheels/tfx_user_code_transform-0.0+0057ee35-py3-none-any.whl
Installing collected packages: tfx-user-code-transform
Successfully installed tfx-user-code-transform-0.0+0057ee35"""


class FakeClock:
    def __init__(self, start: float = 1_796_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now


def _replay(handler_logger, *records):
    for level, msg, *args in records:
        handler_logger.log(level, msg, *args)


def test_console_filter_drops_the_wheel_build_and_keeps_everything_else():
    keep = ["Epoch 1/2", "15/15 - 2s - loss: 0.6052 - accuracy: 0.7451",
            "[trainer] family=dense dataset=chicago_taxi", "running dense-pipeline"]
    f = runlog.ConsoleFilter()
    shown = [line for line in [keep[0], *WHEEL_STDOUT.splitlines(), *keep[1:]]
             if f.passes(line)]
    assert shown == keep
    stderr = runlog.ConsoleFilter()
    assert not stderr.passes("warning: build_py: byte-compiling is disabled, skipping.")
    assert not stderr.passes("")  # the blank line that follows it
    assert stderr.passes("")  # a blank line on its own stays
    assert stderr.passes("Traceback (most recent call last):")
    pip = runlog.ConsoleFilter()  # pip installing the module-file wheel (Transform, Trainer)
    assert [pip.passes(line) for line in PIP_INSTALL.splitlines()] == [False] * 5
    assert pip.passes("Successfully installed numpy-1.26.4")


def test_console_filter_gives_up_on_a_wheel_block_that_never_ends():
    f = runlog.ConsoleFilter(max_block=5)
    assert not f.passes("running bdist_wheel")
    assert [f.passes(f"line {i}") for i in range(6)] == [False] * 5 + [True]


def test_progress_handler_prints_start_done_cached_and_failed_with_durations():
    lines, clock = [], FakeClock()
    handler = runlog.ProgressHandler(lines.append, total=3, clock=clock)
    logger = logging.getLogger("tfxp-test-progress")
    logger.propagate, logger.handlers = False, [handler]
    logger.setLevel(logging.INFO)
    logger.info("Component %s is running.", "CsvExampleGen")
    clock.now += 51.5
    logger.info("Component %s is finished.", "CsvExampleGen")
    logger.info("Component %s is running.", "StatisticsGen")
    logger.info("A cached execution %d is used.", 7)
    clock.now += 0.3
    logger.info("Component %s is finished.", "StatisticsGen")
    logger.info("Component %s is running.", "Trainer")
    logger.info("Going to run a new execution %d", 8)  # not a progress line
    clock.now += 12.0
    handler.failed(RuntimeError("out of memory\nmore detail"))
    stamp = lambda t: runlog.progress_line(t, "X", "").split("]")[0]  # noqa: E731
    start = 1_796_000_000.0
    assert lines == [
        f"{stamp(start)}] CsvExampleGen: started",
        f"{stamp(start + 51.5)}] CsvExampleGen: done in 51.5s (1/3)",
        f"{stamp(start + 51.5)}] StatisticsGen: started",
        f"{stamp(start + 51.8)}] StatisticsGen: cached in 0.3s (2/3)",
        f"{stamp(start + 51.8)}] Trainer: started",
        f"{stamp(start + 63.8)}] Trainer: FAILED after 12.0s: RuntimeError: out of memory",
    ]


def _run_logged(tmp_path, verbose):
    """Writes through every channel a pipeline run uses; returns the log text."""
    with runlog.run_logging(str(tmp_path / "logs"), "demo-pipeline", total_components=1,
                            verbose=verbose) as log:
        absl = logging.getLogger("absl")
        absl.info("Component %s is running.", "Trainer")
        print("Epoch 1/2", flush=True)
        os.write(1, (WHEEL_STDOUT + "\n").encode())
        os.write(2, b"warning: build_py: byte-compiling is disabled, skipping.\n")
        subprocess.run([sys.executable, "-c", "print('from a subprocess')"], check=True)
        absl.warning("noisy third-party warning")
        logging.getLogger("tensorflow").info("tf info record")
        absl.info("Component %s is finished.", "Trainer")
    assert os.path.basename(log.path).startswith("demo-pipeline-")
    path = log.finish("2026-11-30T01:05:02.032821")
    assert path == str(tmp_path / "logs" / "2026-11-30T01:05:02.032821.log")
    with open(path) as f:
        return f.read()


def test_run_log_holds_everything_and_the_quiet_console_only_what_matters(tmp_path, capfd):
    text = _run_logged(tmp_path, verbose=False)
    out, err = capfd.readouterr()
    for expected in ("Trainer: started", "Trainer: done in", "Epoch 1/2", "running bdist_wheel",
                     "removing /tmp/tmprw98zudp", "byte-compiling is disabled",
                     "from a subprocess", "noisy third-party warning", "tf info record"):
        assert expected in text, expected
    assert "Trainer: started" in out and "Trainer: done in" in out and "(1/1)" in out
    assert "Epoch 1/2" in out and "from a subprocess" in out
    for hidden in ("running bdist_wheel", "adding 'module_file.py'", "removing /tmp"):
        assert hidden not in out, hidden
    assert "byte-compiling" not in err and "noisy third-party warning" not in err
    # Handlers and levels are restored afterwards.
    assert runlog.ProgressHandler not in {type(h) for h in logging.getLogger("absl").handlers}


def test_verbose_run_shows_third_party_records_and_the_wheel_build(tmp_path, capfd):
    text = _run_logged(tmp_path, verbose=True)
    out, err = capfd.readouterr()
    assert "running bdist_wheel" in out and "byte-compiling is disabled" in err
    assert "WARNING:absl:noisy third-party warning" in err
    assert "INFO:tensorflow:tf info record" in err
    # Records shown on the console reach the file once, through the fd copy.
    assert text.count("noisy third-party warning") == 1


def test_progress_lines_survive_a_savedmodel_export_mid_run(tmp_path, capsys):
    """tf.saved_model.save (Transform, Trainer) sets absl's verbosity flag to
    FATAL and back; the finish line after it must still be printed."""
    import tensorflow as tf

    module = tf.Module()
    module.double = tf.function(lambda x: 2 * x,
                                input_signature=[tf.TensorSpec([None], tf.float32)])
    with runlog.run_logging(str(tmp_path / "logs"), "demo-pipeline", verbose=False):
        absl = logging.getLogger("absl")
        absl.info("Component %s is running.", "Trainer")
        tf.saved_model.save(module, str(tmp_path / "model"))
        absl.info("Component %s is finished.", "Trainer")
    assert "Trainer: done in" in capsys.readouterr().out
    assert logging.getLogger("absl").getEffectiveLevel() == logging.ERROR  # env.quiet's


def test_the_runner_silences_tfma_confusion_matrix_divisions_only():
    """A confusion matrix with nothing predicted positive (or nothing at all)
    makes TFMA divide by zero for its derived rates; the local runner
    silences that module's RuntimeWarning, not numpy's elsewhere. Run in a
    fresh interpreter: pytest resets warning filters around each test."""
    code = (
        "import warnings, numpy as np\n"
        "import tfxp.runner.local_runner\n"
        "from tensorflow_model_analysis.metrics import binary_confusion_matrices as b\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    m = b.Matrices(thresholds=[0.5], tp=[0.0], tn=[0.0], fp=[0.0], fn=[0.0])\n"
        "    m.to_proto()\n"
        "    tfma = len(caught)\n"
        "    np.array([1.0]) / np.array([0.0])\n"
        "print(tfma, len(caught) - tfma)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[-2:] == ["0", "1"], out
