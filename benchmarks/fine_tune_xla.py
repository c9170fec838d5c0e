"""Does XLA speed up transfer's fine tuning? The pipeline's phase 2 with and without
`jit_compile`, each in its own process (XLA's compiled clusters stay in the process):

    python benchmarks/fine_tune_xla.py

The phase as conf/base runs it: Xception with random weights on 80x80x3 images, its
BatchNormalization frozen, GlobalAveragePooling -> Dropout(0.2) -> Dense(10) logits,
Adam(1e-5), batch 32, 2 epochs over 718 images. The first, short `fit` (2 steps) pays for
tracing, and for compiling when `jit_compile` is on; the second is the 2 epochs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

TRAIN_IMAGES, EPOCHS, BATCH = 718, 2, 32


def fine_tune(jit_compile: bool) -> tuple[float, float]:
    """(seconds of the first 2 steps, seconds of the 2 epochs)."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    base = keras.applications.Xception(weights=None, include_top=False, input_shape=(80, 80, 3))
    for layer in base.layers:
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    inputs = keras.Input((80, 80, 3))
    features = keras.layers.GlobalAveragePooling2D()(base(inputs, training=False))
    outputs = keras.layers.Dense(10)(keras.layers.Dropout(0.2)(features))
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    rng = np.random.default_rng(0)
    x = rng.random((TRAIN_IMAGES, 80, 80, 3), dtype=np.float32)
    y = rng.integers(0, 10, TRAIN_IMAGES)
    start = time.perf_counter()
    model.fit(x[: 2 * BATCH], y[: 2 * BATCH], epochs=1, batch_size=BATCH, verbose=0)
    first = time.perf_counter() - start
    start = time.perf_counter()
    model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, verbose=0)
    return first, time.perf_counter() - start


def main() -> None:
    if len(sys.argv) == 2:
        first, epochs = fine_tune(jit_compile=sys.argv[1] == "jit")
        print(f"{sys.argv[1]}: first 2 steps {first:.1f} s, {EPOCHS} epochs {epochs:.1f} s")
        return
    for mode in ("nojit", "jit"):
        # TensorFlow's start-up lines go to stderr before any setting can silence them
        command = [sys.executable, __file__, mode]
        run = subprocess.run(command, check=False, stderr=subprocess.PIPE, text=True)
        if run.returncode:
            sys.exit(run.stderr)


if __name__ == "__main__":
    main()
