"""The typed configuration of one pipeline run.

The CLI fills a ``RunConfig``; every runner and component factory receives it
and nothing reads global state. ``to_json``/``from_json`` round-trip it so a
run can be reproduced from the copy written into the workspace.
"""
from __future__ import annotations

import dataclasses
import json
import math
import typing
from typing import Any, Dict, List, Optional

from tfxp.core.datasets import DatasetSpec
from tfxp.core.uris import abspath
from tfxp.core.latency import check_settings as check_latency_settings
from tfxp.core.workspace import DEFAULT_WORKSPACE, Workspace
from tfxp.models.embeddings import embeddings_dir
from tfxp.models.pretrained_encoder import encoder_dir
from tfxp.models.registry import ModelFamily, get_family, resolve_dataset, validate_hparams

# Beam's local FnApiRunner, in-process. In-process, because on the 2-core
# development machine (bench/pipeline_bench.py, bench/transform_bench.py)
# multi_processing starts SDK worker processes that each import TensorFlow for
# every Beam component, which cost ExampleGen 255 s against 14 s in_memory
# and StatisticsGen 130 s against 13 s on the taxi data; many-core machines
# can choose it with ``--beam-preset direct-multiprocess``. The FnApiRunner by
# name, because Beam 2.74's DirectRunner first tries the PrismRunner, whose
# binary it downloads from GitHub at run time (direct_runner.py,
# SwitchingDirectRunner): offline that fails and falls back to this same
# FnApiRunner, online it would run on an unpinned runner TFX 1.16 was not
# tested with.
DEFAULT_BEAM_ARGS = ("--runner=FnApiRunner", "--direct_running_mode=in_memory")
DEFAULT_DATA_DIR = "data"


