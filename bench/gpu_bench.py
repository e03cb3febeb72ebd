"""Time per epoch of ResNet and Transformer under MirroredStrategy: GPU(s)
against the CPU, float32 and ``mixed_float16``. One run, side by side.

Usage:
  .venv/bin/python bench/gpu_bench.py [--repeats 5] [--cpu-steps 10]
      [--families resnet,transformer] [--gpu-epoch-fraction 1.0]
  bench/gpu_bench.sh   # on a fresh GPU machine: installs the CUDA wheels first

Prints "no GPU" and exits 0 when ``tf.config.list_physical_devices("GPU")``
is empty (nothing is written then).

Models are the registry's builders with the family's default hparams
(``models.registry.FAMILIES``) and the input sizes the pipeline derives:
ResNet on 28x28x1 float32 images, 10 classes, one epoch = Fashion-MNIST's
60,000 training images; Transformer on int64 token ids ``[N, 64]``
(vocabulary 20,000 + padding + OOV), 2 classes, one epoch = 10,000
snippets (about Rotten Tomatoes' train split). Data is synthetic, random
values of those shapes and dtypes, in memory (no download): this times the
model, not input reading. Global batch = the family's per-replica batch x
replicas.

Each configuration runs ``model.fit`` for 1 warm-up + ``--repeats`` epochs
and records each epoch's seconds (a callback); the warm-up epoch (tracing,
autotuning) is dropped. The GPU runs whole epochs (``--gpu-epoch-fraction``
shortens them); the CPU runs ``--cpu-steps`` steps per "epoch", scaled to
a full epoch (seconds x steps per epoch / steps run). The CPU strategy is
``MirroredStrategy(["/cpu:0"])``; the GPU one mirrors over every GPU.

Mixed precision: the model is built under the ``mixed_float16`` policy and
its final ``probabilities`` layer is cloned with dtype float32 (softmax
and loss in float32, as TF's mixed-precision guide advises); tf_keras wraps
the optimizer in a ``LossScaleOptimizer`` at compile time.

Rows (ratio = reference seconds / ours, higher is better): GPU float32 vs
CPU float32; GPU mixed_float16 vs GPU float32. Writes
``bench/results/gpu.json``.
"""
from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfxp.core import env  # noqa: E402,F401

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

EPOCH_EXAMPLES = {"resnet": 60000, "transformer": 10000}
VOCAB_SIZE = 20000 + 1 + 1  # F.TEXT_VOCAB_TOP_K + padding + OOV bucket
MAX_TOKENS = 64


def hparams(family: str) -> Dict:
    """The family's registry hparams plus the input sizes the pipeline derives."""
    from tfxp.core import features as F
    from tfxp.models.registry import get_family

    h = dict(get_family(family).hparams)
    if family == "resnet":
        h.update(input_shape=F.IMAGE_SHAPE, input_name=F.transformed_name(F.IMAGE_KEY),
                 num_classes=10)
    else:
        h.update(vocab_size=VOCAB_SIZE, max_tokens=MAX_TOKENS,
                 input_name=F.transformed_name(F.TOKENS_KEY), num_classes=2)
    return h


def synthetic(family: str, examples: int, seed: int = 0):
    """Random inputs and labels: resnet float32 ``[examples, 28, 28, 1]`` in
    [0, 1); transformer int64 ``[examples, 64]`` ids with trailing padding.
    Labels int64 ``[examples]``."""
    rng = np.random.default_rng(seed)
    if family == "resnet":
        x = rng.random((examples, 28, 28, 1), dtype=np.float32)
        y = rng.integers(0, 10, examples)
    else:
        x = rng.integers(1, VOCAB_SIZE, (examples, MAX_TOKENS))
        lengths = rng.integers(5, MAX_TOKENS + 1, examples)
        x[np.arange(MAX_TOKENS)[None, :] >= lengths[:, None]] = 0
        y = rng.integers(0, 2, examples)
    return x, y.astype(np.int64)


def build(family: str, mixed: bool):
    """The registry builder's model, compiled; under ``mixed`` the final layer is float32."""
    from tfxp.models.common import compile_classifier
    from tfxp.models.registry import get_family

    h = hparams(family)
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    try:
        model = get_family(family).build_model(h)
        if mixed:
            def clone(layer):
                config = layer.get_config()
                if layer.name == "probabilities":
                    config["dtype"] = "float32"
                return layer.__class__.from_config(config)
            model = keras.models.clone_model(model, clone_function=clone)
            compile_classifier(model, h)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return model


