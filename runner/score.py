"""Batch scoring (``tfxp score``): files of inputs through a pushed model,
the way TFX's BulkInferrer runs a model over examples, on Beam.

This module holds what the command decides before and after the Beam job
(``runner.bulk_inference``, which also says what TFX and tfx_bsl behaviour
it follows, which inputs it reads and what it writes):

- **the model:** a pushed version (``<workspace>/serving/<model>/<version>``,
  the latest by default, TF Serving's version layout: ``serving.versions``)
  or a given SavedModel folder; the signatures to run (``serving_default``
  by default, the one TF Serving's Classify uses, whose answer is each
  input's class probabilities under their label names: ``models.export``);
  its modality, read from its ``serving_raw`` signature: an ``images`` input
  is an image model, ``text`` a text model, one input per raw feature a
  tabular model; a SavedModel without ``serving_raw`` scores TFRecords only.
- **the inputs:** a file or a glob of files of one kind that fits the
  model's modality; every file's beginning is read up front (a CSV's header
  and first row, a text's first line, a TFRecord's first record, a PNG's
  signature), and the first input is scored once in this process
  (``bulk_inference.probe``), so a wrong input fails before Beam starts.
- **the output folder** (local or URI): one that already holds results
  (``score.json``, ``predictions*``, ``prediction_logs*``) is refused unless
  ``overwrite``; other files in it are left alone. The results are written
  into a hidden ``.score-*`` folder inside it and moved into place only once
  the pipeline succeeded, ``score.json`` last (what was scored with what:
  model, version, path, signatures, inputs, counts, seconds, Beam options),
  so a failed run leaves an earlier result as it was and a folder with
  ``score.json`` holds a complete one. The output may not lie inside the
  workspace's pushed models or pipeline outputs, nor inside the scored
  SavedModel.

Errors: bad input (unknown model, no pushed version, missing input, empty
glob, unreadable or malformed file, input of another modality, output
holding results) raises ``core.errors.UsageError``, one line; from a Beam
worker that meets it later (a bad cell in row 5,000) it comes as
``bulk_inference.BadInputError``, also a ``UsageError``.

Heavy libraries (TensorFlow, Beam, tfx_bsl) are imported inside functions,
so the command line reads ``ScoreConfig`` without them.
"""
from __future__ import annotations

import dataclasses
import datetime
import glob
import json
import os
import time
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple

from tfxp.core import features as F
from tfxp.core.datasets import IMAGE, TABULAR, TEXT
from tfxp.core.errors import UsageError
from tfxp.core.signatures import (CLASSIFY_METHOD, DEFAULT_SIGNATURE, RAW_IMAGES_INPUT,
                                  RAW_SIGNATURE, RAW_TEXT_INPUT, REGRESS_METHOD)
from tfxp.core.uris import abspath, is_uri, join
from tfxp.core.workspace import DEFAULT_WORKSPACE, Workspace
from tfxp.pipeline.config import DEFAULT_BEAM_ARGS
from tfxp.runner import bulk_inference as bulk
from tfxp.runner.bulk_inference import (CSV_FILE, LOGS_FILE, MODALITY_INPUTS, OUTPUT_FORMATS,
                                        PNG_INPUT, PNG_SIGNATURE, TFRECORD_INPUT, input_kind)
from tfxp.serving.versions import has_saved_model, list_versions

MANIFEST_FILE = "score.json"
RESULT_PREFIXES = (CSV_FILE, LOGS_FILE, MANIFEST_FILE)
TMP_PREFIX = ".score-"


