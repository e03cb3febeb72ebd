"""In-process infra validation: serve the candidate, query it, compare.

TFX's own InfraValidator starts ``tensorflow/serving`` in Docker or
Kubernetes, neither of which exists here (shared/STACK.md). This component
does the equivalent with ``serving.server``, the TF-Serving-protocol server
of this project, in the component's own process:

1. the candidate SavedModel is served as version 1 of a model on a free
   loopback port (gRPC only); a model without a signature TF Serving's
   Classify accepts fails before anything is loaded;
2. real examples of the ``eval`` split go through gRPC Predict on every
   signature that takes them (one string input ``inputs``: the exported
   ``serving_default`` and ``predict``) and through Classify without a
   signature name, i.e. on ``serving_default`` as TF Serving resolves it (or
   on the signature named by ``classify_signature``), in one batch and singly;
3. every answer must be OK and match what calling the same signatures of
   the loaded SavedModel in-process returns: numbers with ``allclose(rtol=1e-5, atol=1e-6)``,
   strings exactly.

4. with a latency gate (``LatencyGate``, from ``RunConfig``): gRPC Predict
   is timed on real eval examples at batch 1 and batch 64, on the candidate
   and, served by the same server in the same process, on the currently
   pushed version (the latest version under the serving base, if any). The
   figures are p50 and p99 in milliseconds (``core.latency``). A candidate
   over a figure's budget, or slower than ``current * (1 +
   max_latency_slowdown) + latency_margin_ms``, is not blessed, and the
   reason names the figure and by how much (tfx#5485).

   Timings on a shared machine (two cores, other jobs) are noisy, so the
   gate: measures in ``rounds`` rounds, each timing candidate and current in
   turn with the order alternating, so load from other work falls on both
   alike; takes each round's percentile and then the median over rounds,
   so one disturbed round does not decide; and compares with the current
   version only beyond a relative allowance plus an absolute margin, which
   absorbs the jitter of calls that take a millisecond or two. A budget is
   an absolute promise and is checked without margin: set it with room.

5. warm-up: the caller may pass warm-up records (``serving.warmup.
   make_warmup_records`` from a few eval examples, as TFX's
   ``RequestSpec.make_warmup``); the served copy carries them as
   ``assets.extra/tf_serving_warmup_requests``, so the server runs them at
   load (a failing one fails validation), and the component stores them in
   the blessing (``WARMUP_FILE_IN_BLESSING``) for the Pusher to push with
   the model.

The ``InfraBlessing`` output carries TFX's conventions (tfx/components/
infra_validator/executor.py): custom property ``blessed`` 1/0 and an empty
``INFRA_BLESSED`` / ``INFRA_NOT_BLESSED`` file; plus ``reason`` (why not,
or "ok") and ``max_abs_diff``, the latency figures (``latency_<figure>_ms``
and ``current_latency_<figure>_ms``) and ``latency_failed`` (the failed
figures in words, "" if none), and a JSON report ``infra_validation.json``.
The Pusher's ``CheckBlessing`` reads ``blessed``. (No ``from __future__ import
annotations`` here: TFX's component decorator reads the annotations as types.)
"""

import dataclasses
import json
import os
import shutil
import tempfile
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf
from tfx import v1 as tfx
from tensorflow_serving.apis import model_pb2
from tfx.types import artifact_utils, standard_artifacts

from tfxp.core.signatures import (CLASSES_OUTPUT, CLASSIFY_METHOD, DEFAULT_SIGNATURE,
                                  EXAMPLES_INPUT, SCORES_OUTPUT)
from tfxp.serving.client import ServingClient
from tfxp.serving.errors import ServingError
from tfxp.serving.inference import classification_aliases
from tfxp.serving.manager import AVAILABLE, read_signature_defs, single_model_config
from tfxp.core.uris import is_uri
from tfxp.serving.server import ModelServer
from tfxp.core.latency import BATCH_SIZES, judge, summarize
from tfxp.serving.versions import copy_tree, has_saved_model, list_versions
from tfxp.serving.warmup import WARMUP_FILE, make_warmup_records, write_warmup_file

MODEL_NAME = "candidate"
BLESSED_KEY = "blessed"
BLESSED_FILE, NOT_BLESSED_FILE = "INFRA_BLESSED", "INFRA_NOT_BLESSED"
REPORT_FILE = "infra_validation.json"
WARMUP_FILE_IN_BLESSING = "tf_serving_warmup_requests"
CURRENT_MODEL_NAME = "current"
RTOL, ATOL = 1e-5, 1e-6