class EpochTimer(keras.callbacks.Callback):
    """Records each epoch's wall seconds in ``times``."""

    def __init__(self):
        super().__init__()
        self.times: List[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def time_epochs(family: str, devices: List[str], mixed: bool, steps: int,
                repeats: int) -> Dict[str, float]:
    """Seconds per ``steps``-step epoch (median/min/max of ``repeats`` after 1 warm-up)
    under ``MirroredStrategy(devices)``; also the global batch."""
    from tfxp.models.registry import get_family

    strategy = tf.distribute.MirroredStrategy(devices)
    batch = get_family(family).per_replica_batch * strategy.num_replicas_in_sync
    x, y = synthetic(family, steps * batch)
    dataset = (tf.data.Dataset.from_tensor_slices((x, y)).batch(batch, drop_remainder=True)
               .cache().repeat().prefetch(tf.data.AUTOTUNE))
    with strategy.scope():
        model = build(family, mixed)
    timer = EpochTimer()
    model.fit(dataset, epochs=1 + repeats, steps_per_epoch=steps, callbacks=[timer],
              verbose=0)
    times = timer.times[1:]
    return {"median": statistics.median(times), "min": min(times), "max": max(times),
            "runs": times, "steps": steps, "global_batch": batch,
            "replicas": strategy.num_replicas_in_sync}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", default="resnet,transformer")
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs after 1 warm-up")
    parser.add_argument("--cpu-steps", type=int, default=10,
                        help="steps per CPU 'epoch' (scaled to a full epoch)")
    parser.add_argument("--gpu-epoch-fraction", type=float, default=1.0,
                        help="fraction of a full epoch the GPU runs (scaled)")
    args = parser.parse_args(argv)
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print("no GPU")
        return 0
    from bench.common import write_result
    from tfxp.models.registry import get_family

    gpu_devices = [f"/gpu:{i}" for i in range(len(gpus))]
    rows, timings = [], {}
    for family in args.families.split(","):
        per_replica = get_family(family).per_replica_batch
        full_steps = {d: EPOCH_EXAMPLES[family] // (per_replica * n)
                      for d, n in (("cpu", 1), ("gpu", len(gpus)))}
        configs = {"cpu_float32": (["/cpu:0"], False, min(args.cpu_steps, full_steps["cpu"])),
                   "gpu_float32": (gpu_devices, False,
                                   max(1, int(full_steps["gpu"] * args.gpu_epoch_fraction))),
                   "gpu_mixed_float16": (gpu_devices, True,
                                         max(1, int(full_steps["gpu"] * args.gpu_epoch_fraction)))}
        epoch_s = {}
        for name, (devices, mixed, steps) in configs.items():
            t = time_epochs(family, devices, mixed, steps, args.repeats)
            scale = full_steps[name.split("_")[0]] / steps
            epoch_s[name] = t["median"] * scale
            timings[f"{family}/{name}"] = {**t, "epoch_scale": scale,
                                           "epoch_s_median": epoch_s[name]}
            print(f"{family:<12}{name:<20} {epoch_s[name]:9.2f} s/epoch "
                  f"({steps} steps x batch {t['global_batch']}, x{scale:.1f} to a full epoch; "
                  f"min {t['min'] * scale:.2f} max {t['max'] * scale:.2f})", flush=True)
        rows.append({"measure": f"{family} s/epoch, GPU float32 vs CPU float32 "
                                f"(ratio = CPU s / GPU s)",
                     "ours": epoch_s["gpu_float32"], "reference": epoch_s["cpu_float32"],
                     "ratio": epoch_s["cpu_float32"] / epoch_s["gpu_float32"],
                     "unit": "s/epoch", "target": None})
        rows.append({"measure": f"{family} s/epoch, GPU mixed_float16 vs GPU float32 "
                                f"(ratio = float32 s / mixed s)",
                     "ours": epoch_s["gpu_mixed_float16"], "reference": epoch_s["gpu_float32"],
                     "ratio": epoch_s["gpu_float32"] / epoch_s["gpu_mixed_float16"],
                     "unit": "s/epoch", "target": "> 1 to make it the default"})
    for r in rows:
        print(f"{r['measure']}: {r['ratio']:.2f}x")
    command = " ".join([".venv/bin/python", "bench/gpu_bench.py",
                        *map(shlex.quote, argv if argv is not None else sys.argv[1:])])
    path = write_result("gpu", {
        "command": command, "rows": rows, "timings_s": timings,
        "gpus": [tf.config.experimental.get_device_details(g).get("device_name", g.name)
                 for g in gpus], "repeats": args.repeats})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