@dataclasses.dataclass(frozen=True)
class ScoreConfig:
    """What to score with which model, and where the predictions go.

    Attributes:
      model: the model's name: its folder under ``<workspace>/serving``, and
        the name in the PredictionLogs' metadata.
      inputs: a file, or a glob (``*``, ``?``, ``[...]``) matching files of
        one kind (``runner.bulk_inference``); local or a URI.
      output: the folder the results go to (created if need be).
      workspace: the workspace whose ``serving/`` holds the pushed versions.
      version: the pushed version to use; None = the latest.
      model_dir: a SavedModel folder to use instead of a pushed version.
      output_format: ``'csv'`` or ``'tfrecord'`` (``OUTPUT_FORMATS``).
      signatures: signature names (``SavedModelSpec.signature_name``).
      beam_pipeline_args: Beam options (``pipeline.beam_presets``); the
        default is Beam's in-process FnApiRunner.
      overwrite: replace the results an earlier score left in ``output``.
      batch_size: a fixed inference batch size (``BatchParameters`` min = max);
        None = BatchElements' adaptive sizes, BulkInferrer's default.
    """
    model: str
    inputs: str
    output: str
    workspace: str = DEFAULT_WORKSPACE
    version: Optional[int] = None
    model_dir: Optional[str] = None
    output_format: str = "csv"
    signatures: Tuple[str, ...] = (DEFAULT_SIGNATURE,)
    beam_pipeline_args: Tuple[str, ...] = DEFAULT_BEAM_ARGS
    overwrite: bool = False
    batch_size: Optional[int] = None

    def validate(self) -> None:
        """Raises ``UsageError`` naming the first bad field."""
        if not self.model or self.model in (".", "..") or "/" in self.model or \
                os.sep in self.model:
            raise UsageError(f"--model {self.model!r}: expected a model name such as dense "
                             f"(a folder under <workspace>/serving)")
        if self.output_format not in OUTPUT_FORMATS:
            raise UsageError(f"--format {self.output_format!r}: expected one of "
                             f"{', '.join(OUTPUT_FORMATS)}")
        if self.version is not None and self.model_dir:
            raise UsageError("--version and --model-dir exclude each other")
        if self.version is not None and self.version < 0:
            raise UsageError(f"--version must be >= 0, got {self.version}")
        if self.batch_size is not None and self.batch_size < 1:
            raise UsageError(f"--batch-size must be >= 1, got {self.batch_size}")
        if not self.signatures or len(set(self.signatures)) != len(self.signatures):
            raise UsageError(f"--signature: expected distinct names, got {list(self.signatures)}")


@dataclasses.dataclass(frozen=True)
class ScoredModel:
    """The SavedModel that scores, as found.

    Attributes:
      name: the model's name (``ScoreConfig.model``).
      path: the SavedModel folder.
      version: its pushed version; None for a ``--model-dir``.
      modality: ``TABULAR``, ``IMAGE``, ``TEXT``, or None (no ``serving_raw``).
      raw_dtypes: tabular models: raw feature -> ``types_pb2`` dtype (the
        ``serving_raw`` inputs, which type CSV cells); else empty.
      methods: signature name -> method name, for the scored signatures.
    """
    name: str
    path: str
    version: Optional[int]
    modality: Optional[str]
    raw_dtypes: Dict[str, int]
    methods: Dict[str, str]

    def describe(self) -> str:
        where = f"version {self.version}" if self.version is not None else repr(self.path)
        return f"model {self.name!r} {where}"


@dataclasses.dataclass(frozen=True)
class ScoreResult:
    """What a score run did.

    Attributes:
      model: the model that scored.
      input_kind: one of the input kinds (``runner.bulk_inference``).
      files: the input files, in the order scored.
      examples: inputs scored (Beam's counter; None if the runner kept none).
      seconds: wall seconds of the Beam pipeline (on the in-process runner
        the model is loaded by then; a worker process loads its own in them).
      setup_seconds: wall seconds before the pipeline: importing Beam and
        tfx_bsl, loading the model in this process and scoring the first
        input (``bulk_inference.probe``).
      outputs: the files written, ``score.json`` last.
    """
    model: ScoredModel
    input_kind: str
    files: Tuple[str, ...]
    examples: Optional[int]
    seconds: float
    setup_seconds: float
    outputs: Tuple[str, ...]

    @property
    def examples_per_second(self) -> Optional[float]:
        if self.examples is None or self.seconds <= 0:
            return None
        return self.examples / self.seconds


# ------------------------------------------------------------------ the model

