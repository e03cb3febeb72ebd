"""Warm start: the Trainer begins from the latest blessed model's weights.

**Where the base model comes from.** ``tfxp run --warm-start``
(``RunConfig.warm_start``) feeds the latest-blessed-model Resolver, the one
that gives the Evaluator its baseline, into the Trainer's ``base_model``
input (``pipeline.pipeline.create_components``); TFX hands it to ``run_fn``
as ``fn_args.base_model``, the path ``<Model artifact>/Format-Serving``
(``tfx/components/trainer/fn_args_utils.py``, ``path_utils.
serving_model_path``), the standard TFX warm-start channel. The Resolver
looks in this pipeline only, so the base is of the same family and dataset.

**What is carried over.** The serving SavedModel holds the weights inside
its signatures' graph (with the TFT layer), not as a Keras model, so the
Trainer also writes, beside ``Format-Serving`` in its Model artifact,
``warm_start/`` (``WARM_START_DIR``; the Pusher copies only
``Format-Serving``):

- ``weights.npz``: ``model.get_weights()`` in order (the exported, best
  epoch's weights; non-trainable ones such as batch-norm statistics too);
- ``spec.json``: family, dataset, ``architecture`` (the hparams that decide
  the weights, ``models.registry.architecture``), every weight's name and
  shape, and ``rows``: a label per input row of the first weight (below).

The optimizer state is not carried over: Adam starts afresh, as with
``tf.estimator.WarmStartSettings``, which warm-starts variables only.

**Input rows follow their meaning, not their index.** The data decides
some input sizes: the taxi vocabularies (``payment_type``, ``company``, the
community areas; TFT orders them by frequency) and the text vocabulary are
recomputed from the new data by Transform. The first weight of those
families is indexed by input rows: the first ``Dense`` kernel of the
tabular MLP (one row per numeric feature, then one per one-hot position of
each categorical feature, in ``categorical_features`` order; ``models.
dense``), the token ``Embedding`` of the text models (row 0 padding, then
the vocabulary, then OOV buckets); with ``categorical_embedding_dim`` the
Dense model's first weight is its concatenated embedding table, one row per
one-hot position. ``input_rows`` labels each row (feature
name, ``name=token`` for a vocabulary entry, ``name#i`` for a fixed bucket
or an OOV bucket), and ``load`` copies a base row to the new row with the
same label: a token both vocabularies know keeps its learnt row wherever its
rank moved, a new token keeps its fresh initialisation, a token only the
base knew is dropped. This is what ``WarmStartSettings``' ``VocabInfo`` does
for Estimators (TF's ``training/warm_starting_util.py``,
``_warm_start_var_with_vocab``). Quantile buckets and calendar values keep
their index (bucket i is still the i-th decile of the new data). Image
families have fixed input shapes and no row labels.

**Mismatches stop.** A base of another family or dataset, other
architecture hparams (anything but ``TRAINING_HPARAMS``) or a weight of
another shape than the rows explain raises ``WarmStartMismatch``, one line
naming the difference: a silently cold start would be mistaken for a warm
one. ``tfxp run`` checks this before anything runs (exit 2,
``cli/main.py``); the Trainer checks it again (a run without the CLI, on
Kubeflow). With no blessed model yet, or a base exported before warm start
existed (no ``warm_start/``), the Trainer trains from scratch and says so.

TensorFlow is imported inside the functions that need it, so the CLI's
check reads a spec without it.
"""
from __future__ import annotations

import io
import json
import os
from typing import Any, Dict, List, Optional, Sequence

from tfxp.core import features as F
from tfxp.core.datasets import TABULAR, TEXT
from tfxp.core.uris import dirname, is_uri, join
from tfxp.models.registry import ARCHITECTURE_WHEN_ABSENT, TRAINING_HPARAMS

WARM_START_DIR = "warm_start"   # in the Model artifact, beside Format-Serving
SPEC_FILE = "spec.json"
WEIGHTS_FILE = "weights.npz"
# history.json's "warm_start" status values.
LOADED, FROM_SCRATCH, RESUMED = "loaded", "from_scratch", "resumed"


class WarmStartMismatch(ValueError):
    """The base model cannot initialise this run's model; one line."""