@dataclasses.dataclass
class ValidationResult:
    """Outcome of ``validate_model``.

    Attributes:
      blessed: every check passed.
      reason: "ok", or the first failure in words.
      examples: examples sent per request batch.
      max_abs_diff: largest |served - in-process| over numeric outputs.
      seconds: wall time of the validation, load included.
    """
    blessed: bool
    reason: str
    examples: int
    max_abs_diff: float = 0.0
    seconds: float = 0.0
    latency_ms: Dict[str, float] = dataclasses.field(default_factory=dict)
    current_latency_ms: Dict[str, float] = dataclasses.field(default_factory=dict)
    latency_failed: List[str] = dataclasses.field(default_factory=list)
    warmup_records: int = 0


@dataclasses.dataclass
class LatencyGate:
    """What the latency gate checks (see the module docstring).

    Attributes:
      budget_ms: ``{figure: ms}`` upper bounds (``core.latency.FIGURES``).
      max_slowdown: share the candidate may be slower than the current
        version (0.5 = 50%); None compares with the budget only.
      margin_ms: absolute allowance on top of the relative one.
      current_model_dir: the currently pushed version, or None.
      rounds: measuring rounds; calls: timed calls per round, model and batch.
    """
    budget_ms: Dict[str, float] = dataclasses.field(default_factory=dict)
    max_slowdown: Optional[float] = 1.0
    margin_ms: float = 2.0
    current_model_dir: Optional[str] = None
    rounds: int = 5
    calls: int = 20


def read_examples(examples_uri: str, limit: int) -> List[bytes]:
    """Up to ``limit`` serialized ``tf.Example``s from a split folder of
    TFRecord files (gzip when the name ends in ``.gz``, as ExampleGen writes)."""
    files = sorted(tf.io.gfile.glob(os.path.join(examples_uri, "*")))
    out: List[bytes] = []
    for path in files:
        dataset = tf.data.TFRecordDataset(path, compression_type="GZIP"
                                          if path.endswith(".gz") else "")
        for record in dataset.take(limit - len(out)):
            out.append(record.numpy())
        if len(out) >= limit:
            break
    return out


def _classify_signature(signature_defs, wanted: str) -> Optional[str]:
    """The signature Classify should use: ``wanted``, else ``serving_default``
    (what TF Serving's Classify uses without a signature name), else any
    classify-method signature that classifier.cc accepts."""
    candidates = ([wanted] if wanted else
                  [DEFAULT_SIGNATURE] + sorted(signature_defs))
    for name in candidates:
        sigdef = signature_defs.get(name)
        if sigdef is None or (not wanted and sigdef.method_name != CLASSIFY_METHOD):
            continue
        try:
            classification_aliases(sigdef)
        except ServingError:
            continue
        return name
    return None


def _example_signatures(signature_defs) -> List[str]:
    """Signatures whose one input is ``inputs``, string: serialized
    ``tf.Example``s [N], which Predict can send them. Sorted by name."""
    return sorted(name for name, sigdef in signature_defs.items()
                  if list(sigdef.inputs) == [EXAMPLES_INPUT]
                  and sigdef.inputs[EXAMPLES_INPUT].dtype == tf.string.as_datatype_enum)


def _compare(name: str, served: np.ndarray, expected: np.ndarray) -> float:
    """Raises AssertionError on a mismatch; returns the max absolute diff."""
    if served.shape != expected.shape:
        raise AssertionError(f"{name}: served shape {served.shape} != in-process "
                             f"{expected.shape}")
    if expected.dtype == object or expected.dtype.kind in "SU":
        same = [bytes(a) if isinstance(a, (bytes, np.bytes_)) else str(a).encode()
                for a in served.reshape(-1)] == [
            bytes(b) if isinstance(b, (bytes, np.bytes_)) else str(b).encode()
            for b in expected.reshape(-1)]
        if not same:
            raise AssertionError(f"{name}: served strings differ from in-process ones")
        return 0.0
    served64, expected64 = served.astype(np.float64), expected.astype(np.float64)
    if not np.allclose(served64, expected64, rtol=RTOL, atol=ATOL, equal_nan=True):
        diff = float(np.nanmax(np.abs(served64 - expected64)))
        raise AssertionError(f"{name}: served values differ from in-process ones by up to "
                             f"{diff:.3g} (rtol={RTOL}, atol={ATOL})")
    return float(np.nanmax(np.abs(served64 - expected64), initial=0.0))


