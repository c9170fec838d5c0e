"""The lesson's "Activation Functions" section: pure functions, scikit-learn only.

Illustration: a single-unit `MLPRegressor` whose weights are set to 1 and biases to 0
predicts its own activation, so the lesson draws the four activations with it.
Comparison: one `MLPClassifier` per activation on the two moons.

A fitted classifier crosses node boundaries as two safe files instead of a pickle:
its hyper-parameters (JSON, from `build_classifier`) and its learned arrays (`.npz`, from
`train_classifier`); `restore_classifier` rebuilds an estimator that predicts exactly as
the fitted one did.
"""

from __future__ import annotations

import time
import warnings
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from matplotlib.figure import Figure
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import LabelBinarizer
from threadpoolctl import threadpool_limits

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.activations.params import (
    ClassifierParams,
    FitParams,
    HeldOutParams,
    IllustrationParams,
    InstanceParams,
    MoonsParams,
)
from dnn_pipelines.plotting import new_figure, plot_dataset_clas, plot_nonlinear_model_clas

# One hidden unit with weight 1 and bias 0, and a linear output with weight 1 and bias 0:
# the network's output is then exactly its activation (the lesson's construction).
SINGLE_UNIT = (1,)
FEATURES = ("x1", "x2")
TARGET = "y"
METRIC_FIELDS = (
    "train_accuracy",
    "test_accuracy",
    "n_iter",
    "final_loss",
    "converged",
    "fit_seconds",
)
# max over z of s(z) (1 - s(z)), at z = 0: why deep logistic networks lose their gradient.
LOGISTIC_DERIVATIVE_MAX = 0.25
ESTIMATOR = "sklearn.neural_network.MLPClassifier"


# ---------------------------------------------------------------- illustration


def activation_curves(illustration: IllustrationParams, seed: Seed) -> pd.DataFrame:
    """The lesson's first loop: x and, per activation, the prediction of the 1-unit network."""
    x = np.linspace(illustration.x_min, illustration.x_max, illustration.n_points).reshape(-1, 1)
    y = np.zeros(illustration.n_points)
    curves = {"x": x.ravel()}
    for activation in illustration.activations:
        model = MLPRegressor(
            hidden_layer_sizes=SINGLE_UNIT,
            activation=activation,
            max_iter=illustration.max_iter,
            random_state=int(seed),
        )
        with warnings.catch_warnings():
            # The fit only creates sklearn's attributes; it is meant to stop early.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x, y)
        model.coefs_ = [np.ones((1, 1)), np.ones((1, 1))]
        model.intercepts_ = [np.zeros(1), np.zeros(1)]
        curves[activation] = model.predict(x)
    return pd.DataFrame(curves)


def activation_derivatives(curves: pd.DataFrame) -> pd.DataFrame:
    """g'(x) written with g(x) itself, as backpropagation evaluates it from stored outputs."""
    formulas = {
        "identity": np.ones_like,
        "logistic": lambda g: g * (1.0 - g),
        "tanh": lambda g: 1.0 - g**2,
        "relu": lambda g: (g > 0).astype(float),
    }
    derivatives = {"x": curves["x"].to_numpy()}
    for activation in curves.columns.drop("x"):
        derivatives[activation] = formulas[activation](curves[activation].to_numpy())
    return pd.DataFrame(derivatives)


def plot_activation_curves(curves: pd.DataFrame, derivatives: pd.DataFrame) -> Figure:
    """The lesson's plot with a legend, and the derivatives beside it (vanishing gradient)."""
    figure, axes = new_figure(1, 2)
    left, right = axes[0]
    for activation in curves.columns.drop("x"):
        left.plot(curves["x"], curves[activation], label=activation)
        right.plot(derivatives["x"], derivatives[activation], label=f"{activation}'")
    left.set_title("Activation functions g(x)")
    right.set_title("Derivatives g'(x)")
    if "logistic" in derivatives:
        right.axhline(
            LOGISTIC_DERIVATIVE_MAX,
            color="grey",
            linestyle=":",
            label="1/4: logistic' never exceeds it, so gradients shrink layer by layer",
        )
    for ax in (left, right):
        ax.set_xlabel("$x$")
        ax.grid(True)
    left.legend()
    right.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=3)
    return figure


# ---------------------------------------------------------------- datasets


def _moons_frame(x: np.ndarray, y: np.ndarray, labels: tuple[int, int]) -> pd.DataFrame:
    mapped = np.where(y == 0, labels[0], labels[1])
    return pd.DataFrame({FEATURES[0]: x[:, 0], FEATURES[1]: x[:, 1], TARGET: mapped})