def resolve_model(config: ScoreConfig) -> ScoredModel:
    """Finds the SavedModel ``config`` names and reads its signatures.

    Raises:
      UsageError: unknown model, no pushed version, a version that is not
        pushed, a folder without a SavedModel, an unknown signature, one
        RunInference cannot feed (one string input, TFX's rule) or log (a
        predict signature with a 1-D string output, ``_check_loggable``), or
        several that are not all classify/regress (a MultiInference).
    """
    from tensorflow.core.framework import types_pb2

    from tfxp.serving.errors import ServingError
    from tfxp.serving.manager import read_signature_defs

    if config.model_dir:
        path, version = abspath(config.model_dir), None
        if not has_saved_model(path):
            raise UsageError(f"--model-dir {config.model_dir!r} holds no SavedModel "
                             f"(saved_model.pb)")
    else:
        path, version = _pushed_version(config)
    try:
        sigdefs = read_signature_defs(path)
    except ServingError as err:
        raise UsageError(f"{path}: {err.message}") from None
    model = ScoredModel(config.model, path, version, None, {}, {})
    public = sorted(k for k in sigdefs if not k.startswith("__"))
    for name in config.signatures:
        if name not in sigdefs:
            raise UsageError(f"{model.describe()} has no signature {name!r}; its signatures: "
                             f"{', '.join(public)}")
        inputs = sigdefs[name].inputs
        if len(inputs) != 1 or next(iter(inputs.values())).dtype != types_pb2.DT_STRING:
            raise UsageError(
                f"signature {name!r} takes {', '.join(sorted(inputs)) or 'no input'}; batch "
                f"scoring feeds serialized tf.Examples to a signature with one string input "
                f"(TFX BulkInferrer's rule), e.g. {DEFAULT_SIGNATURE}")
    methods = {name: sigdefs[name].method_name for name in config.signatures}
    for name, method in methods.items():
        if method not in (CLASSIFY_METHOD, REGRESS_METHOD):
            _check_loggable(name, sigdefs[name])
    if len(methods) > 1:
        odd = {n: m for n, m in methods.items() if m not in (CLASSIFY_METHOD, REGRESS_METHOD)}
        if odd:
            name, method = next(iter(odd.items()))
            raise UsageError(f"several signatures are scored together only as a "
                             f"MultiInference of classify and regress signatures; {name!r} "
                             f"has method {method}")
    modality, dtypes = _modality(sigdefs.get(RAW_SIGNATURE))
    return dataclasses.replace(model, modality=modality, raw_dtypes=dtypes, methods=methods)


def _check_loggable(name: str, sigdef) -> None:
    """Raises UsageError for a predict signature with a 1-D string output
    (ours: ``predict``'s ``top_class``): tfx_bsl 1.16's predict handler
    (``_PredictModelHandler._post_process``) logs example ``i`` of each output
    as ``make_tensor_proto(values=output[i], dtype=...(values.dtype))``, and
    element ``i`` of a 1-D string output is a ``bytes`` object, which has no
    ``dtype``: RunInference fails on the first batch."""
    from tensorflow.core.framework import types_pb2

    for alias, info in sorted(sigdef.outputs.items()):
        shape = info.tensor_shape
        if info.dtype == types_pb2.DT_STRING and not shape.unknown_rank and \
                len(shape.dim) == 1:
            raise UsageError(
                f"signature {name!r} has the 1-D string output {alias!r}, which TFX's "
                f"RunInference (tfx_bsl 1.16) cannot log: it fails on every batch; score "
                f"{DEFAULT_SIGNATURE} (a class probability per label) instead")


def _pushed_version(config: ScoreConfig) -> Tuple[str, int]:
    """``(path, version)`` of the pushed version ``config`` asks for."""
    workspace = Workspace(config.workspace)
    base = workspace.serving_base(config.model)
    versions = list_versions(base)
    if not versions:
        if _is_dir(base):
            raise UsageError(f"model {config.model!r} has no pushed version in {base!r}; run "
                             f"the pipeline until a model is blessed and pushed, or pass "
                             f"--model-dir")
        known = sorted(name for name in _listdir(workspace.serving_dir)
                       if list_versions(join(workspace.serving_dir, name)))
        raise UsageError(f"unknown model {config.model!r}: no {base!r}; " + (
            f"models pushed in {config.workspace!r}: {', '.join(known)}" if known else
            f"nothing is pushed in workspace {config.workspace!r} (run `tfxp run`, or pass "
            f"--model-dir)"))
    version = max(versions) if config.version is None else config.version
    if version not in versions:
        raise UsageError(f"model {config.model!r} has no version {version}; pushed versions: "
                         f"{', '.join(map(str, versions))}")
    path = abspath(join(base, str(version)))
    if not has_saved_model(path):
        raise UsageError(f"{path!r} holds no saved_model.pb (a push still being written?)")
    return path, version