def _link_model(model_dir: str, target: str, warmup: Sequence[bytes]) -> None:
    """Makes ``target`` serve ``model_dir``, plus a warm-up file of
    ``warmup`` records unless the model has one: a link (or a copy for URIs
    or where links fail) per entry, so nothing big is copied."""
    if is_uri(model_dir):
        copy_tree(model_dir, target)
    elif not warmup:
        try:
            os.symlink(os.path.abspath(model_dir), target)
        except OSError:
            shutil.copytree(model_dir, target)
        return
    else:
        os.makedirs(target)
        for name in os.listdir(model_dir):
            source, dest = os.path.join(os.path.abspath(model_dir), name), os.path.join(target, name)
            if name == os.path.dirname(WARMUP_FILE) and os.path.isdir(source):
                os.makedirs(dest)
                for inner in os.listdir(source):
                    os.symlink(os.path.join(source, inner), os.path.join(dest, inner))
            else:
                os.symlink(source, dest)
    if warmup and not tf.io.gfile.exists(os.path.join(target, WARMUP_FILE)):
        write_warmup_file(os.path.join(target, WARMUP_FILE), warmup)


def _time_predict(client: ServingClient, models: Sequence[str], signature: str,
                  examples: List[bytes], gate: LatencyGate) -> Dict[str, Dict[str, float]]:
    """``{model: {figure: ms}}`` for gRPC Predict, measured in alternating
    rounds (see the module docstring)."""
    batches = {key: [examples[i % len(examples)] for i in range(size)]
               for key, size in BATCH_SIZES.items()}
    for model in models:  # first calls pay lazy initialisation; not timed
        for batch in batches.values():
            for _ in range(3):
                client.predict(model, batch, signature=signature)
    times = {m: {key: [] for key in batches} for m in models}
    for round_index in range(gate.rounds):
        order = list(models) if round_index % 2 == 0 else list(reversed(models))
        for model in order:
            for key, batch in batches.items():
                calls = []
                for _ in range(gate.calls):
                    started = time.perf_counter()
                    client.predict(model, batch, signature=signature)
                    calls.append((time.perf_counter() - started) * 1000.0)
                times[model][key].append(calls)
    return {model: summarize(per_batch) for model, per_batch in times.items()}