def input_rows(modality: str, hparams: Dict[str, Any],
               vocabularies: Dict[str, Sequence[str]]) -> Optional[List[str]]:
    """A label per row of the model's first weight, or None (image models,
    the Transformer with a pre-trained encoder).

    Args:
      modality: the dataset's (``core.datasets``).
      hparams: the resolved hparams (``models.training.resolve_hparams``).
      vocabularies: ``{transformed feature name: tokens in id order}`` of the
        features Transform maps through a vocabulary (``vocabularies``).
    Returns:
      tabular: numeric feature names (not with categorical embeddings),
      then per categorical feature
      ``cardinality`` labels: ``name=token`` for its vocabulary entries,
      ``name#i`` for fixed buckets and OOV buckets. text: ``#pad``, the
      vocabulary's ``=token``, ``#oov<j>``.
    """
    if modality == TABULAR:
        # One-hot MLP: the first Dense kernel's rows are the numerics, then
        # the one-hot positions; with categorical embeddings the first
        # weight is the concatenated table, one-hot positions only.
        embedded = bool(hparams.get("categorical_embedding_dim"))
        rows = [] if embedded else list(hparams["numeric_features"])
        for name, cardinality in hparams["categorical_features"].items():
            tokens = list(vocabularies.get(name, ()))[:cardinality]
            rows += [f"{name}={t}" for t in tokens]
            rows += [f"{name}#{i}" for i in range(len(tokens), cardinality)]
        return rows
    if modality == TEXT and hparams.get("pretrained_encoder"):
        # The first weight is the WordPiece embedding, whose rows do not
        # follow Transform's vocabulary; the word -> pieces table is a
        # constant rebuilt from the current vocabulary (models.transformer).
        return None
    if modality == TEXT:
        tokens = list(vocabularies.get(hparams["input_name"], ()))
        size = hparams["vocab_size"]
        return (["#pad"] + [f"={t}" for t in tokens][:size - 1]
                + [f"#oov{j}" for j in range(size - 1 - len(tokens))])
    return None


def vocabularies(tft_output, modality: str) -> Dict[str, List[str]]:
    """``{transformed name: tokens}`` of the vocabularies Transform computed
    (``models/preprocessing.py``: ``vocab_filename`` is the raw feature's
    name), decoded from UTF-8 (undecodable bytes escaped)."""
    keys = {TABULAR: F.VOCAB_FEATURES, TEXT: (F.TOKENS_KEY,)}.get(modality, ())
    out = {}
    for key in keys:
        out[F.transformed_name(key)] = [
            t.decode("utf-8", "backslashreplace") if isinstance(t, bytes) else str(t)
            for t in tft_output.vocabulary_by_name(key)]
    return out


def make_spec(family: str, dataset: str, architecture: Dict[str, Any],
              rows: Optional[List[str]], model) -> Dict[str, Any]:
    """What ``spec.json`` records of a trained ``model``."""
    return {"family": family, "dataset": dataset, "architecture": architecture,
            "rows": rows, "weights": [[w.name, list(w.shape)] for w in model.weights]}


def _read(path: str, mode: str = "r"):
    if is_uri(path):
        import tensorflow as tf
        with tf.io.gfile.GFile(path, mode) as f:
            return f.read()
    with open(path, mode) as f:
        return f.read()


def _exists(path: str) -> bool:
    if is_uri(path):
        import tensorflow as tf
        return tf.io.gfile.exists(path)
    return os.path.exists(path)


def save(model, model_uri: str, spec: Dict[str, Any]) -> str:
    """Writes ``warm_start/{weights.npz,spec.json}`` into the Model artifact
    ``model_uri`` (local path or URI); returns the folder. The spec last, so
    a folder with a spec always has its weights."""
    import numpy as np
    import tensorflow as tf

    folder = join(model_uri, WARM_START_DIR)
    tf.io.gfile.makedirs(folder)
    buffer = io.BytesIO()
    np.savez(buffer, *model.get_weights())
    with tf.io.gfile.GFile(join(folder, WEIGHTS_FILE), "wb") as f:
        f.write(buffer.getvalue())
    with tf.io.gfile.GFile(join(folder, SPEC_FILE), "w") as f:
        json.dump(spec, f)
    return folder


def read_spec(model_uri: str) -> Optional[Dict[str, Any]]:
    """The base Model artifact's ``spec.json``, or None when it has none
    (exported before warm start existed)."""
    path = join(model_uri, WARM_START_DIR, SPEC_FILE)
    return json.loads(_read(path)) if _exists(path) else None


def check_compatible(base: Dict[str, Any], family: str, dataset: str,
                     architecture: Dict[str, Any], base_uri: str) -> None:
    """Raises ``WarmStartMismatch`` unless ``base`` (a ``spec.json``) can
    initialise a ``family`` model for ``dataset`` with ``architecture``
    (``models.registry.architecture``).

    The message is one line: the base model, what differs (``hidden_units
    [128, 64, 32] (base) vs [16] (this run)``) and what to do.
    """
    where = f"warm start: the latest blessed model ({base_uri})"
    advice = "run without --warm-start to train from scratch"
    if base.get("family") != family or base.get("dataset") != dataset:
        raise WarmStartMismatch(
            f"{where} is a {base.get('family')} model for {base.get('dataset')}, this run "
            f"trains {family} for {dataset}; {advice}")
    theirs = {**{k: v for k, v in ARCHITECTURE_WHEN_ABSENT.items() if k in architecture},
              **(base.get("architecture") or {})}
    diffs = [f"{key} {json.dumps(theirs.get(key))} (base) vs "
             f"{json.dumps(architecture.get(key))} (this run)"
             for key in sorted(set(theirs) | set(architecture))
             if theirs.get(key) != architecture.get(key)]
    if diffs:
        raise WarmStartMismatch(
            f"{where} has other hparams: {'; '.join(diffs)}. A warm start needs the same "
            f"architecture (only {', '.join(TRAINING_HPARAMS)} may change); {advice}, or "
            f"with the base model's hparams")


