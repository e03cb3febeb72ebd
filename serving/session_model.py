"""TF1 SavedModels run in a TensorFlow Session, the way TF Serving runs every model.

TF Serving loads a SavedModel into a Session (tensorflow/cc/saved_model/
loader.cc ``LoadSavedModel``) and answers each request with ``Session::Run``,
feeding and fetching the tensors the SignatureDef names
(servables/tensorflow/predict_util.cc, classifier.cc, regressor.cc). The
Session checks each fed value's dtype, not its shape: a graph is fed whatever
batch it is given.

``tf.saved_model.load`` does otherwise for a TF1 SavedModel: it prunes one
function per signature and gives each input the shape its TensorInfo
records (load_v1_in_v2.py, wrap_function.py ``prune``: ``set_shape``). TF1
exporters often recorded no shape, which then reads as a scalar: TF
Serving's own test model ``saved_model_half_plus_three`` (written by TF 1.0)
fails to load that way ("Shapes must be equal rank, but are 2 and 0"), and
signatures that do load reject every batch.

So a SavedModel whose meta graph has no object graph (TF1's
``SavedModelBuilder`` wrote it, not ``tf.saved_model.save``) is loaded here
with ``tf.compat.v1.saved_model.loader.load`` into its own Graph and
Session (restoring variables, running the main/legacy init op), and each
signature becomes a Session callable (``Session::MakeCallable``) over the
tensor names: the graph's own feeds and fetches, no Python-side shape check.
TF2 SavedModels keep ``tf.saved_model.load`` (``serving.manager.Servable``).
"""
from __future__ import annotations

from typing import Callable, Dict, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import config_pb2, meta_graph_pb2

Signature = Callable[..., Dict[str, np.ndarray]]


def is_tf1_meta_graph(meta_graph: meta_graph_pb2.MetaGraphDef) -> bool:
    """True when the meta graph has no object graph, i.e. TF1's
    SavedModelBuilder wrote it (``tf.saved_model.load`` cannot run it)."""
    return not meta_graph.HasField("object_graph_def")


class SessionModel:
    """A TF1 SavedModel loaded into its own Graph and Session.

    Attributes:
      signatures: ``{key: callable}``; each takes the signature's input
        aliases as keyword arguments (ndarrays) and returns ``{output alias:
        ndarray}``. Signatures naming composite (sparse, ragged) tensors are
        left out, as are signatures without outputs.

    Raises (constructor):
      tf.errors.OpError / ValueError / OSError: the SavedModel cannot be loaded.
    """

    def __init__(self, export_dir: str, tags: Sequence[str],
                 signature_defs: Mapping[str, meta_graph_pb2.SignatureDef]):
        self._graph = tf.Graph()
        with self._graph.as_default():
            self._session = tf.compat.v1.Session(graph=self._graph)
            tf.compat.v1.saved_model.loader.load(self._session, list(tags), export_dir)
        self.signatures: Dict[str, Signature] = {}
        for key, sigdef in signature_defs.items():
            function = self._signature(sigdef)
            if function is not None:
                self.signatures[key] = function

    def _signature(self, sigdef: meta_graph_pb2.SignatureDef) -> Optional[Signature]:
        inputs, outputs = sorted(sigdef.inputs.items()), sorted(sigdef.outputs.items())
        if not outputs or any(info.WhichOneof("encoding") != "name"
                              for _, info in inputs + outputs):
            return None
        in_aliases = [alias for alias, _ in inputs]
        out_aliases = [alias for alias, _ in outputs]
        options = config_pb2.CallableOptions(feed=[info.name for _, info in inputs],
                                             fetch=[info.name for _, info in outputs])
        try:
            # Session::MakeCallable; ``Session.run`` would check feed shapes in Python.
            run = self._session._make_callable_from_options(options)  # noqa: SLF001
        except (tf.errors.OpError, ValueError, KeyError) as err:
            error = err  # a signature naming tensors the graph lacks fails when run

            def failing(**arrays):
                raise error
            return failing

        def call(**arrays: np.ndarray) -> Dict[str, np.ndarray]:
            if set(arrays) != set(in_aliases):
                raise TypeError(f"signature takes inputs {in_aliases}, got {sorted(arrays)}")
            values = run(*[arrays[alias] for alias in in_aliases])
            return dict(zip(out_aliases, values))
        return call
