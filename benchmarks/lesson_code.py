"""The lesson's own code: the notebook's code cells as a plain script, the second baseline.

benchmarks/baseline.py is a straightforward rewrite; this is the notebook itself, so the
benchmark can say how the pipelines compare with what a student actually runs. One
function per lesson section holds that section's cells in order, verbatim where Python
allows, with the lesson's hyper-parameters. What is changed, and why (each change is
commented where it is made):
- IPython magics (`%%html`, `%matplotlib inline`, `%autoreload`) are not Python: dropped.
- `plt.show()` is `show()`: Agg cannot display, so the figure is saved and closed, as the
  notebook's inline backend closes it once shown. A cell that ends with a figure and no
  `plt.show()` gets `show()` too, which is what the inline backend does at a cell's end.
- `Utils` ships with the notebook, not with this project: `plot_dataset`,
  `plot_dataset_clas` and `plot_nonlinear_model_clas` below draw the project's rebuild
  (`dnn_pipelines.plotting`) into pyplot's current axes, where Utils draws.
- The import cell's TensorFlow part runs in the sections that use TensorFlow: a numpy
  section run alone is not charged TensorFlow's import (about 5 s), which would flatter
  the pipelines. Run whole (`lesson`), the import happens once, as in the notebook.
- Xception gets `weights=None`: ImageNet weights cannot be downloaded here; the compute
  is the same.
- `keras.Input(shape=(1))` becomes `shape=(1,)`: Keras 3 rejects an int shape.
- Python, not Keras: a raw string for a title with `\\mathbf` (an invalid escape otherwise),
  and `history = model.fit(...)` without the `history` nobody reads (a notebook keeps it).
`ImageDataGenerator` needs no change: `from tensorflow import keras` is Keras 3's
`tf.keras` namespace, which still exports it (`keras.src.legacy.preprocessing.image`).

    python benchmarks/lesson_code.py vanishing_gradient [--out FOLDER]
    python benchmarks/lesson_code.py lesson      # every section, in one process
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"

import matplotlib

matplotlib.use("Agg")  # `plt.show()` must not block: nothing is displayed, figures are saved
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits, load_sample_images, make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor

# The rest of the lesson's import cell (its TensorFlow part is `import_tensorflow`).
matplotlib.rc("figure", figsize=(15, 5))
warnings.filterwarnings("ignore", category=ConvergenceWarning)
seed = 123


@dataclass
class Figures:
    """Where `show()` saves the figures of the section that is running."""

    folder: Path
    section: str = ""
    count: int = 0

    def show(self) -> None:
        """The notebook's `plt.show()` under the inline backend: every open figure, then closed."""
        for number in plt.get_fignums():
            self.count += 1
            plt.figure(number).savefig(self.folder / f"{self.section}_{self.count:02d}.png")
        plt.close("all")


FIGURES = Figures(Path(tempfile.gettempdir()))
show = FIGURES.show


@functools.cache
def import_tensorflow() -> ModuleType:
    """The import cell's TensorFlow lines, once per process; returns the lesson's `keras`."""
    from tensorflow.python.util import deprecation

    deprecation._PRINT_DEPRECATION_WARNINGS = False

    import tensorflow as tf
    from tensorflow import keras

    tf.get_logger().setLevel(logging.ERROR)

    gpu_devices = tf.config.experimental.list_physical_devices("GPU")
    for device in gpu_devices:
        tf.config.experimental.set_memory_growth(device, True)
    return keras


def plot_dataset(x: np.ndarray, y: np.ndarray) -> None:
    """Utils' `plot_dataset`: the project's rebuild, drawn where Utils draws (pyplot's axes)."""
    from dnn_pipelines import plotting

    plotting.plot_dataset(x, y, ax=plt.gca())


def plot_dataset_clas(x: np.ndarray, y: np.ndarray) -> None:
    """Utils' `plot_dataset_clas`, drawn into pyplot's current axes."""
    from dnn_pipelines import plotting

    plotting.plot_dataset_clas(x, y, ax=plt.gca())


def plot_nonlinear_model_clas(
    x: np.ndarray, y: np.ndarray, model: MLPClassifier, phi: Callable[[np.ndarray], np.ndarray]
) -> None:
    """Utils' `plot_nonlinear_model_clas`, drawn into pyplot's current axes."""
    from dnn_pipelines import plotting

    plotting.plot_nonlinear_model_clas(x, y, model, phi=phi, ax=plt.gca())