@dataclasses.dataclass
class RunConfig:
    """What to run and where.

    Attributes:
      model: model family name (``models.registry.FAMILIES``).
      dataset: dataset name; None means the family's default.
      workspace: the workspace folder (``core.workspace.Workspace``: MLMD,
        artefacts, pushed models, run configs, logs and reports).
      data_dir: folder with the offline dataset files (``scripts/get_data.sh``).
      csv: a CSV file, or a folder of CSV files, for tabular data; None means
        the taxi CSV in the tfx wheel.
      train_steps, eval_steps, epochs, per_replica_batch: None means the
        family's default. Steps count global batches.
      hparams: overrides of the family's builder hparams (checked by
        ``models.registry.validate_hparams``, augmentation settings included).
      early_stopping_patience: stop training after this many epochs without
        a better blessing metric on the per-epoch validation; None (default)
        trains every epoch. The Trainer exports the best epoch either way.
      seed: the Trainer's random seed (``keras.utils.set_random_seed``:
        Python, NumPy and TF's global seed, so weight initialisation,
        dropout and the shuffle of the training input), an int in
        [0, 2**32 - 1]; None (default) leaves them unseeded, so two runs of
        one config train different models. A seeded run repeats its
        training on the same machine and replica count; TF's kernels are
        not made deterministic (``enable_op_determinism`` is not called:
        it slows training and refuses some ops), so results may still
        differ in the last digits across machines and thread counts.
      metric_threshold: lower bound on the blessing metric (AUC for binary
        tasks, accuracy otherwise); None means the family's default.
      max_metric_drop: how far the blessing metric may fall below the latest
        blessed model's and still be blessed (0 = must not fall).
      thresholds: False evaluates without any blessing threshold (``--threshold
        none``): TFX's Evaluator then computes the metrics but writes no
        verdict, the run is "not evaluated: no thresholds", and the Pusher,
        which pushes blessed models only, pushes nothing.
      latency_budget_ms: ``{figure: ms}`` upper bounds on the candidate's gRPC
        Predict latency, figures ``p50_b1``, ``p99_b1``, ``p50_b64``,
        ``p99_b64`` (``core.latency``); {} = no budget.
      max_latency_slowdown: how much slower than the currently pushed
        version the candidate may be (a share: 1.0 = twice as slow), on
        every figure, plus ``latency_margin_ms``; None compares with the
        budget only. Both are checked by the infra validator, which then
        does not bless (``components.infra_validator``).
      latency_margin_ms: absolute allowance for timing noise, in ms.
      beam_pipeline_args: Beam options for every Beam-based component.
      enable_cache: reuse outputs of components whose inputs did not change.
      warm_start: initialise the Trainer from the latest blessed model of
        this pipeline (same family and dataset), the one the Evaluator
        compares with (``models.warm_start``); with none yet the Trainer
        trains from scratch and says so. A base whose architecture hparams
        differ stops the run. Needs the latest-blessed-model Resolver
        (``create_components(baseline=True)``; not on ``--target kfp``).
    """
    model: str = "dense"
    dataset: Optional[str] = None
    workspace: str = DEFAULT_WORKSPACE
    data_dir: str = DEFAULT_DATA_DIR
    csv: Optional[str] = None
    train_steps: Optional[int] = None
    eval_steps: Optional[int] = None
    epochs: Optional[int] = None
    per_replica_batch: Optional[int] = None
    hparams: Dict[str, Any] = dataclasses.field(default_factory=dict)
    early_stopping_patience: Optional[int] = None
    seed: Optional[int] = None
    metric_threshold: Optional[float] = None
    max_metric_drop: float = 0.0
    thresholds: bool = True
    latency_budget_ms: Dict[str, float] = dataclasses.field(default_factory=dict)
    max_latency_slowdown: Optional[float] = 1.0
    latency_margin_ms: float = 2.0
    beam_pipeline_args: List[str] = dataclasses.field(
        default_factory=lambda: list(DEFAULT_BEAM_ARGS))
    enable_cache: bool = True
    warm_start: bool = False

    @property
    def family(self) -> ModelFamily:
        return get_family(self.model)

    @property
    def dataset_spec(self) -> DatasetSpec:
        return resolve_dataset(self.family, self.dataset)

    @property
    def model_name(self) -> str:
        """Name the model is served under: the family, plus a non-default dataset."""
        dataset = self.dataset_spec.name
        return self.model if dataset == self.family.default_dataset else f"{self.model}_{dataset}"

    @property
    def pipeline_name(self) -> str:
        return f"{self.model_name}-pipeline"

    @property
    def resolved_train_steps(self) -> int:
        return self.train_steps or self.family.train_steps

    @property
    def resolved_eval_steps(self) -> int:
        return self.eval_steps or self.family.eval_steps

    @property
    def resolved_threshold(self) -> Optional[float]:
        """The blessing metric's lower bound; None without thresholds."""
        if not self.thresholds:
            return None
        return (self.metric_threshold if self.metric_threshold is not None
                else self.family.metric_threshold)

    # Paths: the workspace layout (core/workspace.py) for this run's names.
    @property
    def ws(self) -> Workspace:
        return Workspace(self.workspace)

    @property
    def metadata_path(self) -> str:
        return self.ws.metadata_path

    @property
    def pipeline_root(self) -> str:
        return self.ws.pipeline_root(self.pipeline_name)

    @property
    def serving_base(self) -> str:
        return self.ws.serving_base(self.model_name)

    def trainer_config(self) -> Dict[str, Any]:
        """``custom_config`` the Trainer's ``run_fn`` reads."""
        config = {"family": self.model, "dataset": self.dataset_spec.name,
                  "hparams": dict(self.hparams)}
        if self.epochs:
            config["epochs"] = self.epochs
        if self.per_replica_batch:
            config["per_replica_batch"] = self.per_replica_batch
        if self.early_stopping_patience is not None:
            config["early_stopping_patience"] = self.early_stopping_patience
        if self.seed is not None:  # only when set: other runs keep their cache keys
            config["seed"] = self.seed
        if self.warm_start:  # only when set: other runs keep their cache keys
            config["warm_start"] = True
        pretrained = self.pretrained_embeddings
        if pretrained:  # models.training.apply_pretrained reads it
            config["embeddings_dir"] = abspath(embeddings_dir(self.data_dir, pretrained))
        encoder = self.pretrained_encoder
        if encoder:  # models.training.resolve_hparams reads it
            config["encoder_dir"] = abspath(encoder_dir(self.data_dir, encoder))
        return config

    @property
    def pretrained_encoder(self) -> Optional[str]:
        """The pre-trained encoder the Transformer fine-tunes (the family's
        ``pretrained_encoder`` hparam after ``hparams``), or None."""
        return self.family.with_overrides(self.hparams).get("pretrained_encoder")

    @property
    def pretrained_embeddings(self) -> Optional[str]:
        """The word-vector set the Trainer starts the token embedding from
        (the family's ``pretrained_embeddings`` hparam after ``hparams``), or None."""
        return self.family.with_overrides(self.hparams).get("pretrained_embeddings")

    def validate(self) -> None:
        """Raises ``ValueError`` naming the first bad field.

        Runs before any component: the family's hparams with ``hparams``
        applied (``validate_hparams``: ranges, augmentation names), steps,
        epochs and patience, thresholds.
        """
        self.dataset_spec  # unknown family/dataset, or modality mismatch
        for name in ("train_steps", "eval_steps", "epochs", "per_replica_batch",
                     "early_stopping_patience"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.seed is not None and (isinstance(self.seed, bool)
                                      or not isinstance(self.seed, int)
                                      or not 0 <= self.seed < 2 ** 32):
            raise ValueError(f"seed must be an int in [0, 2**32 - 1], got {self.seed!r}")
        if not isinstance(self.hparams, dict):
            raise ValueError(f"hparams must be a mapping, got {self.hparams!r}")
        validate_hparams(self.family, self.hparams)
        if self.metric_threshold is not None and not 0 <= self.metric_threshold <= 1:
            raise ValueError(f"threshold must be in [0, 1] (an AUC or an accuracy), "
                             f"got {self.metric_threshold}")
        if not self.max_metric_drop >= 0:  # nan too
            raise ValueError(f"max_metric_drop must be >= 0, got {self.max_metric_drop}")
        if not isinstance(self.latency_budget_ms, dict):
            raise ValueError(f"latency_budget_ms must be a mapping of figure to ms, got "
                             f"{self.latency_budget_ms!r}")
        check_latency_settings(self.latency_budget_ms, self.max_latency_slowdown,
                               self.latency_margin_ms)
        if not self.thresholds and (self.metric_threshold is not None
                                    or self.max_metric_drop):
            raise ValueError("threshold none evaluates without thresholds; drop "
                             "metric_threshold and max_metric_drop")

    @property
    def latency_gate_json(self) -> str:
        """The infra validator's ``latency_gate_json`` parameter."""
        return json.dumps({"budget_ms": dict(self.latency_budget_ms),
                           "max_slowdown": self.max_latency_slowdown,
                           "margin_ms": self.latency_margin_ms}, sort_keys=True)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    def with_absolute_paths(self) -> "RunConfig":
        """This config with ``workspace``, ``data_dir`` and ``csv`` made
        absolute (URIs such as ``gs://...`` unchanged), as a run's saved
        ``config.json`` holds them: ``run --config`` repeats the run from
        any working folder."""
        return dataclasses.replace(
            self, workspace=abspath(self.workspace), data_dir=abspath(self.data_dir),
            csv=abspath(self.csv) if self.csv is not None else None)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        """Parses ``to_json`` output.

        Raises:
          ValueError: not a JSON object, an unknown key, or a value whose JSON
            type does not fit the field (named, with what it expects).
        """
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"a config is a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; expected some of {sorted(known)}")
        hints = typing.get_type_hints(cls)
        for name, value in data.items():
            if not _fits(value, hints[name]):
                raise ValueError(f"config key {name!r} must be {_type_text(hints[name])}, "
                                 f"got {json.dumps(value)}")
        return cls(**data)


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a field's type hint (bool is no number;
    an int is a float; list and dict items are checked one level down)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin is typing.Union:
        return any(_fits(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    if hint is str:
        return isinstance(value, str)
    if origin in (list, List):
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value)
    if origin in (dict, Dict):
        return isinstance(value, dict) and all(_fits(v, args[1]) for v in value.values())
    return True


def _type_text(hint: Any) -> str:
    """``Optional[int]`` -> ``an integer or null``, for error messages."""
    names = {int: "an integer", float: "a finite number", str: "a string", bool: "true or false",
             type(None): "null"}
    if typing.get_origin(hint) is typing.Union:
        return " or ".join(_type_text(arg) for arg in typing.get_args(hint))
    if typing.get_origin(hint) in (list, List):
        return f"a list of {_type_text(typing.get_args(hint)[0]).split(' ', 1)[-1]}s"
    if typing.get_origin(hint) in (dict, Dict):
        return "an object"
    return names.get(hint, str(hint))