def _modality(raw) -> Tuple[Optional[str], Dict[str, int]]:
    """A ``serving_raw`` SignatureDef (or None) -> (modality, raw dtypes)."""
    if raw is None:
        return None, {}
    names = set(raw.inputs)
    if names == {RAW_IMAGES_INPUT}:
        return IMAGE, {}
    if names == {RAW_TEXT_INPUT}:
        return TEXT, {}
    return TABULAR, {k: v.dtype for k, v in raw.inputs.items()}


# ------------------------------------------------------------------ the inputs

def find_inputs(pattern: str) -> Tuple[str, List[str]]:
    """``(kind, files)`` that ``pattern`` (a file or a glob) names, sorted.

    Raises:
      UsageError: nothing matches, a folder is given, a file's kind is
        unknown, or kinds are mixed.
    """
    magic = any(c in pattern for c in "*?[")
    if not magic:
        if not _exists(pattern):
            raise UsageError(f"--input {pattern!r} does not exist")
        if _is_dir(pattern):
            raise UsageError(f"--input {pattern!r} is a folder; give a file or a glob such "
                             f"as {join(pattern, '*.csv')!r}")
    files = sorted(f for f in _glob(pattern) if not _is_dir(f))
    if not files:
        raise UsageError(f"no file matches --input {pattern!r}")
    unknown = [f for f in files if input_kind(f) is None]
    if unknown:
        raise UsageError(f"{unknown[0]!r}: unknown input kind; expected .csv (rows), .png "
                         f"(images), .txt (text lines), or .tfrecord, .tfrecords, .tfr or .gz "
                         f"(TFRecords of tf.Example; GZIP for .gz)")
    kinds = sorted({input_kind(f) for f in files})
    if len(kinds) > 1:
        raise UsageError(f"--input {pattern!r} mixes {' and '.join(kinds)} files; score one "
                         f"kind at a time")
    return kinds[0], files


def check_inputs(kind: str, files: Sequence[str], model: ScoredModel, pattern: str) -> bytes:
    """Checks that the inputs fit ``model`` and returns the first input as a
    serialized ``tf.Example`` (what ``probe`` scores).

    Reads every file's beginning: a CSV's header and first row, a text's
    first line, a TFRecord's first record, a PNG's signature (the first PNG
    whole).

    Raises:
      UsageError: the kind does not fit the model's modality; a file is
        unreadable or malformed; a TFRecord's first example lacks what the
        model reads; no file holds any input.
    """
    wanted = MODALITY_INPUTS.get(model.modality)
    if kind != TFRECORD_INPUT and kind != wanted:
        takes = (f"{model.modality} inputs: {wanted} files or TFRecords of tf.Example"
                 if model.modality else
                 f"TFRecords of tf.Example only (it has no {RAW_SIGNATURE} signature that "
                 f"would tell its modality)")
        raise UsageError(f"{files[0]!r} is a {kind} input, but {model.describe()} takes "
                         f"{takes}")
    first = None
    for path in files:
        if kind == PNG_INPUT and first is not None:
            if _head(path, len(PNG_SIGNATURE)) != PNG_SIGNATURE:
                raise UsageError(f"{path!r} is not a PNG file")
            continue
        record = next(bulk.read_records(kind, path, model.raw_dtypes), None)
        if record is None:
            continue
        if kind == TFRECORD_INPUT and model.modality:
            _check_example(path, record[1], model)
        if first is None:
            first = record[1]
    if first is None:
        raise UsageError(f"no inputs to score: the {len(files)} {kind} file(s) that "
                         f"--input {pattern!r} matches hold no rows")
    return first


def _check_example(path: str, serialized: bytes, model: ScoredModel) -> None:
    """Raises UsageError when a TFRecord's first example has none of the
    features a tabular model reads, or lacks the image/text feature."""
    import tensorflow as tf

    have = set(tf.train.Example.FromString(serialized).features.feature)
    needed = set(model.raw_dtypes) if model.modality == TABULAR else {
        IMAGE: {F.IMAGE_KEY}, TEXT: {F.TEXT_KEY}}[model.modality]
    fits = bool(needed & have) if model.modality == TABULAR else needed <= have
    if not fits:
        raise UsageError(f"{path}: record 1 does not fit {model.describe()} "
                         f"({model.modality}): it reads {', '.join(sorted(needed))}; the "
                         f"example has {', '.join(sorted(have)) or 'no features'}")