def vanishing_gradient() -> None:
    """# Vanishing Gradient: the gradient's norm per layer of a 50-layer sigmoid network."""
    n_dim = 5
    n_lay = 50

    np.random.seed(seed)

    # Pattern.
    x = np.random.randn(n_dim)
    y = np.random.randn(n_dim)

    # Activation function and its derivative.
    g = lambda x: 1 / (1 + np.exp(-x))
    gp = lambda x: g(x) * (1 - g(x))

    # Weights.
    w = np.random.randn(n_lay, n_dim, n_dim)

    o = np.zeros((n_dim, n_lay + 1))
    a = np.zeros((n_dim, n_lay + 1))

    o[:, 0] = x
    for l in range(1, n_lay + 1):
        a[:, l] = w[l - 1, :, :] @ o[:, l - 1]
        o[:, l] = g(a[:, l])

    d = np.zeros((n_dim, n_lay + 1))

    d[:, -1] = (o[:, -1] - y) * gp(a[:, -1])
    for l in range(n_lay, 0, -1):
        d[:, l - 1] = (w[l - 1, :, :] @ d[:, l]) * gp(a[:, l])

    grad = np.zeros_like(w)
    for l in range(n_lay):
        grad[l, :, :] = d[:, l, None] * o[:, None, l]

    norms = np.zeros(n_lay)
    for l in range(n_lay):
        norms[l] = np.linalg.norm(grad[l])

    plt.semilogy(range(1, n_lay + 1), norms)
    plt.grid()
    plt.xlabel("Layer")
    plt.ylabel("Gradient Norm")
    plt.gca().invert_xaxis()
    show()


def initialization() -> None:
    """# Initialization: scikit-learn's initial weights against the uniform bounds."""
    n_pat = 10
    n_dim = 5
    layers = (20, 500, 100)

    x = np.zeros((n_pat, n_dim))
    y = np.zeros(n_pat)

    model = MLPClassifier(
        hidden_layer_sizes=layers, max_iter=1, learning_rate_init=1e-50, random_state=seed
    )
    model = model.fit(x, y)

    for l in range(len(layers) + 1):
        bound = np.sqrt(6.0 / (model.coefs_[l].shape[0] + model.coefs_[l].shape[1]))

        plt.hist(model.coefs_[l].ravel(), density=True, alpha=0.5)
        plt.scatter([-bound, bound], [0, 0], marker="|", s=2000, c="k")

        # A raw string: the notebook's "$\mathbf" is an invalid escape sequence.
        plt.title(r"Distribution of $\mathbf{W}^{(%d)}$" % l)
        plt.xlabel("Value")
        plt.ylabel("Density")
        show()


def activations() -> None:
    """# Activation Functions: the four curves, then two-moons classifiers with each."""
    n_pat = 100
    x = np.linspace(-3, 3, n_pat).reshape(-1, 1)
    y = np.zeros(n_pat)

    for activation in ("identity", "logistic", "tanh", "relu"):
        model = MLPRegressor(
            hidden_layer_sizes=(1,), activation=activation, max_iter=1, random_state=seed
        )
        model.fit(x, y)
        model.coefs_ = [np.array([[1]]), np.array([[1]])]
        model.intercepts_ = [np.array([0]), np.array([0])]

        plt.plot(x.ravel(), model.predict(x), label=activation)

    show()

    n_pat = 200
    noise = 0.15

    np.random.seed(seed)

    x, y = make_moons(n_samples=n_pat, noise=noise, random_state=seed)
    y[y == 0] = -1
    plot_dataset_clas(x, y)
    show()  # the inline backend shows the cell's figure at its end

    for activation in ("identity", "logistic", "tanh", "relu"):
        model = MLPClassifier(
            hidden_layer_sizes=(100, 100), activation=activation, max_iter=1000, random_state=seed
        )
        model.fit(x, y)

        plot_nonlinear_model_clas(x, y, model, phi=lambda x: x)
        print("Activation: " + activation)
        show()


def augmentation() -> None:
    """# Data Augmentation: 16 random perturbations of a sample image."""
    keras = import_tensorflow()
    china = load_sample_images().images[0]

    plt.imshow(china)
    plt.title("Original")
    plt.axis("off")
    show()

    datagen = keras.preprocessing.image.ImageDataGenerator(
        rotation_range=40,
        width_shift_range=0.2,
        height_shift_range=0.2,
        shear_range=0.2,
        zoom_range=0.2,
        horizontal_flip=True,
        fill_mode="nearest",
    )

    x = keras.preprocessing.image.img_to_array(china)
    x = x.reshape((1,) + x.shape)

    n_rows = 4
    n_cols = 4
    n_images = n_rows * n_cols

    i = 0
    plt.figure(figsize=(15, 15))
    for batch in datagen.flow(x, batch_size=1):
        i += 1
        if i > n_images:
            break

        plt.subplot(n_rows, n_cols, i)
        plt.imshow(keras.preprocessing.image.array_to_img(batch[0]))
        plt.title("Sample %d" % i)
        plt.axis("off")

    plt.tight_layout()
    show()