def load(model, base_uri: str, base: Dict[str, Any], rows: Optional[List[str]]
         ) -> Dict[str, int]:
    """Sets ``model``'s weights from the base Model artifact ``base_uri``
    (spec ``base``, already checked by ``check_compatible``).

    Every weight is copied as is, except the first one's input rows when
    both models label them (``input_rows``): those are copied by label.

    Args:
      model: the freshly built (initialised) Keras model of this run.
      rows: this model's ``input_rows``.
    Returns:
      ``{"weights": copied weights, "rows_kept", "rows_new", "rows_dropped"}``
      (rows: 0 without labels).
    Raises:
      WarmStartMismatch: another number of weights, or a weight of another
        shape that the row labels do not explain.
    """
    import numpy as np

    archive = np.load(io.BytesIO(_read(join(base_uri, WARM_START_DIR, WEIGHTS_FILE), "rb")))
    theirs = [archive[f"arr_{i}"] for i in range(len(archive.files))]
    ours = model.get_weights()
    names = [w.name for w in model.weights]
    if len(theirs) != len(ours):
        raise WarmStartMismatch(
            f"warm start: the latest blessed model ({base_uri}) has {len(theirs)} weights, "
            f"this model {len(ours)}; run without --warm-start to train from scratch")
    stats = {"weights": len(ours), "rows_kept": 0, "rows_new": 0, "rows_dropped": 0}
    base_rows = base.get("rows")
    for i, (old, new) in enumerate(zip(theirs, ours)):
        if i == 0 and rows is not None and base_rows is not None:
            if len(rows) != new.shape[0] or len(base_rows) != old.shape[0]:
                raise RuntimeError(f"input row labels ({len(rows)}, base {len(base_rows)}) "
                                   f"do not fit weight {names[0]} {list(new.shape)} (base "
                                   f"{list(old.shape)}): a builder changed its first layer")
            if old.shape[1:] == new.shape[1:]:
                index = {label: r for r, label in enumerate(base_rows)}
                source = [index.get(label) for label in rows]
                hits = [r for r, s in enumerate(source) if s is not None]
                new[hits] = old[[source[r] for r in hits]]
                stats.update(rows_kept=len(hits), rows_new=len(rows) - len(hits),
                             rows_dropped=len(base_rows) - len(hits))
                ours[i] = new
                continue
        if old.shape != new.shape:
            raise WarmStartMismatch(
                f"warm start: weight {names[i]} of the latest blessed model ({base_uri}) "
                f"has shape {list(old.shape)}, this model's {list(new.shape)}; run "
                f"without --warm-start to train from scratch")
        ours[i] = old
    model.set_weights(ours)
    return stats


def begin(model, base_model: Optional[str], *, family: str, dataset: str,
          architecture: Dict[str, Any], rows: Optional[List[str]], resumed: bool
          ) -> Dict[str, Any]:
    """What ``run_fn`` does for a warm-started run, before ``fit``; prints
    one ``[trainer] warm start: ...`` line and returns the record for
    ``history.json`` (``status`` ``loaded``, ``from_scratch`` or ``resumed``,
    ``base_model``, ``message``, and ``load``'s counts when loaded).

    Args:
      model: the freshly built model, set in place when loaded.
      base_model: ``fn_args.base_model`` (``<Model artifact>/Format-Serving``),
        None when the Resolver found no blessed model.
      resumed: a step backup of this very training exists; resuming from it
        takes precedence (its weights would replace the base's anyway).
    Raises:
      WarmStartMismatch: see ``check_compatible`` and ``load``.
    """
    base_uri = dirname(base_model.rstrip("/")) if base_model else None
    record: Dict[str, Any] = {"base_model": base_uri}
    if resumed:
        record.update(status=RESUMED, message=(
            "warm start skipped: this training resumes from its step backup, which "
            "takes precedence"))
    elif base_uri is None:
        record.update(status=FROM_SCRATCH, message=(
            "warm start: no blessed model of this pipeline yet; training from scratch"))
    else:
        base = read_spec(base_uri)
        if base is None:
            record.update(status=FROM_SCRATCH, message=(
                f"warm start: the latest blessed model ({base_uri}) has no {WARM_START_DIR}/ "
                f"weights (exported before warm start existed); training from scratch"))
        else:
            check_compatible(base, family, dataset, architecture, base_uri)
            stats = load(model, base_uri, base, rows)
            record.update(status=LOADED, **stats, message=(
                f"warm start: {stats['weights']} weights from {base_uri}"
                + (f"; input rows kept {stats['rows_kept']}, new {stats['rows_new']}, "
                   f"dropped {stats['rows_dropped']}" if rows is not None else "")))
    print(f"[trainer] {record['message']}", flush=True)
    return record