# ------------------------------------------------------------------ the output

def existing_results(output: str) -> List[str]:
    """Names in ``output`` that an earlier score wrote (``RESULT_PREFIXES``)."""
    return sorted(n for n in _listdir(output) if n.startswith(RESULT_PREFIXES))


def check_output(config: ScoreConfig, model: ScoredModel) -> None:
    """Raises UsageError when ``config.output`` is a file, lies inside the
    workspace's pushed models or pipeline outputs or inside the model, or
    already holds results and ``overwrite`` is off."""
    output = config.output
    if _exists(output) and not _is_dir(output):
        raise UsageError(f"--output {output!r} is a file; expected a folder")
    workspace = Workspace(config.workspace)
    for guarded, what in ((workspace.serving_dir, "the workspace's pushed models"),
                          (workspace.pipelines_dir, "the workspace's pipeline outputs"),
                          (model.path, "the scored SavedModel")):
        if _inside(output, guarded):
            raise UsageError(f"--output {output!r} lies inside {what} ({guarded!r}); choose a "
                             f"folder outside it")
    found = existing_results(output) if _is_dir(output) else []
    if found and not config.overwrite:
        raise UsageError(f"--output {output!r} already holds results ({', '.join(found)}); "
                         f"pass --overwrite to replace them, or choose another folder")


def _inside(path: str, parent: str) -> bool:
    if is_uri(path) or is_uri(parent):
        return (path.rstrip("/") + "/").startswith(parent.rstrip("/") + "/")
    path, parent = os.path.realpath(path), os.path.realpath(parent)
    return path == parent or path.startswith(parent.rstrip(os.sep) + os.sep)


def _commit(tmp: str, config: ScoreConfig, manifest: Dict[str, Any]) -> List[str]:
    """Moves the results from ``tmp`` into ``config.output`` (the earlier ones
    removed first if ``overwrite``), writes ``score.json`` last, removes
    ``tmp``. Returns the files written."""
    import tensorflow as tf

    gfile = tf.io.gfile
    if config.overwrite:
        for name in existing_results(config.output):
            gfile.remove(join(config.output, name))
    written = []
    for name in sorted(gfile.listdir(tmp)):
        if name.startswith(RESULT_PREFIXES) and not gfile.isdir(join(tmp, name)):
            written.append(join(config.output, name))
            gfile.rename(join(tmp, name), written[-1], overwrite=False)
    written.append(join(config.output, MANIFEST_FILE))
    manifest["outputs"] = written
    with gfile.GFile(written[-1], "w") as f:
        f.write(json.dumps(manifest, indent=2) + "\n")
    gfile.rmtree(tmp)
    return written


# ------------------------------------------------------------------ the run