def make_moons_dataset(moons: MoonsParams, seed: Seed) -> pd.DataFrame:
    """The lesson's training set: make_moons(n, noise, random_state=seed), class 0 relabelled."""
    x, y = make_moons(n_samples=moons.n_samples, noise=moons.noise, random_state=int(seed))
    return _moons_frame(x, y, moons.labels)


def make_held_out_moons(moons: MoonsParams, held_out: HeldOutParams, seed: Seed) -> pd.DataFrame:
    """New points of the same two moons, at new positions along the arcs.

    `make_moons` puts its points at fixed, evenly spaced angles on each arc; only the noise
    depends on the seed, so another seed would give fresh noise over the training
    positions. Here every point's angle is drawn uniformly in [0, pi] instead; the arcs,
    the split between them (n // 2 on the outer one) and the Gaussian noise are make_moons'.
    """
    if held_out.seed == int(seed):
        raise ValueError(
            f"activations.held_out.seed ({held_out.seed}) equals the global seed: the held-out "
            "sample would repeat the training noise; pick another seed."
        )
    rng = np.random.default_rng(held_out.seed)
    n_outer = held_out.n_samples // 2
    y = np.repeat([0, 1], [n_outer, held_out.n_samples - n_outer])
    angle = rng.uniform(0.0, np.pi, held_out.n_samples)
    outer = np.column_stack([np.cos(angle), np.sin(angle)])
    inner = np.column_stack([1 - np.cos(angle), 0.5 - np.sin(angle)])
    x = np.where(y[:, None] == 0, outer, inner)
    x += rng.normal(scale=moons.noise, size=x.shape)
    return _moons_frame(x, y, moons.labels)