def validate_model(model_dir: str, examples: List[bytes], *, classify_signature: str = "",
                   timeout: float = 60.0, latency: Optional[LatencyGate] = None,
                   warmup: Sequence[bytes] = ()) -> ValidationResult:
    """Serves ``model_dir`` on a free loopback port and checks Predict and
    Classify answers against in-process signature calls.

    Args:
      model_dir: a SavedModel folder, local or a URI (``gs://``: copied to a
        local temporary base path first, since it cannot be linked there).
      examples: serialized ``tf.Example``s (at least one).
      classify_signature: signature for Classify; "" picks ``serving_default``
        (sent without a signature name, as a default Classify call is) or
        another classify-method signature that TF Serving's Classify accepts.
      timeout: seconds allowed per RPC.
      latency: the latency gate, or None for none.
      warmup: serialized PredictionLog records the served copy carries as
        its warm-up file (the server runs them at load).
    Returns:
      ``ValidationResult``; it never raises for a bad model.
    """
    started = time.monotonic()
    if not examples:
        return ValidationResult(False, "no examples to validate with", 0)
    try:
        signature_defs = read_signature_defs(model_dir)
    except ServingError as err:
        return ValidationResult(False, f"model did not load: {err.message}", len(examples),
                                seconds=time.monotonic() - started)
    classify_name = _classify_signature(signature_defs, classify_signature)
    if classify_name is None:
        return ValidationResult(
            False, "no signature that TF Serving's Classify accepts (method "
            f"{CLASSIFY_METHOD}, input 'inputs', outputs classes and/or scores only)",
            len(examples), seconds=time.monotonic() - started)
    base = tempfile.mkdtemp(prefix="infra-validation-")
    server = client = None
    try:
        # gs://, s3://: nothing local to link to; the server loads a copy.
        _link_model(model_dir, os.path.join(base, "1"), warmup)
        config = single_model_config(MODEL_NAME, base)
        current_dir = latency.current_model_dir if latency is not None else None
        if current_dir:
            current_base = os.path.join(base, "current")
            os.makedirs(current_base)
            _link_model(current_dir, os.path.join(current_base, "1"), ())
            current = config.model_config_list.config.add()
            current.CopyFrom(config.model_config_list.config[0])
            current.name, current.base_path = CURRENT_MODEL_NAME, current_base
        server = ModelServer(config, grpc_port=0, rest_port=None, poll_seconds=0,
                             max_num_load_retries=0).start()
        state = server.manager.version_state(MODEL_NAME, 1)
        if state is None or state.state != AVAILABLE:
            error = state.error[1] if state is not None and state.error else "unknown error"
            return ValidationResult(False, f"model did not load: {error}", len(examples),
                                    seconds=time.monotonic() - started)
        client = ServingClient(server.grpc_target, timeout=timeout,
                               max_message_bytes=64 * 1024 * 1024)
        # The in-process reference: the same loaded SavedModel's signature
        # functions, called directly (one load instead of two).
        reference = server.manager.servable(model_pb2.ModelSpec(name=MODEL_NAME)).functions
        max_diff = 0.0
        # Classify by default sends no signature name: the server must
        # resolve it to serving_default, as tensorflow_model_server does.
        classify_request = (None if classify_name == DEFAULT_SIGNATURE and not classify_signature
                            else classify_name)
        for batch in (examples, examples[:1]):
            inputs = tf.constant(batch, dtype=tf.string)
            for name in _example_signatures(signature_defs):
                expected = {k: v.numpy() for k, v in reference[name](inputs=inputs).items()}
                served = client.predict(MODEL_NAME, batch, signature=name)
                if set(served) != set(expected):
                    raise AssertionError(f"Predict {name} outputs {sorted(served)} != "
                                         f"signature outputs {sorted(expected)}")
                for key in expected:
                    max_diff = max(max_diff, _compare(f"Predict {name} {key}", served[key],
                                                      expected[key]))
            expected = {k: v.numpy() for k, v in
                        reference[classify_name](inputs=inputs).items()}
            result = client.classify(MODEL_NAME, batch, signature=classify_request)
            if CLASSES_OUTPUT in expected:
                _compare("Classify classes", result.labels, expected[CLASSES_OUTPUT])
            if SCORES_OUTPUT in expected:
                max_diff = max(max_diff, _compare("Classify scores", result.scores,
                                                  expected[SCORES_OUTPUT]))
        result = ValidationResult(True, "ok", len(examples), max_diff,
                                  warmup_records=len(warmup))
        if latency is not None:
            _apply_latency_gate(result, server, client, signature_defs, examples, latency)
        result.seconds = time.monotonic() - started
        return result
    except (ServingError, AssertionError, OSError) as err:
        return ValidationResult(False, f"{type(err).__name__}: {err}", len(examples),
                                seconds=time.monotonic() - started)
    finally:
        if client is not None:
            client.close()
        if server is not None:
            server.stop(grace=0)
        shutil.rmtree(base, ignore_errors=True)


def _apply_latency_gate(result: ValidationResult, server: ModelServer, client: ServingClient,
                        signature_defs, examples: List[bytes], gate: LatencyGate) -> None:
    """Times the candidate (and the current version, if it loaded) and
    records the figures and any failure on ``result``."""
    names = _example_signatures(signature_defs)
    signature = DEFAULT_SIGNATURE if DEFAULT_SIGNATURE in names else (names or [None])[0]
    if signature is None:
        result.latency_failed = ["no signature takes serialized examples; latency not "
                                 "measured"]
        result.blessed, result.reason = False, "latency: " + result.latency_failed[0]
        return
    models = [MODEL_NAME]
    current_note = ""
    if gate.current_model_dir:
        state = server.manager.version_state(CURRENT_MODEL_NAME, 1)
        if state is not None and state.state == AVAILABLE:
            models.append(CURRENT_MODEL_NAME)
        else:
            current_note = " (the current version did not load; budget only)"
    try:
        figures = _time_predict(client, models, signature, examples, gate)
    except ServingError as err:
        # e.g. the current version does not take this signature: budget only.
        if len(models) == 1:
            raise
        models, current_note = [MODEL_NAME], f" (current version not comparable: {err})"
        figures = _time_predict(client, models, signature, examples, gate)
    result.latency_ms = {k: round(v, 3) for k, v in figures[MODEL_NAME].items()}
    if CURRENT_MODEL_NAME in figures:
        result.current_latency_ms = {k: round(v, 3)
                                     for k, v in figures[CURRENT_MODEL_NAME].items()}
    result.latency_failed = judge(figures[MODEL_NAME], figures.get(CURRENT_MODEL_NAME),
                                  gate.budget_ms, gate.max_slowdown, gate.margin_ms)
    if result.latency_failed:
        result.blessed = False
        result.reason = "latency: " + "; ".join(result.latency_failed) + current_note


