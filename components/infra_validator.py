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

The ``InfraBlessing`` output carries TFX's conventions (tfx/components/
infra_validator/executor.py): custom property ``blessed`` 1/0 and an empty
``INFRA_BLESSED`` / ``INFRA_NOT_BLESSED`` file; plus ``reason`` (why not,
or "ok") and ``max_abs_diff``, and a JSON report ``infra_validation.json``.
The Pusher's ``CheckBlessing`` reads ``blessed``. (No ``from __future__ import
annotations`` here: TFX's component decorator reads the annotations as types.)
"""

import dataclasses
import json
import os
import shutil
import tempfile
import time
from typing import List, Optional

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
from tfxp.serving.versions import copy_tree

MODEL_NAME = "candidate"
BLESSED_KEY = "blessed"
BLESSED_FILE, NOT_BLESSED_FILE = "INFRA_BLESSED", "INFRA_NOT_BLESSED"
REPORT_FILE = "infra_validation.json"
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


def validate_model(model_dir: str, examples: List[bytes], *, classify_signature: str = "",
                   timeout: float = 60.0) -> ValidationResult:
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
        if is_uri(model_dir):
            # gs://, s3://: nothing local to link to; the server loads a copy.
            copy_tree(model_dir, os.path.join(base, "1"))
        else:
            try:
                os.symlink(os.path.abspath(model_dir), os.path.join(base, "1"))
            except OSError:
                shutil.copytree(model_dir, os.path.join(base, "1"))
        server = ModelServer(single_model_config(MODEL_NAME, base), grpc_port=0,
                             rest_port=None, poll_seconds=0).start()
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
        return ValidationResult(True, "ok", len(examples), max_diff,
                                time.monotonic() - started)
    except (ServingError, AssertionError, OSError) as err:
        return ValidationResult(False, f"{type(err).__name__}: {err}", len(examples),
                                seconds=time.monotonic() - started)
    finally:
        if client is not None:
            client.close()
        if server is not None:
            server.stop(grace=0)
        shutil.rmtree(base, ignore_errors=True)


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


@tfx.dsl.components.component
def InProcessInfraValidator(  # noqa: N802 - TFX component names are classes
        model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
        examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
        blessing: tfx.dsl.components.OutputArtifact[standard_artifacts.InfraBlessing],
        num_examples: tfx.dsl.components.Parameter[int] = 32,
        split: tfx.dsl.components.Parameter[str] = "eval",
        classify_signature: tfx.dsl.components.Parameter[str] = "",
        timeout_seconds: tfx.dsl.components.Parameter[float] = 60.0) -> None:
    """Blesses ``model`` for serving if this project's TF-Serving-protocol
    server serves it correctly (see the module docstring).

    Args:
      model: the Trainer's model; its ``Format-Serving`` SavedModel is served.
      examples: ExampleGen output; ``num_examples`` of split ``split`` are sent.
      blessing: InfraBlessing with custom property ``blessed`` 1/0.
      classify_signature: signature for Classify ("" = auto).
      timeout_seconds: per-RPC deadline.
    """
    from tfx.utils import path_utils

    split_uri = artifact_utils.get_split_uri([examples], split)
    result = validate_model(path_utils.serving_model_path(model.uri),
                            read_examples(split_uri, num_examples),
                            classify_signature=classify_signature,
                            timeout=timeout_seconds)
    record_blessing(blessing, result)
    print(f"[infra-validator] blessed={int(result.blessed)} reason={result.reason} "
          f"examples={result.examples} max_abs_diff={result.max_abs_diff:.3g} "
          f"seconds={result.seconds:.1f}", flush=True)
