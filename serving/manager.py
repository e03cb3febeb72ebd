"""Which model versions are loaded, and how a request finds one.

The server's model config is a ``ModelServerConfig`` (tensorflow_serving/
config/model_server_config.proto), the same text proto ``tensorflow_model_server
--model_config_file`` reads. ``ModelManager`` follows these TF Serving sources:

- sources/storage_path/file_system_storage_path_source.cc: each base path is
  polled every ``poll_seconds`` (``--file_system_poll_wait_seconds``, default
  1 s); its children named by a base-10 integer are the versions
  (``serving.versions.scan_versions``); any other name is ignored, and
  logged once per model and name (``.push-*`` temporaries silently). Each
  model is polled on its own: an error on one base path is logged (once per
  distinct message) and the other models keep being polled; the version policy picks the aspired ones: ``latest{N}`` (default,
  N >= 1), ``all``, ``specific{versions}``. A missing base path keeps what is
  loaded. Base paths may be URIs (``gs://``, ``s3://``), as in TF Serving,
  whose ``Env`` reads them; every path here goes through ``tf.io.gfile``.
- A new version folder without ``saved_model.pb`` (or ``.pbtxt``) is not
  aspired until it has one: an object-store push writes that file last
  (``serving.versions``). TF Serving would try the load, fail in TF's
  ``MaybeSavedModelDirectory`` check and retry it; waiting for the next
  poll ends the same way without failing a version that is being written.
- core/loader_harness.cc (``LoadWithRetries``): a failed load is retried up
  to ``max_num_load_retries`` times (``--max_num_load_retries``, 5), every
  ``load_retry_interval_s`` (``--load_retry_interval_micros``, 1 min), so a
  non-atomic copy (the stock TFX Pusher's) that finishes within the retries
  loads. Between attempts the version is END with its error, so
  GetModelStatus says why it is not serving (TF Serving reports LOADING
  while it retries). Retries are checked at
  each poll, not on a timer of their own. Once they are used up the version
  is END with its error, and, beyond TF Serving, it is tried again (with
  fresh retries) when the folder's contents change (file names, sizes and
  modification times), so a copy that finishes later still loads.
- core/aspired_versions_manager.cc with AvailabilityPreservingPolicy: aspired
  versions load highest first; a version that is no longer aspired unloads only
  once an aspired version is available (or none is aspired), so a model never
  goes down during an update. A version whose load fails (after the
  retries above) ends in state END with its error, code included
  (GetModelStatus shows it; ``serving.errors.error_from_exception``), and the
  versions already serving keep serving. TF1 SavedModels are loaded into a
  Session, as TF Serving loads every model (``serving.session_model``).
- core/basic_manager.cc and model_servers/server_core.cc for lookups: no
  name -> INVALID_ARGUMENT "ModelSpec has no name specified."; unknown model
  or version -> NOT_FOUND "Servable not found for request: Latest(name)" /
  "Specific(name, v)"; unknown label -> INVALID_ARGUMENT "Unrecognized servable
  version label: L". Labels may only point at available versions
  (FAILED_PRECONDITION otherwise) unless
  ``allow_version_labels_for_unavailable_models``.
- model_servers/get_model_status_impl.cc for ``status``.
- servables/tensorflow/saved_model_warmup_util.cc: before a version becomes
  AVAILABLE it is warmed up (``serving.warmup``, passed in as ``warm_up``);
  a failing warm-up fails the load.

Request data never becomes a path: a request names a model (a key of the
config) and a version number or label (looked up), so no model name or label
can reach outside the configured base paths.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import input_pb2, model_pb2
from tensorflow_serving.config import model_server_config_pb2

from tfxp.core.signatures import SERVING_TAGS
from tfxp.serving.batching import Batcher, BatchingOptions
from tfxp.core.uris import is_uri
from tfxp.serving.errors import (ServingError, code_from_number, error_from_exception,
                                 failed_precondition, invalid_argument, make_error, not_found,
                                 op_error_message)
from tfxp.serving.flags import DEFAULT_LOAD_RETRY_INTERVAL_S, DEFAULT_MAX_NUM_LOAD_RETRIES
from tfxp.serving.session_model import SessionModel, is_tf1_meta_graph
from tfxp.serving.versions import has_saved_model, relative_files, scan_versions

log = logging.getLogger(__name__)

PLATFORM = "tensorflow"
# START..END of get_model_status.proto ModelVersionStatus.State.
START, LOADING, AVAILABLE, UNLOADING, END = "START", "LOADING", "AVAILABLE", "UNLOADING", "END"
# What a model name may look like: it must fit the REST path segment
# ``[^/:]+`` (http_rest_api_util.cc) and never be read as a path.
MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
Arrays = Dict[str, np.ndarray]


def read_signature_defs(export_dir: str, tags: Sequence[str] = SERVING_TAGS
                        ) -> Dict[str, meta_graph_pb2.SignatureDef]:
    """The SignatureDefs of the meta graph tagged exactly ``tags``; raises as
    ``read_meta_graph``."""
    return dict(read_meta_graph(export_dir, tags).signature_def)


def read_meta_graph(export_dir: str, tags: Sequence[str] = SERVING_TAGS
                    ) -> meta_graph_pb2.MetaGraphDef:
    """The meta graph tagged exactly ``tags``.

    Reads ``saved_model.pb`` (or ``saved_model.pbtxt``) as protobuf only,
    through ``tf.io.gfile`` (``export_dir`` may be a URI).

    Raises:
      ServingError: NOT_FOUND when no SavedModel file or no such meta graph
        (TF's loader message), DATA_LOSS when the file does not parse.
    """
    pb, pbtxt = (os.path.join(export_dir, n) for n in ("saved_model.pb", "saved_model.pbtxt"))
    saved_model = saved_model_pb2.SavedModel()
    try:
        if tf.io.gfile.exists(pb):
            with tf.io.gfile.GFile(pb, "rb") as f:
                saved_model.ParseFromString(f.read())
        elif tf.io.gfile.exists(pbtxt):
            with tf.io.gfile.GFile(pbtxt) as f:
                text_format.Parse(f.read(), saved_model)
        else:
            raise not_found(f"Could not find SavedModel .pb or .pbtxt at supplied "
                            f"export directory path: {export_dir}")
    except ServingError:
        raise
    except Exception as err:  # noqa: BLE001 - protobuf raises several types
        raise make_error(grpc.StatusCode.DATA_LOSS,
                         f"Can't parse {export_dir} as SavedModel: {err}") from None
    for meta_graph in saved_model.meta_graphs:
        if set(meta_graph.meta_info_def.tags) == set(tags):
            return meta_graph
    raise not_found(f"Could not find meta graph def matching supplied tags: "
                    f"{{ {' '.join(tags)} }}. To inspect available tag-sets in the "
                    f"SavedModel, please use the SavedModel CLI: `saved_model_cli`")


def examples_from_input(inp: input_pb2.Input) -> np.ndarray:
    """util.cc InputToSerializedExampleTensor: ``Input`` -> string [N].

    Raises:
      ServingError: INVALID_ARGUMENT "Input is empty." for no examples.
    """
    kind = inp.WhichOneof("kind")
    if kind == "example_list":
        serialized = [e.SerializeToString() for e in inp.example_list.examples]
    elif kind == "example_list_with_context":
        # Concatenated serializations parse as the merged message.
        context = inp.example_list_with_context.context.SerializeToString()
        serialized = [context + e.SerializeToString()
                      for e in inp.example_list_with_context.examples]
    else:
        serialized = []
    if not serialized:
        raise invalid_argument("Input is empty.")
    array = np.empty(len(serialized), dtype=object)
    array[:] = serialized
    return array


class Servable:
    """One loaded version of a model: its SignatureDefs and callable signatures.

    Attributes:
      name, version, path: what was loaded from where.
      signature_defs: ``{key: SignatureDef}`` exactly as in saved_model.pb.
      runs_in_session: a TF1 SavedModel, run in a Session
        (``serving.session_model``); TF2 ones run their signature functions.
      functions: ``{key: ConcreteFunction}`` taking the input aliases as
        keyword arguments and returning ``{output alias: Tensor}``.
    """

    def __init__(self, name: str, version: int, path: str,
                 tags: Sequence[str] = SERVING_TAGS,
                 batching: Optional[BatchingOptions] = None,
                 warm_up: Optional[Callable[["Servable"], None]] = None):
        self.name, self.version, self.path = name, version, path
        self.warmup_records, self.warmup_seconds = 0, 0.0
        meta_graph = read_meta_graph(path, tags)
        self.signature_defs = dict(meta_graph.signature_def)
        # TF1 SavedModels run in a Session as TF Serving runs them (serving.session_model).
        self.runs_in_session = is_tf1_meta_graph(meta_graph)
        self._loaded = (SessionModel(path, tags, self.signature_defs) if self.runs_in_session
                        else tf.saved_model.load(path, tags=list(tags)))
        self.functions = {key: self._loaded.signatures[key]
                          for key in self._loaded.signatures.keys()}
        self._batching = batching
        self._batchers: Dict[tuple, Batcher] = {}
        self._lock = threading.Lock()
        self._closed = False
        if warm_up is not None:  # serving.warmup.warm_up, unless --enable_model_warmup=false
            warm_up(self)

    def call(self, signature: str, inputs: Arrays) -> Arrays:
        """Runs signature ``signature`` on ``{alias: array}``; batched if enabled.

        Raises:
          ServingError: TF's status for op errors (e.g. INVALID_ARGUMENT for a
            malformed tf.Example), UNAVAILABLE when the batch queue is full.
        """
        if self._batching is None:
            return self._call_now(signature, inputs)
        key = (signature,) + tuple(sorted((k, v.dtype.str, v.shape[1:])
                                          for k, v in inputs.items()))
        with self._lock:
            if self._closed:
                raise make_error(grpc.StatusCode.UNAVAILABLE,
                                 f"version {self.version} of {self.name} was unloaded")
            batcher = self._batchers.get(key)
            if batcher is None:
                batcher = self._batchers[key] = Batcher(
                    lambda batch: self._call_now(signature, batch), self._batching)
        return batcher.submit(inputs)

    def _call_now(self, signature: str, inputs: Arrays) -> Arrays:
        try:
            outputs = self.functions[signature](**inputs)
        except tf.errors.OpError as err:
            raise make_error(code_from_number(err.error_code), op_error_message(err.message)) from None
        except (TypeError, ValueError) as err:
            raise invalid_argument(str(err)) from None
        return {k: v if isinstance(v, np.ndarray) else v.numpy() for k, v in outputs.items()}

    def close(self) -> None:
        """Stops the batch threads; in-flight calls still finish (the
        Servable object lives until its last reference is dropped)."""
        with self._lock:
            self._closed = True
            batchers, self._batchers = list(self._batchers.values()), {}
        for batcher in batchers:
            batcher.stop()


@dataclasses.dataclass
class VersionState:
    """What GetModelStatus reports for one version.

    ``error`` is None or ``(grpc.StatusCode, message)`` of a failed load;
    times are ``time.monotonic()`` seconds.
    """
    version: int
    path: str
    state: str = START
    error: Optional[Tuple[grpc.StatusCode, str]] = None
    aspired: bool = True
    detected_at: float = dataclasses.field(default_factory=time.monotonic)
    available_at: Optional[float] = None
    load_seconds: Optional[float] = None
    # Load retries (loader_harness.cc): failed attempts so far, when the
    # next one is due (monotonic seconds), and the folder's contents once
    # the retries ran out (a change re-arms them).
    attempts: int = 0
    retry_at: Optional[float] = None
    contents: Optional[tuple] = None


def single_model_config(name: str, base_path: str) -> model_server_config_pb2.ModelServerConfig:
    """What ``--model_name``/``--model_base_path`` mean (main.cc)."""
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name, model.base_path, model.model_platform = name, base_path, PLATFORM
    return config


def parse_config(text: str) -> model_server_config_pb2.ModelServerConfig:
    """Parses a ``ModelServerConfig`` text proto (``--model_config_file``).

    Raises:
      ValueError: the text is not a ModelServerConfig.
    """
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as err:
        raise ValueError(f"not a ModelServerConfig text proto: {err}") from None
    return config


def validate_config(config: model_server_config_pb2.ModelServerConfig) -> None:
    """Checks the config as server_core.cc does (ValidateModelConfigList,
    GetPlatform, CreateAdapter) plus a model-name check of ours.

    Raises:
      ServingError: INVALID_ARGUMENT for a non-list config, duplicate or bad
        names, relative base paths, a missing platform; FAILED_PRECONDITION
        for a platform other than ``tensorflow``.
    """
    if config.WhichOneof("config") != "model_config_list":
        raise invalid_argument("ServerModelConfig type not supported by "
                               "HandleReloadConfigRequest. Only ModelConfigList is "
                               "currently supported")
    seen = set()
    for model in config.model_config_list.config:
        if model.name in seen:
            raise invalid_argument(f"Illegal to list model {model.name} multiple times "
                                   f"in config list")
        seen.add(model.name)
        if not MODEL_NAME_PATTERN.match(model.name):
            raise invalid_argument(f"Illegal model name {model.name!r}: expected letters, "
                                   f"digits, '_', '.', '-', not starting with '.' or '-'")
        # UriIsRelativePath (server_core.cc): a URI or an absolute path.
        if not (os.path.isabs(model.base_path) or is_uri(model.base_path)):
            raise invalid_argument(f"Expected model {model.name} to have an absolute path "
                                   f"or URI; got base_path()={model.base_path}")
        if not model.model_platform:
            raise invalid_argument(
                "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
                f"ModelServerConfig::model_platform, model name is {model.name}")
        if model.model_platform != PLATFORM:
            raise failed_precondition(
                f"PlatformConfigMap has no entry for platform {model.model_platform}")


def aspired_versions(model: model_server_config_pb2.ModelConfig,
                     available_on_disk: Iterable[int]) -> List[int]:
    """The versions ``model``'s version policy wants, ascending.

    Follows AspireLatestVersions / AspireAllVersions / AspireSpecificVersions
    of file_system_storage_path_source.cc: ``latest`` serves the highest
    ``max(num_versions, 1)``; ``specific`` serves the listed ones that exist.
    """
    versions = sorted(set(available_on_disk))
    policy = model.model_version_policy
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return versions
    if choice == "specific":
        wanted = set(policy.specific.versions)
        return [v for v in versions if v in wanted]
    n = max(policy.latest.num_versions, 1) if choice == "latest" else 1
    return versions[-n:]


class _Model:
    def __init__(self, config: model_server_config_pb2.ModelConfig):
        self.config = config
        self.versions: Dict[int, VersionState] = {}
        self.available: Dict[int, Servable] = {}  # replaced, never mutated
        self.labels: Dict[str, int] = {}
        self.waiting: set = set()  # version folders without saved_model.pb yet
        self.ignored: set = set()  # child names already logged as not versions
        self.poll_error: Optional[str] = None  # the last polling error logged


class ModelManager:
    """Loads, serves and unloads the versions of the configured models.

    Thread-safe: lookups read immutable snapshots; ``poll`` (the polling
    thread, or a caller) is serialised by a lock.

    Args:
      config: a validated ``ModelServerConfig`` with a ``model_config_list``.
      tags: meta graph tags to load (``--saved_model_tags``).
      batching: server-side batching for every servable, or None.
      allow_version_labels_for_unavailable_models: as the TF Serving flag.
      max_num_load_retries: retries after a failed load (``--max_num_load_retries``).
      load_retry_interval_s: seconds between them (``--load_retry_interval_micros``).
      warm_up: called with each loaded ``Servable`` before it serves
        (``serving.warmup.warm_up``; None = no warm-up, as
        ``--enable_model_warmup=false``); what it raises fails the load.
      observer: optional; told about each load attempt and availability
        change (``serving.metrics``, ``serving.health``): called as
        ``observer.load_attempted(model, version, path, ok, seconds,
        servable_or_None)`` and ``observer.availability_changed(manager)``.
    """

    def __init__(self, config: model_server_config_pb2.ModelServerConfig,
                 tags: Sequence[str] = SERVING_TAGS,
                 batching: Optional[BatchingOptions] = None,
                 allow_version_labels_for_unavailable_models: bool = False,
                 max_num_load_retries: int = DEFAULT_MAX_NUM_LOAD_RETRIES,
                 load_retry_interval_s: float = DEFAULT_LOAD_RETRY_INTERVAL_S,
                 observer=None, warm_up: Optional[Callable[[Servable], None]] = None):
        validate_config(config)
        if max_num_load_retries < 0:
            raise ValueError(f"max_num_load_retries must be >= 0, got {max_num_load_retries}")
        if load_retry_interval_s < 0:
            raise ValueError(f"load_retry_interval_s must be >= 0, got {load_retry_interval_s}")
        self._max_retries = max_num_load_retries
        self._warm_up = warm_up
        self._retry_interval = load_retry_interval_s
        self._observers = [observer] if observer is not None else []
        self._tags = tuple(tags)
        self._batching = batching
        self._allow_unavailable_labels = allow_version_labels_for_unavailable_models
        self._models: Dict[str, _Model] = {
            m.name: _Model(m) for m in config.model_config_list.config}
        self._config = config
        self._poll_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def config(self) -> model_server_config_pb2.ModelServerConfig:
        return self._config

    def model_names(self) -> List[str]:
        return sorted(self._models)

    # ----- lookups (request path) -----

    def servable(self, spec: model_pb2.ModelSpec) -> Servable:
        """The servable a ``ModelSpec`` asks for (ServerCore::GetServableHandle).

        Raises:
          ServingError: INVALID_ARGUMENT (no name, unknown label), NOT_FOUND
            (unknown model, or version not available).
        """
        name = spec.name
        if not name:
            raise invalid_argument("ModelSpec has no name specified.")
        model = self._models.get(name)
        choice = spec.WhichOneof("version_choice")
        if choice == "version_label":
            labels = model.labels if model is not None else {}
            if spec.version_label not in labels:
                raise invalid_argument(
                    f"Unrecognized servable version label: {spec.version_label}")
            version: Optional[int] = labels[spec.version_label]
        elif choice == "version":
            version = spec.version.value
        else:
            version = None
        available = model.available if model is not None else {}
        if version is None:
            if not available:
                raise not_found(f"Servable not found for request: Latest({name})")
            return available[max(available)]
        servable = available.get(version)
        if servable is None:
            raise not_found(f"Servable not found for request: Specific({name}, {version})")
        return servable

    def status(self, spec: model_pb2.ModelSpec) -> List[VersionState]:
        """Version states for GetModelStatus (get_model_status_impl.cc).

        A label in ``spec`` is ignored, as in TF Serving: all versions are
        reported unless a version number is given.

        Raises:
          ServingError: NOT_FOUND when the model or version has no state.
        """
        model = self._models.get(spec.name)
        states = dict(model.versions) if model is not None else {}
        if spec.WhichOneof("version_choice") == "version":
            state = states.get(spec.version.value)
            if state is None:
                raise not_found(f"Could not find version {spec.version.value} of model "
                                f"{spec.name}")
            return [dataclasses.replace(state)]
        if not states:
            raise not_found(f"Could not find any versions of model {spec.name}")
        return [dataclasses.replace(states[v]) for v in sorted(states)]

    def version_state(self, name: str, version: int) -> Optional[VersionState]:
        model = self._models.get(name)
        state = model.versions.get(version) if model is not None else None
        return dataclasses.replace(state) if state is not None else None

    # ----- polling and loading -----

    def start(self, poll_seconds: float) -> None:
        """Polls once (loading what is there), then every ``poll_seconds``
        in a daemon thread. ``poll_seconds <= 0`` polls only once, like TF
        Serving's ``--file_system_poll_wait_seconds=0``.

        Raises:
          ServingError: a version label points at a version that is not
            available (FAILED_PRECONDITION), as TF Serving fails at startup.
        """
        self.poll()
        self._apply_labels(self._models)
        if poll_seconds > 0:
            self._thread = threading.Thread(target=self._poll_loop, args=(poll_seconds,),
                                            daemon=True, name="version-poller")
            self._thread.start()

    def stop(self) -> None:
        """Stops polling and unloads every version."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._poll_lock:
            for model in self._models.values():
                for version in list(model.available):
                    self._unload(model, version)

    def _poll_loop(self, poll_seconds: float) -> None:
        while not self._stop.wait(poll_seconds):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - keep polling; the error is logged
                log.exception("polling the model base paths failed")

    def add_observer(self, observer) -> None:
        """Adds an observer (see the class docstring); it is told the current
        availability at once."""
        self._observers.append(observer)
        observer.availability_changed(self)

    def _notify(self, method: str, *args) -> None:
        for observer in self._observers:
            try:
                getattr(observer, method)(*args)
            except Exception:  # noqa: BLE001 - an observer must not stop loading
                log.exception("model observer %s failed", method)

    def has_available(self, name: str) -> bool:
        """Whether model ``name`` has an available version."""
        model = self._models.get(name)
        return model is not None and bool(model.available)

    def all_models_available(self) -> bool:
        """Whether every configured model has an available version."""
        models = self._models
        return bool(models) and all(m.available for m in models.values())

    def poll(self) -> None:
        """One pass over every model: aspire, load, then unload.

        A model whose base path cannot be read, or whose polling fails in
        any other way, is logged (once per distinct error) and skipped; the
        other models are polled all the same.
        """
        with self._poll_lock:
            for model in list(self._models.values()):
                if self._stop.is_set():
                    return
                self._poll_isolated(model)
        self._notify("availability_changed", self)

    def _poll_isolated(self, model: _Model) -> None:
        try:
            self._poll_model(model)
        except Exception as err:  # noqa: BLE001 - one model never stops another's polling
            message = f"{type(err).__name__}: {err}"
            if message != model.poll_error:
                log.error("polling base path %s of servable %s failed: %s",
                          model.config.base_path, model.config.name, message)
                model.poll_error = message
            return
        model.poll_error = None

    def _poll_model(self, model: _Model) -> None:
        base = model.config.base_path
        if not tf.io.gfile.isdir(base):
            log.warning("Could not find base path %s for servable %s", base, model.config.name)
            return
        versions, ignored = scan_versions(base)
        new_ignored = [n for n in ignored if n not in model.ignored]
        if new_ignored:
            log.warning("Ignoring children of base path %s of servable %s whose names are "
                        "not base-10 version numbers: %s", base, model.config.name,
                        ", ".join(repr(n) for n in new_ignored))
        model.ignored = set(ignored)  # a name removed and re-added is logged again
        on_disk = [v for v in versions
                   if v in model.versions or self._ready(model, base, v)]
        aspired = set(aspired_versions(model.config, on_disk))
        if not on_disk:
            log.warning("No versions of servable %s found under base path %s",
                        model.config.name, base)
        with self._state_lock:
            for version, state in model.versions.items():
                if version not in aspired:
                    state.aspired = False
            for version in aspired:
                state = model.versions.get(version)
                if state is None or (state.state == END and not state.aspired):
                    # New, or re-aspired after an unload: (re)load it.
                    model.versions[version] = VersionState(
                        version, os.path.join(base, str(version)))
                else:
                    state.aspired = True
        # AvailabilityPreservingPolicy: load aspired versions, highest first ...
        now = time.monotonic()
        for version in sorted(aspired, reverse=True):
            if self._stop.is_set():
                return
            state = model.versions[version]
            if state.state == START or (state.state == END and state.retry_at is not None
                                        and now >= state.retry_at):
                self._load(model, version)
            elif (state.state == END and state.error is not None
                  and state.contents is not None
                  and self._contents(state.path) != state.contents):
                log.info("Version %d of servable %s changed on disk since its load failed; "
                         "loading it again", version, model.config.name)
                state.state, state.attempts, state.contents = START, 0, None
                self._load(model, version)
        # ... then unload what is no longer aspired, never dropping to zero
        # available versions while an aspired one is not available.
        while True:
            unaspired = sorted(v for v in model.available if v not in aspired)
            aspired_up = any(v in model.available for v in aspired)
            if not unaspired or not (not aspired or aspired_up or len(unaspired) > 1):
                break
            self._unload(model, unaspired[0])

    @staticmethod
    def _ready(model: _Model, base: str, version: int) -> bool:
        """Whether a version not seen before holds its SavedModel file yet
        (see the module docstring); logged once per waiting version."""
        if has_saved_model(os.path.join(base, str(version))):
            model.waiting.discard(version)
            return True
        if version not in model.waiting:
            model.waiting.add(version)
            log.info("Version %d of servable %s has no saved_model.pb yet; waiting for it",
                     version, model.config.name)
        return False

    @staticmethod
    def _contents(path: str) -> tuple:
        """What a failed version folder holds: ``(relative name, size,
        mtime)`` of every file, sorted; () when it cannot be read."""
        out = []
        try:
            for rel in relative_files(path):
                stat = tf.io.gfile.stat(os.path.join(path, *rel.split("/")))
                out.append((rel, stat.length, stat.mtime_nsec))
        except (OSError, tf.errors.OpError):
            return ()
        return tuple(out)

    def _load(self, model: _Model, version: int) -> None:
        """One load attempt (loader_harness.cc LoadWithRetries, one round)."""
        state = model.versions[version]
        state.state, state.retry_at = LOADING, None
        started = time.monotonic()
        try:
            servable = Servable(model.config.name, version, state.path, self._tags,
                                self._batching, self._warm_up)
        except Exception as err:  # noqa: BLE001 - any load failure is reported
            error = error_from_exception(err)  # the load error's own code, as TF Serving's
            code, message = error.code, error.message
            seconds = time.monotonic() - started
            state.attempts += 1
            retry = (state.attempts <= self._max_retries
                     and not getattr(err, "permanent", False))
            log.error("Loading servable: {name: %s version: %d} failed: %s%s",
                      model.config.name, version, message,
                      f" (retry {state.attempts} of {self._max_retries} in "
                      f"{self._retry_interval:g} s)" if retry else
                      " (retries used up; loading again when the folder changes)")
            with self._state_lock:
                state.state, state.error, state.load_seconds = END, (code, message), seconds
                if retry:
                    state.retry_at = time.monotonic() + self._retry_interval
                else:
                    state.contents = self._contents(state.path)
            self._notify("load_attempted", model.config.name, version, state.path, False,
                         seconds, None)
            return
        with self._state_lock:
            model.available = {**model.available, version: servable}
            state.state, state.available_at = AVAILABLE, time.monotonic()
            state.load_seconds = state.available_at - started
            state.error, state.attempts, state.contents = None, 0, None
        log.info("Successfully loaded servable version {name: %s version: %d}",
                 model.config.name, version)
        self._notify("load_attempted", model.config.name, version, state.path, True,
                     state.load_seconds, servable)

    def _unload(self, model: _Model, version: int) -> None:
        with self._state_lock:
            state = model.versions[version]
            state.state = UNLOADING
            servable = model.available[version]
            model.available = {v: s for v, s in model.available.items() if v != version}
        servable.close()
        with self._state_lock:
            state.state = END
        log.info("Unloaded servable version {name: %s version: %d}", model.config.name, version)

    # ----- config reload (ModelService.HandleReloadConfigRequest) -----

    def reload_config(self, config: model_server_config_pb2.ModelServerConfig) -> None:
        """Applies a new config like ServerCore::ReloadConfig.

        Models no longer listed are unloaded; new models are loaded before this
        returns; policies and labels of kept models are replaced (kept models
        may not change base path here, as TF Serving reuses their source).

        Raises:
          ServingError: the config is invalid (see ``validate_config``), a new
            model did not become available (UNKNOWN), or a label points at an
            unavailable version (FAILED_PRECONDITION); on error, models
            already loaded keep serving.
        """
        validate_config(config)
        with self._poll_lock:
            models = dict(self._models)
            new_names = []
            for model_config in config.model_config_list.config:
                existing = models.get(model_config.name)
                if existing is None:
                    models[model_config.name] = _Model(model_config)
                    new_names.append(model_config.name)
                else:
                    if existing.config.base_path != model_config.base_path:
                        # A changed base path behaves like remove + add.
                        models[model_config.name] = _Model(model_config)
                        new_names.append(model_config.name)
                        self._unload_all(existing)
                    else:
                        existing.config = model_config
            listed = {m.name for m in config.model_config_list.config}
            for name in [n for n in models if n not in listed]:
                self._unload_all(models.pop(name))
            self._models = models
            self._config = config
            for model in models.values():
                self._poll_isolated(model)
        self._notify("availability_changed", self)
        failed = [n for n in new_names if not self._models[n].available]
        if failed:
            raise make_error(grpc.StatusCode.UNKNOWN,
                             f"Some models did not become available: {sorted(failed)}")
        self._apply_labels(self._models)

    def _unload_all(self, model: _Model) -> None:
        for version in list(model.available):
            self._unload(model, version)

    def _apply_labels(self, models: Dict[str, _Model]) -> None:
        """ServerCore::UpdateModelVersionLabelMap."""
        new_labels = {}
        for name, model in models.items():
            labels = {}
            for label, version in model.config.version_labels.items():
                if not self._allow_unavailable_labels and version not in model.available:
                    raise failed_precondition(
                        f"Request to assign label to version {version} of model {name}, "
                        f"which is not currently available for inference")
                labels[label] = version
            new_labels[name] = labels
        for name, labels in new_labels.items():
            models[name].labels = labels
