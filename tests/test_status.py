"""``tfxp status``: runs read back from MLMD with start time, duration,
per-component state, eval metrics, blessing and pushed version; and the run
log a real run leaves in the workspace."""
from __future__ import annotations

import os
import re

import pytest

from tfxp.cli import main as cli

from tfxp.observability import mlmd
from tests.mlmd_fixtures import build_store, several_families


def _status(capsys, workspace, *argv):
    code = cli.main(["status", "--workspace", workspace, *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _row_and_components(out: str, run_id: str):
    """The listing row of ``run_id`` and the component lines under it."""
    lines = out.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith(run_id))
    below = []
    for line in lines[i + 1:]:
        if not line.startswith("    "):
            break
        below.append(line.strip())
    return lines[i], " ".join(below)


def test_status_lists_the_real_run_with_start_duration_states_metrics_and_version(
        dense_run, capsys):
    config, summary = dense_run
    code, out, _ = _status(capsys, config.workspace)
    assert code == 0
    assert out.splitlines()[0].split()[:4] == ["RUN", "ID", "PIPELINE", "STARTED"]
    row, components = _row_and_components(out, summary.run_id)
    fields = row.split()
    assert fields[1] == "dense-pipeline"
    assert f"{fields[2]} {fields[3]}" == mlmd.format_time(summary.start_ms)
    assert fields[4] == mlmd.format_duration(summary.wall_seconds)
    assert fields[5:8] == ["ok", "yes", summary.pushed_version]
    overall = summary.metrics["Overall"]
    assert f"auc={mlmd.format_metric(overall['auc'])}" in fields
    assert f"binary_accuracy={mlmd.format_metric(overall['binary_accuracy'])}" in fields
    for c in summary.components:
        assert f"{c.component}=COMPLETE" in components.split(), c.component
    # The run's wall time covers every component's own duration.
    assert summary.wall_seconds >= max(c.seconds for c in summary.components) > 0


def test_status_run_shows_one_run_with_start_and_every_component(dense_run, capsys):
    config, summary = dense_run
    code, out, _ = _status(capsys, config.workspace, "--run", summary.run_id)
    assert code == 0
    assert out.splitlines()[0] == f"run {summary.run_id} (dense-pipeline)"
    assert (f"started {mlmd.format_time(summary.start_ms)}, took "
            f"{mlmd.format_duration(summary.wall_seconds)}, state ok") in out
    for c in summary.components:
        assert re.search(rf"^  {re.escape(c.component)}\s+COMPLETE\s+{c.seconds:.1f}$", out,
                         re.M), c.component
    assert f"pushed: {summary.pushed_path}" in out
    # Every slice has its metrics line here (the run's own summary points here).
    for slice_name in summary.metrics:
        assert f"  metrics [{slice_name}]: " in out, slice_name
    assert len(summary.metrics) > 4 and "slices, see" not in out


def test_status_of_an_unknown_run_exits_2_naming_it(dense_run, capsys):
    config, _ = dense_run
    code, _, err = _status(capsys, config.workspace, "--run", "1999-01-01T00:00:00")
    assert code == 2
    assert err.strip() == "tfxp: error: no pipeline run '1999-01-01T00:00:00' in MLMD"


def test_status_without_a_store_exits_2(tmp_path, capsys):
    code, _, err = _status(capsys, str(tmp_path))
    assert code == 2 and "no MLMD store at" in err and "run the pipeline first" in err


def test_status_lists_runs_of_several_families_and_states_oldest_first(tmp_path, capsys):
    runs = several_families()
    build_store(str(tmp_path / "metadata.sqlite"), runs)
    code, out, _ = _status(capsys, str(tmp_path))
    assert code == 0
    listed = [line.split()[0] for line in out.splitlines()[1:] if not line.startswith(" ")]
    assert listed == [r.run_id for r in runs]
    expected = {  # state, blessed, pushed
        runs[0].run_id: ("ok", "yes", "1796000001"),
        runs[1].run_id: ("ok", "no", "-"),
        runs[2].run_id: ("failed", "-", "-"),
        runs[3].run_id: ("running", "-", "-"),
    }
    for run in runs:
        row, components = _row_and_components(out, run.run_id)
        assert row.split()[1] == run.pipeline
        assert tuple(row.split()[5:8]) == expected[run.run_id], row
        assert components.split() == [f"{c}={s}" for c, s in run.states]


def test_real_run_leaves_a_log_with_a_start_and_finish_line_per_component(dense_run):
    config, summary = dense_run
    path = os.path.join(config.workspace, "logs", f"{summary.run_id}.log")
    with open(path) as f:
        text = f.read()
    total = len(summary.components)
    done = re.findall(r"^\[tfxp \d\d:\d\d:\d\d\] (\S+): done in ([\d.]+)s \((\d+)/(\d+)\)$",
                      text, re.M)
    assert [name for name, *_ in done] == [c.component for c in summary.components]
    assert [int(i) for _, _, i, _ in done] == list(range(1, total + 1))
    assert {int(n) for *_, n in done} == {total}
    for c in summary.components:
        assert f"] {c.component}: started" in text
    # Progress durations agree with MLMD's execution times (both wall clock).
    mlmd_seconds = {c.component: c.seconds for c in summary.components}
    assert abs(float(dict((n, s) for n, s, *_ in done)["Trainer"])
               - mlmd_seconds["Trainer"]) < max(5.0, 0.1 * mlmd_seconds["Trainer"])
    # Keras' per-epoch lines and the third-party INFO records are in the file too.
    assert re.search(r"^Epoch 1/\d+$", text, re.M)
    assert "INFO absl: Component Trainer is running." in text


@pytest.mark.parametrize("command", ["run", "status", "report"])
def test_help_of_every_pipeline_subcommand_lists_each_default(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out.split("options:", 1)[1]
    blocks = re.split(r"\n(?=  -)", text.strip("\n"))
    options = [b for b in blocks if not b.lstrip().startswith("-h, --help")]
    assert options
    for block in options:
        assert "default" in " ".join(block.split()), block


def test_metrics_are_read_as_tfma_reads_them_without_tensorflow(dense_run):
    """observability.mlmd.load_metrics parses TFMA's metrics TFRecords itself
    (so ``tfxp status`` loads no TensorFlow); TFMA's own reader and
    view.util.convert_metrics_proto_to_dict on the same artefact agree, slice
    for slice and value for value."""
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.view import util as view_util

    config, summary = dense_run
    store = mlmd.open_store(config.metadata_path)
    uri = mlmd.run_outputs(store, summary.run_id)["Evaluator"]["ModelEvaluation"].uri
    expected = {}
    for slice_key, metrics in filter(None, (view_util.convert_metrics_proto_to_dict(p)
                                            for p in tfma.load_metrics(uri))):
        values = {}
        for output in metrics.values():
            for sub in output.values():
                values.update({name: float(value["doubleValue"]) for name, value in sub.items()
                               if isinstance(value, dict) and "doubleValue" in value})
        expected[tfma.slicer.stringify_slice_key(slice_key)] = values
    assert len(expected) > 1 and expected["Overall"]["example_count"] > 0
    assert mlmd.load_metrics(uri) == expected
