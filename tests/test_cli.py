"""Bad input to ``tfxp run``: one clear line on stderr, exit code 2, no
traceback, and nothing already pushed is touched."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from tfxp.cli import main as cli
from tfxp.serving.versions import list_versions, saved_model_digest
from tests.taxi_rows import read_rows


def _run(capsys, *argv):
    code = cli.main(["run", *argv])
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.fixture
def taxi_csv(tmp_path):
    from tfxp.core.datasets import taxi_csv_dir
    path = tmp_path / "taxi.csv"
    shutil.copy(os.path.join(taxi_csv_dir(), "data.csv"), path)
    return path


@pytest.mark.parametrize("argv, expected", [
    (["--model", "resnt"], "unknown model family 'resnt'; expected one of: dense, cnn, resnet, lstm, transformer"),
    (["--dataset", "taxi"], "unknown dataset 'taxi'; expected one of: chicago_taxi"),
    (["--model", "cnn", "--dataset", "chicago_taxi"], "model family 'cnn' takes image data"),
    (["--csv", "/nonexistent/trips.csv"], "CSV path '/nonexistent/trips.csv' does not exist"),
    (["--train-steps", "0"], "train_steps must be >= 1, got 0"),
    (["--threshold", "2"], "threshold must be in [0, 1] (an AUC or an accuracy), got 2.0"),
    (["--epochs", "0"], "epochs must be >= 1, got 0"),
    (["--early-stopping-patience", "-1"], "early_stopping_patience must be >= 1, got -1"),
    (["--model", "cnn", "--csv", "/tmp/trips.csv"],
     "--csv is for tabular data; family 'cnn' reads image data (fashion_mnist)"),
    (["--max-metric-drop", "nan"], "max_metric_drop must be >= 0, got nan"),
])
def test_bad_names_and_paths_exit_2_with_one_line(capsys, tmp_path, argv, expected):
    code, err = _run(capsys, "--workspace", str(tmp_path / "ws"), *argv)
    assert code == 2
    assert expected in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_an_unknown_augmentation_in_a_config_file_exits_2_naming_the_field(capsys, tmp_path):
    config = tmp_path / "config.json"
    config.write_text('{"model": "resnet", "hparams": {"augmentation": {"rotate": 10}}}')
    code, err = _run(capsys, "--workspace", str(tmp_path / "ws"), "--config", str(config))
    assert code == 2
    assert "hparams['augmentation']: unknown augmentation 'rotate'" in err
    assert not os.path.exists(tmp_path / "ws" / "pipelines")  # no component ran


@pytest.mark.parametrize("flags, named", [([], True), (["--epochs", "0"], False)])
def test_a_bad_value_names_the_config_file_only_when_it_comes_from_the_file(
        capsys, tmp_path, flags, named):
    """A value out of range in the file is reported with the file's path; the
    same fault given by a flag over a good file is not blamed on the file."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model": "dense", "epochs": 0 if named else 2}))
    code, err = _run(capsys, "--workspace", str(tmp_path / "ws"), "--config", str(config),
                     *flags)
    assert code == 2 and len(err.splitlines()) == 1
    prefix = f"tfxp: error: {config}: " if named else "tfxp: error: "
    assert err == prefix + "epochs must be >= 1, got 0"
    assert not os.path.exists(tmp_path / "ws")


def test_model_all_checks_every_familys_config_before_the_first_pipeline(capsys, tmp_path):
    """A Dense-only hparam under ``--model all``: refused up front, naming the
    family that rejects it, and no pipeline (not even Dense's) has run."""
    config = tmp_path / "config.json"
    config.write_text('{"hparams": {"categorical_embedding_dim": 4}}')
    code, err = _run(capsys, "--model", "all", "--workspace", str(tmp_path / "ws"),
                     "--config", str(config))
    assert code == 2
    assert err == ("tfxp: error: --model all: family 'cnn': unknown hparam "
                   "'categorical_embedding_dim' for model family 'cnn'; expected some of: "
                   "augmentation, dense_units, dropout, filters, learning_rate, lr_schedule, "
                   "weight_decay")
    assert not os.path.exists(tmp_path / "ws" / "pipeline_root")


@pytest.mark.parametrize("config, expected", [
    ({"max_metric_drop": "x"}, "config key 'max_metric_drop' must be a finite number, got \"x\""),
    ({"metric_threshold": "0.5"}, "config key 'metric_threshold' must be a finite number or null"),
    ({"workspace": 5}, "config key 'workspace' must be a string, got 5"),
    ({"thresholds": "no"}, "config key 'thresholds' must be true or false, got \"no\""),
    ({"beam_pipeline_args": "abc"}, "config key 'beam_pipeline_args' must be a list of strings"),
    ({"enable_cache": "yes"}, "config key 'enable_cache' must be true or false"),
    ({"train_steps": True}, "config key 'train_steps' must be an integer or null, got true"),
    ([1, 2], "a config is a JSON object, got list"),
])
def test_a_config_file_with_a_mistyped_value_exits_2_naming_the_key(capsys, tmp_path, config,
                                                                   expected):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    code, err = _run(capsys, "--config", str(path), "--workspace", str(tmp_path / "ws"))
    assert code == 2
    assert expected in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not os.path.exists(tmp_path / "ws")  # refused before anything ran