def score(config: ScoreConfig) -> ScoreResult:
    """Scores ``config.inputs`` with the model ``config`` names.

    Returns:
      What was scored, how fast and what was written.
    Raises:
      UsageError: bad input (module docstring), before any Beam work where it
        can be known then (``BadInputError`` from a worker otherwise).
      Exception: anything else a Beam worker or the model raised (the
        output folder keeps what it held).
    """
    import tensorflow as tf

    from tfxp.pipeline.beam_presets import runs_in_process, runs_locally

    config.validate()
    model = resolve_model(config)
    kind, files = find_inputs(config.inputs)
    first = check_inputs(kind, files, model, config.inputs)
    check_output(config, model)
    spec = bulk.inference_spec(model.path, config.signatures, config.batch_size)
    created = not _exists(config.output)
    tmp = join(config.output, f"{TMP_PREFIX}{uuid.uuid4().hex}")
    try:
        start = time.perf_counter()
        try:
            probed = bulk.probe(spec, first)
        except UsageError as err:  # the model refuses the first input: name the row
            raise UsageError(_missing_required(err, kind, files, model) or str(err)) from None
        header = [bulk.INPUT_COLUMN, bulk.ROW_COLUMN] + [
            name for name, _ in bulk.log_columns(probed)]
        setup_seconds = time.perf_counter() - start
        tf.io.gfile.makedirs(tmp)
        try:
            examples, seconds = bulk.run_pipeline(
                files, kind, model.raw_dtypes, spec,
                bulk.log_metadata(model.name, model.version, config.signatures),
                config.output_format, header, tmp, config.beam_pipeline_args,
                single_file=runs_locally(config.beam_pipeline_args),
                spread=not runs_in_process(config.beam_pipeline_args))
        except Exception as err:  # noqa: BLE001 - re-raised unless it is a missing feature
            missing = _missing_required(err, kind, files, model)
            if missing:
                raise UsageError(missing) from None
            raise
        manifest = {
            "model": model.name, "version": model.version, "model_path": model.path,
            "signatures": list(config.signatures), "methods": model.methods,
            "input": config.inputs, "input_kind": kind, "files": len(files),
            "examples": examples, "setup_seconds": round(setup_seconds, 3),
            "seconds": round(seconds, 3),
            "examples_per_second": round(examples / seconds, 1) if examples else None,
            "format": config.output_format,
            "beam_pipeline_args": list(config.beam_pipeline_args),
            "written": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds")}
        outputs = _commit(tmp, config, manifest)
    finally:
        bulk.release_sessions()
        if tf.io.gfile.exists(tmp):
            tf.io.gfile.rmtree(tmp)
            if created and not tf.io.gfile.listdir(config.output):
                tf.io.gfile.rmtree(config.output)
    return ScoreResult(model, kind, tuple(files), examples, seconds, setup_seconds,
                       tuple(outputs))


def _missing_required(err: Exception, kind: str, files: Sequence[str],
                      model: ScoredModel) -> Optional[str]:
    """For a run the model stopped because an example lacks a feature it
    requires (``serving.inputs.required_feature``), the line naming the first
    file and row (line, record) without it; None for any other failure or if
    no row lacks it. Reads the inputs again, from the start, on the driver."""
    from tfxp.serving import inputs

    feature = inputs.required_feature(str(err))
    if not feature:
        return None
    unit = {bulk.CSV_INPUT: "row", bulk.TEXT_INPUT: "line"}.get(kind, "record")
    for path in files:
        number = inputs.first_without(feature, bulk.read_records(kind, path, model.raw_dtypes))
        if number is not None:
            return inputs.missing_required_message(f"{path}: {unit} {number}", feature,
                                                   csv_row=kind == bulk.CSV_INPUT)
    return None


def format_result(result: ScoreResult) -> str:
    """The lines ``tfxp score`` prints: counts, throughput, files written."""
    model = result.model
    rate = result.examples_per_second
    what = (f"{result.examples} examples" if result.examples is not None
            else "examples (the runner kept no count)")
    signatures = ", ".join(f"{name} ({method.rpartition('/')[2]})"
                           for name, method in model.methods.items())
    lines = [f"scored {what} from {len(result.files)} {result.input_kind} file(s) with "
             f"{model.describe()}, signature {signatures}",
             f"  {result.seconds:.2f} s wall (Beam pipeline)"
             + (f", {rate:.1f} examples/s" if rate else "")
             + f"; set-up {result.setup_seconds:.2f} s (libraries, model, first input)"]
    lines += [f"  wrote {path}" for path in result.outputs]
    return "\n".join(lines)


# ------------------------------------------------------------------ files

def _exists(path: str) -> bool:
    if is_uri(path):
        import tensorflow as tf
        return tf.io.gfile.exists(path)
    return os.path.exists(path)


def _is_dir(path: str) -> bool:
    if is_uri(path):
        import tensorflow as tf
        return tf.io.gfile.isdir(path)
    return os.path.isdir(path)


def _listdir(path: str) -> List[str]:
    if not _is_dir(path):
        return []
    if is_uri(path):
        import tensorflow as tf
        return [n.rstrip("/") for n in tf.io.gfile.listdir(path)]
    return os.listdir(path)


def _glob(pattern: str) -> List[str]:
    if is_uri(pattern):
        import tensorflow as tf
        return tf.io.gfile.glob(pattern)
    return glob.glob(os.path.expanduser(pattern))


def _head(path: str, size: int) -> bytes:
    """The first ``size`` bytes of ``path``. Raises UsageError if unreadable."""
    if is_uri(path):
        import tensorflow as tf
        try:
            with tf.io.gfile.GFile(path, "rb") as f:
                return f.read(size)
        except tf.errors.OpError as err:
            raise UsageError(f"{path}: cannot read it ({err.message})") from None
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError as err:
        raise UsageError(f"{path}: cannot read it ({err.strerror or err})") from None