def _xy(moons: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return moons[list(FEATURES)].to_numpy(), moons[TARGET].to_numpy()


def plot_moons(moons: pd.DataFrame) -> Figure:
    """The lesson's `plot_dataset_clas(x, y)` of the training moons, before any fit."""
    figure = plot_dataset_clas(*_xy(moons))
    figure.axes[0].set_title(f"The training moons: {len(moons)} points")
    return figure


# ---------------------------------------------------------------- model


def build_classifier(
    classifier: ClassifierParams, instance: InstanceParams, seed: Seed
) -> dict[str, Any]:
    """The lesson's MLPClassifier as its full hyper-parameter set (a JSON-able spec)."""
    model = MLPClassifier(
        hidden_layer_sizes=classifier.hidden_layer_sizes,
        activation=instance.activation,
        max_iter=classifier.max_iter,
        tol=classifier.tol,
        n_iter_no_change=classifier.n_iter_no_change,
        random_state=int(seed),
    )
    params = model.get_params()
    params["hidden_layer_sizes"] = list(params["hidden_layer_sizes"])
    return {"estimator": ESTIMATOR, "sklearn_version": sklearn.__version__, "params": params}


def _estimator(spec: dict[str, Any]) -> MLPClassifier:
    if spec.get("estimator") != ESTIMATOR:
        raise ValueError(f"Expected a spec of {ESTIMATOR}, got {spec.get('estimator')!r}")
    params = dict(spec["params"])
    params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
    return MLPClassifier(**params)


def _blas_threads(fit: FitParams) -> AbstractContextManager[Any]:
    if fit.blas_threads is None:
        return nullcontext()
    return threadpool_limits(limits=fit.blas_threads, user_api="blas")


def train_classifier(
    spec: dict[str, Any], moons: pd.DataFrame, fit: FitParams
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Fit the spec on the moons; return the learned arrays and what the fit did."""
    x, y = _xy(moons)
    model = _estimator(spec)
    with _blas_threads(fit), warnings.catch_warnings():
        # Non-convergence is reported as `converged: false` in the metrics instead.
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        model.fit(x, y)
        seconds = time.perf_counter() - start
    arrays = {f"coef_{i}": coef for i, coef in enumerate(model.coefs_)}
    arrays |= {f"intercept_{i}": bias for i, bias in enumerate(model.intercepts_)}
    arrays |= {
        "classes": model.classes_,
        "loss_curve": np.asarray(model.loss_curve_),
        "out_activation": np.asarray(model.out_activation_),
    }
    training = {
        "activation": model.activation,
        "n_iter": int(model.n_iter_),
        "final_loss": float(model.loss_),
        # Adam stops before max_iter only when the loss has stopped improving.
        "converged": bool(model.n_iter_ < model.max_iter),
        "fit_seconds": seconds,
    }
    return arrays, training


def restore_classifier(spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> MLPClassifier:
    """A fitted MLPClassifier from its spec and learned arrays, without unpickling anything."""
    model = _estimator(spec)
    n_weights = sum(name.startswith("coef_") for name in arrays)
    model.coefs_ = [arrays[f"coef_{i}"] for i in range(n_weights)]
    model.intercepts_ = [arrays[f"intercept_{i}"] for i in range(n_weights)]
    model.classes_ = arrays["classes"]
    model._label_binarizer = LabelBinarizer().fit(model.classes_)  # predict() decodes with it
    model.n_features_in_ = model.coefs_[0].shape[0]
    model.n_layers_ = n_weights + 1
    model.n_outputs_ = model.coefs_[-1].shape[1]
    model.out_activation_ = str(arrays["out_activation"])
    model.loss_curve_ = arrays["loss_curve"].tolist()
    model.n_iter_ = len(model.loss_curve_)
    return model


# ---------------------------------------------------------------- evaluation


def evaluate_classifier(
    spec: dict[str, Any],
    arrays: dict[str, np.ndarray],
    training: dict[str, Any],
    moons: pd.DataFrame,
    held_out: pd.DataFrame,
) -> dict[str, Any]:
    """Accuracy on the training moons (what the lesson's fit gives) and on fresh moons."""
    model = restore_classifier(spec, arrays)
    return {
        "activation": training["activation"],
        "train_accuracy": float(model.score(*_xy(moons))),
        "test_accuracy": float(model.score(*_xy(held_out))),
        **{name: training[name] for name in ("n_iter", "final_loss", "converged", "fit_seconds")},
    }


def collect_metrics(**instances: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One table keyed by activation, in instance order; two instances may not share one."""
    collected: dict[str, dict[str, Any]] = {}
    owners: dict[str, str] = {}
    for name, metrics in instances.items():
        activation = metrics["activation"]
        if activation in collected:
            raise ValueError(
                f"Instances '{owners[activation]}' and '{name}' both fit '{activation}'; "
                "set a different activation under activations.instances."
            )
        owners[activation] = name
        collected[activation] = {field: metrics[field] for field in METRIC_FIELDS}
    return collected


# ---------------------------------------------------------------- plots


def _title(metrics: dict[str, Any]) -> str:
    return (
        f"Activation: {metrics['activation']} - train accuracy {metrics['train_accuracy']:.3f}, "
        f"held-out accuracy {metrics['test_accuracy']:.3f}"
    )


def plot_decision_regions(
    spec: dict[str, Any],
    arrays: dict[str, np.ndarray],
    moons: pd.DataFrame,
    metrics: dict[str, Any],
) -> Figure:
    """The lesson's `plot_nonlinear_model_clas` for one activation."""
    x, y = _xy(moons)
    figure = plot_nonlinear_model_clas(x, y, restore_classifier(spec, arrays))
    figure.axes[0].set_title(_title(metrics))
    return figure


def _per_instance(kwargs: dict[str, Any], kinds: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Group keyword inputs named `<instance>_<kind>` by instance, keeping their order."""
    grouped: dict[str, dict[str, Any]] = {}
    for key, value in kwargs.items():
        name, _, kind = key.rpartition("_")
        if kind not in kinds or not name:
            raise TypeError(f"Unexpected input '{key}': expected <instance>_<{'|'.join(kinds)}>")
        grouped.setdefault(name, {})[kind] = value
    return grouped


def plot_comparison(moons: pd.DataFrame, **models: Any) -> Figure:
    """All decision regions in one 2-column grid (2x2 for the four activations)."""
    instances = _per_instance(models, ("spec", "arrays", "metrics"))
    n_cols = min(2, len(instances))
    n_rows = -(-len(instances) // n_cols)
    figure, axes = new_figure(n_rows, n_cols, size=(7.5 * n_cols, 5.5 * n_rows))
    x, y = _xy(moons)
    for ax, parts in zip(axes.ravel(), instances.values(), strict=False):
        plot_nonlinear_model_clas(x, y, restore_classifier(parts["spec"], parts["arrays"]), ax=ax)
        ax.set_title(_title(parts["metrics"]))
    for ax in axes.ravel()[len(instances) :]:
        ax.set_visible(False)
    return figure


def plot_loss_curves(**models: Any) -> Figure:
    """Training loss per epoch of every fit, log scale, so speed and final level compare."""
    instances = _per_instance(models, ("spec", "arrays"))
    figure, axes = new_figure()
    ax = axes[0, 0]
    for parts in instances.values():
        ax.semilogy(parts["arrays"]["loss_curve"], label=parts["spec"]["params"]["activation"])
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Training loss (log-loss + L2 penalty)")
    ax.set_title("Loss curves of the four MLPClassifier fits")
    ax.grid(True, which="both")
    ax.legend()
    return figure
