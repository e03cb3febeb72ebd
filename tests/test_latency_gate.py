"""The latency gate before push and warm-up written at push
(core.latency, components.infra_validator, components.pusher,
serving.warmup, pipeline.config).
"""
from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from tensorflow_serving.apis import model_pb2

from tfxp.components.infra_validator import LatencyGate, current_version, validate_model
from tfxp.core.latency import FIGURES, check_settings, judge, percentile, summarize
from tfxp.serving.manager import read_signature_defs, single_model_config
from tfxp.serving.server import ModelServer
from tfxp.serving.versions import push_atomically
from tfxp.serving.warmup import WARMUP_FILE, make_warmup_records, write_warmup_file
from tests.serving_toy import toy_examples, write_toy_model

EXAMPLES = toy_examples(np.random.default_rng(0).normal(size=(16, 3)))


# ----- the rules -----

def test_percentile_and_median_over_rounds():
    assert percentile([3, 1, 2], 50) == 2 and percentile([1, 2], 99) == pytest.approx(1.99)
    figures = summarize({"b1": [[1, 1, 9], [2, 2, 2], [1, 1, 1]], "b64": [[5], [6], [7]]})
    assert figures["p50_b1"] == 1 and figures["p50_b64"] == 6
    assert set(figures) == set(FIGURES)


def test_judge_names_the_figure_and_by_how_much():
    candidate = {"p50_b1": 3.0, "p99_b1": 5.0, "p50_b64": 10.0, "p99_b64": 30.0}
    current = {"p50_b1": 1.0, "p99_b1": 4.0, "p50_b64": 9.0, "p99_b64": 10.0}
    failures = judge(candidate, current, {"p99_b1": 4.0}, max_slowdown=0.5, margin_ms=1.0)
    assert failures == [
        "p50_b1 3.00 ms is 200% slower than the current version's 1.00 ms (allowed 50% + "
        "1 ms margin = 2.50 ms; over by 0.50 ms)",
        "p99_b1 5.00 ms is over the budget 4 ms by 1.00 ms (25%)",
        "p99_b64 30.00 ms is 200% slower than the current version's 10.00 ms (allowed 50% "
        "+ 1 ms margin = 16.00 ms; over by 14.00 ms)"]
    assert judge(candidate, None, {}, 0.5, 1.0) == []
    assert judge(candidate, current, {}, None, 1.0) == []


@pytest.mark.parametrize("budget, slowdown, margin, field", [
    ({"p95_b1": 3}, 1.0, 2.0, "unknown figure 'p95_b1'"),
    ({"p50_b1": 0}, 1.0, 2.0, "latency_budget_ms['p50_b1']"),
    ({"p50_b1": "5"}, 1.0, 2.0, "latency_budget_ms['p50_b1']"),
    ({}, -0.1, 2.0, "max_latency_slowdown"),
    ({}, 1.0, -1, "latency_margin_ms"),
])
def test_bad_gate_settings_name_the_field(budget, slowdown, margin, field):
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        check_settings(budget, slowdown, margin)


def test_run_config_latency_fields_round_trip_and_fail_before_running(tmp_path):
    from tfxp.pipeline.config import RunConfig
    config = RunConfig(workspace=str(tmp_path), latency_budget_ms={"p99_b64": 50.0},
                       max_latency_slowdown=None, latency_margin_ms=3.0)
    again = RunConfig.from_json(config.to_json())
    assert again == config
    assert json.loads(again.latency_gate_json) == {
        "budget_ms": {"p99_b64": 50.0}, "max_slowdown": None, "margin_ms": 3.0}
    again.validate()
    bad = RunConfig(workspace=str(tmp_path), latency_budget_ms={"p50_b2": 1.0})
    with pytest.raises(ValueError, match="latency_budget_ms"):
        bad.validate()
    from tfxp.runner.local_runner import run_local
    with pytest.raises(ValueError, match="latency_budget_ms"):
        run_local(bad)  # before any component runs
    assert not os.path.exists(bad.metadata_path)


# ----- the gate, measured -----

@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate")
    return {"fast": write_toy_model(str(root / "fast"), example_default=True),
            "fast2": write_toy_model(str(root / "fast2"), example_default=True, scale=3.0),
            "slow": write_toy_model(str(root / "slow"), example_default=True,
                                    busy_matmuls=120)}


def test_gate_blocks_a_deliberately_slowed_candidate(models):
    gate = LatencyGate(max_slowdown=0.5, margin_ms=2.0, current_model_dir=models["fast"],
                       rounds=3, calls=5)
    result = validate_model(models["slow"], EXAMPLES, latency=gate)
    assert not result.blessed
    assert result.reason.startswith("latency: ") and "slower than the current version" in \
        result.reason
    assert set(result.latency_ms) == set(FIGURES) == set(result.current_latency_ms)
    assert result.latency_ms["p50_b64"] > result.current_latency_ms["p50_b64"]
    assert any(f.startswith("p50_b64") for f in result.latency_failed)


def test_gate_passes_an_equally_fast_candidate_and_checks_the_budget(models):
    gate = LatencyGate(max_slowdown=1.0, margin_ms=5.0, current_model_dir=models["fast"],
                       rounds=3, calls=5)
    result = validate_model(models["fast2"], EXAMPLES, latency=gate)
    assert result.blessed, result.reason
    assert result.latency_failed == [] and result.current_latency_ms
    over = validate_model(models["fast2"], EXAMPLES,
                          latency=LatencyGate(budget_ms={"p50_b1": 0.001}, rounds=1, calls=3))
    assert not over.blessed and "p50_b1" in over.reason and "over the budget 0.001 ms" in \
        over.reason
    assert over.current_latency_ms == {}  # no current version: budget only


