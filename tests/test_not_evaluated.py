""""Not evaluated: no thresholds" is a state of its own.

``tfxp run --threshold none`` trains and evaluates with metrics but no
blessing threshold. TFX's Evaluator then writes its blessing without a
``blessed`` property and TFMA records ``missing_thresholds``; the Pusher,
correctly, pushes nothing. One small real run (Dense on the taxi CSV, 30
steps) shows the state in the run summary, the HTML report, ``tfxp report``
and ``tfxp status``; the bad-input cases need no run.
"""
import contextlib
import io
import os

import pytest

from tfxp.cli import main as cli
from tfxp.observability import mlmd
from tfxp.serving.versions import list_versions
from tests.conftest import DATA_DIR
from tests.mlmd_fixtures import build_store, several_families

REASON = ("nothing pushed (not evaluated: no thresholds, and the Pusher pushes only "
          "models the Evaluator blessed)")


def _cli(*argv):
    """``(exit code, stdout, stderr)`` of ``tfxp ARGV`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def unthresholded_run(tmp_path_factory):
    """``(workspace, run id, exit code, stdout, stderr)`` of a real tiny run
    with ``--threshold none``."""
    workspace = str(tmp_path_factory.mktemp("no_thresholds_ws"))
    code, out, err = _cli("run", "--model", "dense", "--workspace", workspace,
                          "--data-dir", DATA_DIR, "--train-steps", "30", "--eval-steps",
                          "3", "--epochs", "2", "--threshold", "none")
    run_id = mlmd.list_runs(mlmd.open_store(os.path.join(workspace, "metadata.sqlite")))[-1][1]
    return workspace, run_id, code, out, err


def test_the_run_summary_says_not_evaluated_and_why_nothing_was_pushed(unthresholded_run):
    workspace, run_id, code, out, err = unthresholded_run
    assert code == 0, err[-2000:]
    assert "  blessed: not evaluated: no thresholds\n" in out
    assert f"  pushed: {REASON}\n" in out
    assert "metrics [Overall]: auc=" in out  # evaluated for metrics, all the same
    assert list_versions(os.path.join(workspace, "serving", "dense")) == []
    report = os.path.join(workspace, "reports", run_id, "index.html")
    assert f"  report: {report}" in out and "not written" not in err
    assert os.path.isfile(report)


def test_report_renders_the_state_instead_of_failing(unthresholded_run):
    workspace, run_id, *_ = unthresholded_run
    code, out, err = _cli("report", "--workspace", workspace, "--run", run_id)
    assert (code, err) == (0, "")
    with open(out.strip(), encoding="utf-8") as f:
        text = f.read()
    assert "blessed <b>not evaluated: no thresholds</b>" in text
    blessing = text[text.index('<section id="blessing">'):text.index('<section id="data">')]
    assert "not evaluated: no thresholds" in blessing
    assert "pushed nothing" in blessing
    assert "TFMA validation failed" not in text and "Failed checks" not in text
    assert 'src="slices.png"' in text  # the metrics are still shown


def test_status_lists_the_state_and_shows_it_for_the_run(unthresholded_run):
    workspace, run_id, *_ = unthresholded_run
    code, out, _ = _cli("status", "--workspace", workspace)
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith(run_id))
    assert row.split()[5:8] == ["ok", "no-thresholds", "-"]
    code, out, _ = _cli("status", "--workspace", workspace, "--run", run_id)
    assert code == 0
    assert "  blessed: not evaluated: no thresholds\n" in out and f"  pushed: {REASON}" in out


def test_threshold_none_with_a_metric_drop_is_refused_on_one_line(tmp_path):
    code, _, err = _cli("run", "--workspace", str(tmp_path), "--threshold", "none",
                        "--max-metric-drop", "0.01")
    assert code == cli.EXIT_USAGE
    assert err.strip() == ("tfxp: error: threshold none evaluates without thresholds; "
                           "drop metric_threshold and max_metric_drop")


def test_a_report_that_cannot_be_written_fails_on_one_line(tmp_path):
    runs = several_families()
    build_store(str(tmp_path / "metadata.sqlite"), runs)
    (tmp_path / "reports").write_text("a file where the reports folder goes")
    code, out, err = _cli("report", "--workspace", str(tmp_path), "--run", runs[2].run_id)
    assert (code, out) == (cli.EXIT_USAGE, "")
    assert err.startswith("tfxp: error: report not written: ") and err.count("\n") == 1