def test_empty_csv_is_rejected(capsys, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    code, err = _run(capsys, "--workspace", str(tmp_path / "ws"), "--csv", str(empty))
    assert code == 2 and f"CSV file '{empty}' is empty" in err


def test_header_only_csv_is_rejected(capsys, tmp_path, taxi_csv):
    header_only = tmp_path / "header.csv"
    header_only.write_text(taxi_csv.read_text().splitlines()[0] + "\n")
    code, err = _run(capsys, "--workspace", str(tmp_path / "ws"), "--csv", str(header_only))
    assert code == 2 and "has a header but no data rows" in err


def _damaged_csv(taxi_csv, line: int, damage) -> tuple:
    """The taxi CSV cut to 300 lines (header included) with ``damage``
    (bytes -> bytes) applied to 1-based ``line``; returns (path, the byte
    offset of the damaged line's start)."""
    lines = taxi_csv.read_bytes().split(b"\n")[:300]
    lines[line - 1] = damage(lines[line - 1])
    taxi_csv.write_bytes(b"\n".join(lines) + b"\n")
    return taxi_csv, len(b"\n".join(lines[:line - 1])) + 1


def test_a_csv_with_non_utf8_bytes_names_its_line_and_byte(capsys, tmp_path, taxi_csv):
    # Line 250 lies far past the text reader's first decoded chunk (8 KiB).
    path, start = _damaged_csv(taxi_csv, 250, lambda l: b"\xe9" + l)
    code, err = _run(capsys, "--workspace", str(tmp_path / "ws"), "--csv", str(path))
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err == (f"tfxp: error: --csv: taxi.csv line 250: not UTF-8 text (byte {start}: "
                   f"invalid continuation byte); the CSV ExampleGen reads UTF-8, so re-encode "
                   f"the file (e.g. iconv -f latin1 -t utf-8)")
    assert not os.path.exists(tmp_path / "ws")


def test_a_csv_with_a_nul_byte_names_its_line(capsys, tmp_path, taxi_csv):
    path, _ = _damaged_csv(taxi_csv, 120, lambda l: l[:10] + b"\0" + l[10:])
    code, err = _run(capsys, "--workspace", str(tmp_path / "ws"), "--csv", str(path))
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err == "tfxp: error: --csv: taxi.csv line 120: not CSV text (line contains NUL)"


def test_a_binary_file_as_csv_is_not_blamed_on_its_columns(capsys, tmp_path):
    path = tmp_path / "trips.csv"
    path.write_bytes(bytes(range(128, 256)) * 4)
    code, err = _run(capsys, "--workspace", str(tmp_path / "ws"), "--csv", str(path))
    assert code == 2
    assert err.startswith("tfxp: error: --csv: trips.csv line 1: not UTF-8 text (byte 0: "), err


def test_csv_without_label_column_is_rejected(capsys, tmp_path):
    rows = read_rows(5)
    columns = [c for c in rows[0] if c != "tips"]
    path = tmp_path / "no_tips.csv"
    path.write_text(",".join(columns) + "\n" + "\n".join(
        ",".join(r[c] for c in columns) for r in rows) + "\n")
    code, err = _run(capsys, "--workspace", str(tmp_path / "ws"), "--csv", str(path))
    assert code == 2 and "lacks the label column(s) ['tips']" in err


def test_non_writable_workspace_is_rejected(capsys, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")  # a file where a folder is needed: not writable even for root
    code, err = _run(capsys, "--workspace", str(blocker / "ws"))
    assert code == 2 and f"workspace '{blocker / 'ws'}' is not writable" in err


def test_bad_config_file_is_rejected(capsys, tmp_path):
    bad = tmp_path / "config.json"
    bad.write_text('{"model": "dense", "learning_rat": 1}')
    code, err = _run(capsys, "--config", str(bad))
    assert code == 2 and "unknown config keys ['learning_rat']" in err


def test_bad_input_leaves_pushed_models_untouched(capsys, dense_run):
    config, _ = dense_run
    before = {v: saved_model_digest(os.path.join(config.serving_base, str(v)))
              for v in list_versions(config.serving_base)}
    assert before
    for argv in (["--model", "nope"], ["--csv", "/nonexistent.csv"]):
        code, _ = _run(capsys, "--workspace", config.workspace, *argv)
        assert code == 2
    after = {v: saved_model_digest(os.path.join(config.serving_base, str(v)))
             for v in list_versions(config.serving_base)}
    assert after == before