def transfer() -> None:
    """# Transfer Learning: Xception on 80x80 digits, frozen for 5 epochs, then fine-tuned 2."""
    keras = import_tensorflow()
    x_orig, y = load_digits(n_class=10, return_X_y=True)

    x = []
    for img in x_orig:
        img = (
            img.reshape(8, 8)
            .repeat(10, axis=0)
            .repeat(10, axis=1)[:, :, None]
            .repeat(3, axis=2)
            .reshape(80, 80, 3)
        )
        img = img / 8 - 1
        x.append(img)
    x_tr, x_va, y_tr, y_va = train_test_split(np.array(x), y, test_size=0.6, random_state=seed)

    base_model = keras.applications.Xception(
        weights=None,  # the lesson's "imagenet" cannot be downloaded here: same compute
        input_shape=(80, 80, 3),
        include_top=False,
    )

    base_model.trainable = False
    inputs = keras.Input(shape=(80, 80, 3))
    layers = base_model(inputs, training=False)
    layers = keras.layers.GlobalAveragePooling2D()(layers)
    layers = keras.layers.Dropout(0.2)(layers)
    outputs = keras.layers.Dense(10, activation="softmax")(layers)
    model = keras.Model(inputs, outputs)

    model.summary()

    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )

    epochs = 5
    model.fit(x_tr, y_tr, epochs=epochs, validation_data=(x_va, y_va))

    base_model.trainable = True
    model.summary()

    model.compile(
        optimizer=keras.optimizers.Adam(1e-5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )

    epochs = 2
    model.fit(x_tr, y_tr, epochs=epochs, validation_data=(x_va, y_va))


def dropout() -> None:
    """# Dropout: five networks with 0-80 % dropout fitted to a noisy parabola."""
    keras = import_tensorflow()
    np.random.seed(seed)

    n_pat = 64
    lim = 3
    noise = 1e0
    x_orig = np.linspace(-lim, lim, n_pat)
    x_long = np.linspace(-lim, lim, 10 * n_pat)
    y = np.square(x_orig) + noise * np.random.randn(n_pat)
    x = x_orig.reshape(-1, 1)

    plot_dataset(x_orig, y)
    show()  # the inline backend shows the cell's figure at its end

    for d in (0.0, 0.2, 0.4, 0.6, 0.8):
        inputs = keras.Input(shape=(1,))  # the lesson's shape=(1): Keras 3 wants a tuple
        layers = keras.layers.Dense(100, activation="relu")(inputs)
        layers = keras.layers.Dropout(d)(layers)
        layers = keras.layers.Dense(100, activation="relu")(layers)
        outputs = keras.layers.Dense(1)(layers)
        model = keras.Model(inputs, outputs)
        model.compile(
            loss=keras.losses.MeanSquaredError(),
            metrics=["mean_squared_error"],
        )

        epochs = 1000
        print("Fitting NN with dropout at %.0f%%" % (100 * d))
        model.fit(x, y, epochs=epochs, verbose=0)
        plt.plot(x_long, model.predict(x_long.reshape(-1, 1)), label="Dropout %.0f%%" % (100 * d))

    plt.plot(x_orig, y, "*k", label="Observed")
    plt.legend()
    show()


SECTIONS: dict[str, Callable[[], None]] = {
    "vanishing_gradient": vanishing_gradient,
    "initialization": initialization,
    "activations": activations,
    "augmentation": augmentation,
    "transfer": transfer,
    "dropout": dropout,
}


def main(argv: list[str] | None = None) -> None:
    """Run the named sections (every one, in the notebook's order, for `lesson`) in this process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="+", choices=[*SECTIONS, "lesson"])
    parser.add_argument(
        "--out", type=Path, help="folder for the figures (default: a new temporary folder)"
    )
    args = parser.parse_args(argv)
    FIGURES.folder = args.out or Path(tempfile.mkdtemp(prefix="lesson-code-"))
    FIGURES.folder.mkdir(parents=True, exist_ok=True)
    for name in SECTIONS if args.sections == ["lesson"] else args.sections:
        FIGURES.section, FIGURES.count = name, 0
        SECTIONS[name]()


if __name__ == "__main__":
    main()