def record_blessing(blessing: standard_artifacts.InfraBlessing, result: ValidationResult) -> None:
    """Writes ``result`` onto the InfraBlessing artifact (TFX conventions)."""
    tf.io.gfile.makedirs(blessing.uri)
    marker = BLESSED_FILE if result.blessed else NOT_BLESSED_FILE
    with tf.io.gfile.GFile(os.path.join(blessing.uri, marker), "w") as f:
        f.write("")
    with tf.io.gfile.GFile(os.path.join(blessing.uri, REPORT_FILE), "w") as f:
        json.dump(dataclasses.asdict(result), f, indent=2)
    blessing.set_int_custom_property(BLESSED_KEY, int(result.blessed))
    blessing.set_string_custom_property("reason", result.reason[:1000])
    blessing.set_float_custom_property("max_abs_diff", result.max_abs_diff)
    for prefix, figures in (("latency", result.latency_ms),
                            ("current_latency", result.current_latency_ms)):
        for figure, value in figures.items():
            blessing.set_float_custom_property(f"{prefix}_{figure}_ms", value)
    blessing.set_string_custom_property("latency_failed", "; ".join(result.latency_failed)[:1000])
    blessing.set_int_custom_property("warmup_records", result.warmup_records)


@tfx.dsl.components.component
def InProcessInfraValidator(  # noqa: N802 - TFX component names are classes
        model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
        examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
        blessing: tfx.dsl.components.OutputArtifact[standard_artifacts.InfraBlessing],
        num_examples: tfx.dsl.components.Parameter[int] = 32,
        split: tfx.dsl.components.Parameter[str] = "eval",
        classify_signature: tfx.dsl.components.Parameter[str] = "",
        timeout_seconds: tfx.dsl.components.Parameter[float] = 60.0,
        latency_gate_json: tfx.dsl.components.Parameter[str] = "",
        serving_base: tfx.dsl.components.Parameter[str] = "",
        warmup_examples: tfx.dsl.components.Parameter[int] = 1) -> None:
    """Blesses ``model`` for serving if this project's TF-Serving-protocol
    server serves it correctly (see the module docstring).

    Args:
      model: the Trainer's model; its ``Format-Serving`` SavedModel is served.
      examples: ExampleGen output; ``num_examples`` of split ``split`` are sent.
      blessing: InfraBlessing with custom property ``blessed`` 1/0.
      classify_signature: signature for Classify ("" = auto).
      timeout_seconds: per-RPC deadline.
      latency_gate_json: ``{"budget_ms": {...}, "max_slowdown": ..,
        "margin_ms": ..}`` (``RunConfig.latency_gate_json``); "" = no gate.
      serving_base: the model's serving base path; its latest version is
        the current one the gate compares with ("" = none).
      warmup_examples: examples per warm-up request; 0 writes no warm-up.

    Timings on a shared machine are noisy; the gate measures in alternating
    rounds, takes medians and allows a margin (module docstring).
    """
    from tfx.utils import path_utils

    split_uri = artifact_utils.get_split_uri([examples], split)
    model_dir = path_utils.serving_model_path(model.uri)
    eval_examples = read_examples(split_uri, num_examples)
    gate = None
    if latency_gate_json:
        settings = json.loads(latency_gate_json)
        gate = LatencyGate(**settings, current_model_dir=current_version(serving_base))
    warmup: List[bytes] = []
    if warmup_examples > 0 and eval_examples:
        try:
            warmup = make_warmup_records(read_signature_defs(model_dir), eval_examples,
                                         per_request=warmup_examples)
        except (ValueError, ServingError):
            warmup = []  # no example signature: nothing TF Serving could warm up with
    result = validate_model(model_dir, eval_examples, classify_signature=classify_signature,
                            timeout=timeout_seconds, latency=gate, warmup=warmup)
    if result.blessed and warmup:
        write_warmup_file(os.path.join(blessing.uri, WARMUP_FILE_IN_BLESSING), warmup)
    record_blessing(blessing, result)
    print(f"[infra-validator] blessed={int(result.blessed)} reason={result.reason} "
          f"examples={result.examples} max_abs_diff={result.max_abs_diff:.3g} "
          f"seconds={result.seconds:.1f} latency_ms={result.latency_ms} "
          f"current_latency_ms={result.current_latency_ms}", flush=True)


def current_version(serving_base: str) -> Optional[str]:
    """The latest version folder under ``serving_base`` holding a
    SavedModel, or None (no base, no versions)."""
    if not serving_base:
        return None
    for version in reversed(list_versions(serving_base)):
        path = os.path.join(serving_base, str(version))
        if has_saved_model(path):
            return path
    return None