def test_current_version_is_the_latest_pushed_one(tmp_path, models):
    assert current_version("") is None and current_version(str(tmp_path / "none")) is None
    base = str(tmp_path / "serving")
    push_atomically(models["fast"], base, now=10)
    push_atomically(models["fast2"], base, now=20)
    os.makedirs(os.path.join(base, "30"))  # no saved_model.pb yet: not current
    assert current_version(base) == os.path.join(base, "20")


# ----- warm-up written at push -----

def test_warmup_records_follow_the_signature_methods(models):
    from tensorflow_serving.apis import prediction_log_pb2
    records = make_warmup_records(read_signature_defs(models["fast"]), EXAMPLES,
                                  per_request=2)
    kinds = {}
    for record in records:
        entry = prediction_log_pb2.PredictionLog.FromString(record)
        kind = entry.WhichOneof("log_type")
        kinds[getattr(entry, kind).request.model_spec.signature_name] = kind
    assert kinds == {"classification": "classify_log", "regression": "regress_log",
                     "serving_default": "classify_log"}


def test_a_pushed_model_carries_the_warmup_file_and_the_server_runs_it(tmp_path, models):
    records = make_warmup_records(read_signature_defs(models["fast"]), EXAMPLES)
    result = validate_model(models["fast"], EXAMPLES, warmup=records)
    assert result.blessed and result.warmup_records == 3
    base = str(tmp_path / "serving")
    write_warmup_file(str(tmp_path / "warmup"), records)
    data = (tmp_path / "warmup").read_bytes()
    version, pushed = push_atomically(models["fast"], base, now=5,
                                      extra_files={WARMUP_FILE: data})
    assert pushed and os.path.isfile(os.path.join(base, "5", WARMUP_FILE))
    assert not os.path.exists(os.path.join(models["fast"], WARMUP_FILE))  # source untouched
    # The same bytes again: nothing new is pushed.
    assert push_atomically(models["fast"], base, now=6,
                           extra_files={WARMUP_FILE: data}) == (5, False)
    with ModelServer(single_model_config("m", base), grpc_port=0, rest_port=None,
                     poll_seconds=0) as server:
        servable = server.manager.servable(model_pb2.ModelSpec(name="m"))
        assert servable.warmup_records == 3


def test_pusher_takes_the_warmup_file_from_the_infra_blessing(tmp_path, models):
    from tfx.types import standard_artifacts, standard_component_specs

    from tfxp.components.infra_validator import WARMUP_FILE_IN_BLESSING
    from tfxp.components.pusher import _warmup_from_blessing
    blessing = standard_artifacts.InfraBlessing()
    blessing.uri = str(tmp_path / "blessing")
    os.makedirs(blessing.uri)
    inputs = {standard_component_specs.INFRA_BLESSING_KEY: [blessing]}
    assert _warmup_from_blessing(inputs, models["fast"]) == {}
    (tmp_path / "blessing" / WARMUP_FILE_IN_BLESSING).write_bytes(b"records")
    assert _warmup_from_blessing(inputs, models["fast"]) == {
        WARMUP_FILE.replace(os.sep, "/"): b"records"}
    own = str(tmp_path / "own")
    shutil.copytree(models["fast"], own)
    os.makedirs(os.path.join(own, "assets.extra"))
    (tmp_path / "own" / WARMUP_FILE).write_bytes(b"mine")
    assert _warmup_from_blessing(inputs, own) == {}  # the model's own file wins


def test_summary_says_which_latency_figure_failed():
    from tfxp.observability.mlmd import RunSummary
    summary = RunSummary("p", "r", [], blessed=True, infra_blessed=False,
                         infra_reason="latency: p99_b64 30.00 ms is over the budget 20 ms "
                                      "by 10.00 ms (50%)")
    assert summary.not_pushed_because == (
        "the infra validator did not bless the model: latency: p99_b64 30.00 ms is over "
        "the budget 20 ms by 10.00 ms (50%)")



def test_html_report_shows_the_failed_figure_and_both_timings():
    from tfxp.observability import report_html
    from tfxp.observability.mlmd import RunSummary
    from tfxp.observability.report import _render
    template = report_html.RUN_TEMPLATE
    start = template.index("{% if s.infra_blessed is not none %}")
    section = template[start:template.index("</section>", start)]
    summary = RunSummary("p", "r", [], blessed=True, infra_blessed=False,
                         infra_reason="latency: p50_b64 9.00 ms is 200% slower than the "
                                      "current version's 3.00 ms",
                         latency_ms={"p50_b1": 1.5, "p50_b64": 9.0},
                         current_latency_ms={"p50_b1": 1.4, "p50_b64": 3.0})
    original = report_html.RUN_TEMPLATE
    try:
        report_html.RUN_TEMPLATE = section
        html = _render("RUN_TEMPLATE", s=summary)
    finally:
        report_html.RUN_TEMPLATE = original
    assert "p50_b64 9.00 ms is 200% slower" in html and "current version" in html
    assert "9.00" in html and "3.00" in html and "1.40" in html
