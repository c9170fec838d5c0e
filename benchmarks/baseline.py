"""The lesson's code, written the straightforward way the notebook does it: the baseline.

One function per lesson section, same hyper-parameters and data sizes as the notebook
(conf/base). Figures are drawn and saved to a temporary folder, as a notebook user would
see them. Only what Keras 3 no longer runs is changed, the smallest way:
- `ImageDataGenerator` is gone: the same transforms as Keras 3 random layers;
- Xception gets `weights=None` (random init) because ImageNet weights cannot be
  downloaded here; the compute is the same;
- `keras.Input(shape=(1))` becomes `shape=(1,)`.

Run one section in a fresh process: `python benchmarks/baseline.py dropout`.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits, load_sample_images, make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor

warnings.filterwarnings("ignore", category=ConvergenceWarning)
SEED = 123
OUT = tempfile.mkdtemp(prefix="baseline-")


def _show(name: str) -> None:
    plt.savefig(os.path.join(OUT, f"{name}.png"))
    plt.close("all")


def vanishing_gradient() -> None:
    n_dim, n_lay = 5, 50
    np.random.seed(SEED)
    x = np.random.randn(n_dim)
    y = np.random.randn(n_dim)

    def g(v: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-v))

    def gp(v: np.ndarray) -> np.ndarray:
        return g(v) * (1 - g(v))

    w = np.random.randn(n_lay, n_dim, n_dim)
    o = np.zeros((n_dim, n_lay + 1))
    a = np.zeros((n_dim, n_lay + 1))
    o[:, 0] = x
    for layer in range(1, n_lay + 1):
        a[:, layer] = w[layer - 1] @ o[:, layer - 1]
        o[:, layer] = g(a[:, layer])
    d = np.zeros((n_dim, n_lay + 1))
    d[:, -1] = (o[:, -1] - y) * gp(a[:, -1])
    for layer in range(n_lay, 0, -1):
        d[:, layer - 1] = (w[layer - 1] @ d[:, layer]) * gp(a[:, layer])
    grad = np.zeros_like(w)
    for layer in range(n_lay):
        grad[layer] = d[:, layer, None] * o[:, None, layer]
    norms = np.array([np.linalg.norm(grad[layer]) for layer in range(n_lay)])
    plt.semilogy(range(1, n_lay + 1), norms)
    plt.gca().invert_xaxis()
    _show("vanishing_gradient")


def initialization() -> None:
    layers = (20, 500, 100)
    x, y = np.zeros((10, 5)), np.zeros(10)
    model = MLPClassifier(
        hidden_layer_sizes=layers, max_iter=1, learning_rate_init=1e-50, random_state=SEED
    ).fit(x, y)
    for layer in range(len(layers) + 1):
        bound = np.sqrt(6.0 / sum(model.coefs_[layer].shape))
        plt.hist(model.coefs_[layer].ravel(), density=True, alpha=0.5)
        plt.scatter([-bound, bound], [0, 0], marker="|", s=2000, c="k")
        _show(f"initialization_{layer}")


def activations() -> None:
    x = np.linspace(-3, 3, 100).reshape(-1, 1)
    for activation in ("identity", "logistic", "tanh", "relu"):
        model = MLPRegressor(
            hidden_layer_sizes=(1,), activation=activation, max_iter=1, random_state=SEED
        )
        model.fit(x, np.zeros(100))
        model.coefs_ = [np.array([[1]]), np.array([[1]])]
        model.intercepts_ = [np.array([0]), np.array([0])]
        plt.plot(x.ravel(), model.predict(x), label=activation)
    _show("activations_illustration")
    np.random.seed(SEED)
    x, y = make_moons(n_samples=200, noise=0.15, random_state=SEED)
    y[y == 0] = -1
    grid = np.stack(np.meshgrid(np.linspace(-2, 3, 200), np.linspace(-1.5, 2, 200)), -1)
    for activation in ("identity", "logistic", "tanh", "relu"):
        model = MLPClassifier(
            hidden_layer_sizes=(100, 100), activation=activation, max_iter=1000, random_state=SEED
        ).fit(x, y)
        regions = model.predict(grid.reshape(-1, 2)).reshape(grid.shape[:2])
        plt.contourf(grid[..., 0], grid[..., 1], regions, alpha=0.3)
        plt.scatter(x[:, 0], x[:, 1], c=y)
        _show(f"activations_{activation}")


def augmentation() -> None:
    import keras

    china = load_sample_images().images[0]
    augment = keras.Sequential(
        [
            keras.layers.RandomRotation(40 / 360, fill_mode="nearest", seed=SEED),
            keras.layers.RandomTranslation(0.2, 0.2, fill_mode="nearest", seed=SEED),
            keras.layers.RandomShear(0.2, 0.2, fill_mode="nearest", seed=SEED),
            keras.layers.RandomZoom((-0.2, 0.2), fill_mode="nearest", seed=SEED),
            keras.layers.RandomFlip("horizontal", seed=SEED),
        ]
    )
    x = china[None].astype("float32")
    plt.figure(figsize=(15, 15))
    for i in range(16):
        plt.subplot(4, 4, i + 1)
        plt.imshow(np.clip(augment(x, training=True)[0], 0, 255).astype("uint8"))
        plt.axis("off")
    _show("augmentation")


def transfer() -> None:
    import keras

    x_orig, y = load_digits(n_class=10, return_X_y=True)
    x = [
        img.reshape(8, 8).repeat(10, axis=0).repeat(10, axis=1)[:, :, None].repeat(3, axis=2) / 8
        - 1
        for img in x_orig
    ]
    x_tr, x_va, y_tr, y_va = train_test_split(np.array(x), y, test_size=0.6, random_state=SEED)
    base_model = keras.applications.Xception(
        weights=None, input_shape=(80, 80, 3), include_top=False
    )
    base_model.trainable = False
    inputs = keras.Input(shape=(80, 80, 3))
    layers = base_model(inputs, training=False)
    layers = keras.layers.GlobalAveragePooling2D()(layers)
    layers = keras.layers.Dropout(0.2)(layers)
    outputs = keras.layers.Dense(10, activation="softmax")(layers)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x_tr, y_tr, epochs=5, validation_data=(x_va, y_va), verbose=0)
    base_model.trainable = True
    model.compile(
        optimizer=keras.optimizers.Adam(1e-5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x_tr, y_tr, epochs=2, validation_data=(x_va, y_va), verbose=0)


def dropout() -> None:
    import keras

    np.random.seed(SEED)
    n_pat, lim, noise = 64, 3, 1e0
    x_orig = np.linspace(-lim, lim, n_pat)
    x_long = np.linspace(-lim, lim, 10 * n_pat)
    y = np.square(x_orig) + noise * np.random.randn(n_pat)
    x = x_orig.reshape(-1, 1)
    for rate in (0.0, 0.2, 0.4, 0.6, 0.8):
        inputs = keras.Input(shape=(1,))
        layers = keras.layers.Dense(100, activation="relu")(inputs)
        layers = keras.layers.Dropout(rate)(layers)
        layers = keras.layers.Dense(100, activation="relu")(layers)
        outputs = keras.layers.Dense(1)(layers)
        model = keras.Model(inputs, outputs)
        model.compile(loss=keras.losses.MeanSquaredError(), metrics=["mean_squared_error"])
        model.fit(x, y, epochs=1000, verbose=0)
        plt.plot(x_long, model.predict(x_long.reshape(-1, 1), verbose=0), label=f"{rate:.0%}")
    plt.plot(x_orig, y, "*k")
    _show("dropout")


SECTIONS = {
    "vanishing_gradient": vanishing_gradient,
    "initialization": initialization,
    "activations": activations,
    "augmentation": augmentation,
    "transfer": transfer,
    "dropout": dropout,
}


def main(names: list[str]) -> None:
    """Run the named sections (all of them for `lesson`) in this process."""
    for name in SECTIONS if names == ["lesson"] else names:
        SECTIONS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
