"""Nodes of the lesson's "Initialization" section and of why initialization matters.

Faithful part (scikit-learn, numpy, scipy; never TensorFlow): the lesson's MLPClassifier is
fitted one iteration with a learning rate of 1e-50 on all-zero patterns, so its weights are
the initial draws; each layer is compared with the uniform law scikit-learn draws from.

Beyond part: Keras' initializers are drawn for the same layer shapes and tested against
their own theoretical laws, and a deep, wide network shows how each init carries the
activation variance through depth, next to the mean-field (closed-form) prediction.
Only the two drawing nodes need Keras; they import it inside the function
(`# noqa: PLC0415`) because `pipeline_registry` imports every pipeline module on every run
and runs without those nodes must not pay for, or depend on, TensorFlow.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from numpy.polynomial.hermite_e import hermegauss
from scipy import special, stats
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.initialization.params import InitializationParams
from dnn_pipelines.plotting import new_figure

logger = logging.getLogger(__name__)

# Independent random streams of the global seed, one per node that draws numbers.
_SAMPLES_STREAM = 0
_DEEP_WEIGHTS_STREAM = 1
_INPUT_STREAM = 2
_KERAS_SEED_MAX = 2**31 - 1
# Gauss-Hermite points for E[phi(z)^2], z ~ N(0, q): exact to float precision for tanh/logistic.
_QUADRATURE_POINTS = 201

# ---------------------------------------------------------------------------------------------
# Faithful part: scikit-learn's MLPClassifier
# ---------------------------------------------------------------------------------------------


def sklearn_init_bound(fan_in: int, fan_out: int, activation: str) -> float:
    """The bound b of U(-b, b) scikit-learn draws a layer from (MLP `_init_coef`, sklearn 1.9).

    Glorot & Bengio's sqrt(6 / (fan_in + fan_out)), except for the logistic activation,
    where scikit-learn uses sqrt(2 / (fan_in + fan_out)).
    """
    factor = 2.0 if activation == "logistic" else 6.0
    return float(np.sqrt(factor / (fan_in + fan_out)))


def sklearn_bound_rule(activation: str) -> str:
    """The bound formula as text, for the metrics and the figure."""
    factor = 2 if activation == "logistic" else 6
    return f"sqrt({factor} / (fan_in + fan_out))"


def make_zero_patterns(params: InitializationParams) -> dict[str, np.ndarray]:
    """The lesson's dataset: zero inputs and zero targets, so training cannot move a weight."""
    mlp = params.mlp
    return {
        "x": np.zeros((mlp.n_patterns, mlp.n_features)),
        "y": np.zeros(mlp.n_patterns),
    }


def build_mlp_classifier(params: InitializationParams, seed: Seed) -> MLPClassifier:
    """The lesson's unfitted MLPClassifier; `random_state` is the global seed."""
    mlp = params.mlp
    return MLPClassifier(
        hidden_layer_sizes=tuple(mlp.hidden_layer_sizes),
        activation=mlp.activation,
        max_iter=mlp.max_iter,
        learning_rate_init=mlp.learning_rate_init,
        random_state=int(seed),
    )


def train_one_step(model: MLPClassifier, patterns: dict[str, np.ndarray]) -> MLPClassifier:
    """Fit for `max_iter` iterations; the lesson's tiny rate leaves the initial weights intact.

    The input estimator is cloned, not mutated. scikit-learn warns that the optimiser has
    not converged: that is the point here, so only that warning is silenced.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = clone(model).fit(patterns["x"], patterns["y"])
    logger.info(
        "MLPClassifier fitted %d iteration(s); layer shapes %s",
        fitted.n_iter_,
        [coef.shape for coef in fitted.coefs_],
    )
    return fitted


def extract_weights(model: MLPClassifier) -> dict[str, np.ndarray]:
    """The learned arrays, `coef_<l>` and `intercept_<l>` per layer (no pickle needed)."""
    arrays: dict[str, np.ndarray] = {}
    for index, (coef, intercept) in enumerate(zip(model.coefs_, model.intercepts_, strict=True)):
        arrays[f"coef_{index}"] = np.asarray(coef)
        arrays[f"intercept_{index}"] = np.asarray(intercept)
    return arrays


def layer_coefficients(weights: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The weight matrices of `extract_weights`' dict, in layer order."""
    count = sum(1 for name in weights if name.startswith("coef_"))
    return [weights[f"coef_{index}"] for index in range(count)]


def ks_against_uniform(values: np.ndarray, bound: float) -> tuple[float, float]:
    """Kolmogorov-Smirnov statistic and p-value of `values` against U(-bound, bound)."""
    result = stats.kstest(np.ravel(values), stats.uniform(loc=-bound, scale=2 * bound).cdf)
    return float(result.statistic), float(result.pvalue)


def uniform_weight_statistics(
    weights: dict[str, np.ndarray], params: InitializationParams
) -> pd.DataFrame:
    """One row per layer: the empirical weights against scikit-learn's U(-b, b)."""
    rows = []
    for layer, coef in enumerate(layer_coefficients(weights)):
        fan_in, fan_out = coef.shape
        bound = sklearn_init_bound(fan_in, fan_out, params.mlp.activation)
        statistic, pvalue = ks_against_uniform(coef, bound)
        rows.append(
            {
                "layer": layer,
                "fan_in": fan_in,
                "fan_out": fan_out,
                "n_weights": coef.size,
                "bound": bound,
                "min": float(coef.min()),
                "max": float(coef.max()),
                "mean": float(coef.mean()),
                "std": float(coef.std()),
                "theoretical_std": bound / math.sqrt(3.0),
                "ks_statistic": statistic,
                "ks_pvalue": pvalue,
                "matches_uniform": bool(pvalue > params.statistics.alpha),
            }
        )
    return pd.DataFrame(rows)


def plot_weight_histograms(
    weights: dict[str, np.ndarray], statistics: pd.DataFrame, params: InitializationParams
) -> Figure:
    """The lesson's plot, one panel per layer: density histogram, bounds marked in black."""
    coefs = layer_coefficients(weights)
    figure, axes = new_figure(1, len(coefs), size=(4.2 * len(coefs), 4.0))
    for ax, coef, row in zip(axes[0], coefs, statistics.itertuples(), strict=True):
        bound = row.bound
        ax.hist(coef.ravel(), bins=params.statistics.histogram_bins, density=True, alpha=0.5)
        ax.hlines(1 / (2 * bound), -bound, bound, colors="tab:red", label="U(-b, b) density")
        ax.axvline(-bound, color="k", linewidth=2, label=f"±b = ±{bound:.3f}")
        ax.axvline(bound, color="k", linewidth=2)
        ax.set_title(
            f"Distribution of $\\mathbf{{W}}^{{({row.layer})}}$ "
            f"({row.fan_in}x{row.fan_out})\nKS p = {row.ks_pvalue:.3f}"
        )
        ax.set_xlabel("Value")
        ax.set_ylabel("Density")
        ax.legend(loc="lower center", fontsize="small")
    figure.suptitle(
        f"MLPClassifier initial weights (activation={params.mlp.activation}, "
        f"b = {sklearn_bound_rule(params.mlp.activation)})"
    )
    return figure


def summarise_uniform_fit(
    statistics: pd.DataFrame, params: InitializationParams, seed: Seed
) -> dict[str, Any]:
    """The lesson's question: does each layer's empirical distribution match U(-b, b)?"""
    layers = _records(statistics)
    return {
        "seed": int(seed),
        "activation": params.mlp.activation,
        "bound_rule": sklearn_bound_rule(params.mlp.activation),
        "alpha": params.statistics.alpha,
        "layers": layers,
        "all_layers_match_uniform": all(row["matches_uniform"] for row in layers),
    }


# ---------------------------------------------------------------------------------------------
# Beyond: Keras initializers against their theory
# ---------------------------------------------------------------------------------------------

TRUNCATION = 2.0  # TensorFlow's truncated normal redraws values beyond 2 standard deviations
# Std of N(0, 1) truncated to [-2, 2]; Keras divides its target std by it (0.8796...).
TRUNCATED_STD = float(stats.truncnorm(-TRUNCATION, TRUNCATION).std())

Distribution = Literal["uniform", "truncated_normal", "normal"]


@dataclass(frozen=True)
class InitializerSpec:
    """A Keras initializer's law: VarianceScaling (scale / fan) or a fixed spread."""

    distribution: Distribution
    scale: float | None = None
    mode: Literal["fan_in", "fan_out", "fan_avg"] | None = None
    fixed_variance: float | None = None

    def variance(self, fan_in: int, fan_out: int) -> float:
        """Var(w) the initializer targets (after truncation, for truncated normals)."""
        if self.fixed_variance is not None:
            return self.fixed_variance
        fans = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}
        return float(self.scale) / max(1.0, fans[str(self.mode)])


# Keras 3 definitions (keras/src/initializers/random_initializers.py); random_* at defaults.
_KERAS_DEFAULT_SPREAD = 0.05
INITIALIZER_SPECS: dict[str, InitializerSpec] = {
    "glorot_uniform": InitializerSpec("uniform", 1.0, "fan_avg"),
    "glorot_normal": InitializerSpec("truncated_normal", 1.0, "fan_avg"),
    "he_uniform": InitializerSpec("uniform", 2.0, "fan_in"),
    "he_normal": InitializerSpec("truncated_normal", 2.0, "fan_in"),
    "lecun_uniform": InitializerSpec("uniform", 1.0, "fan_in"),
    "lecun_normal": InitializerSpec("truncated_normal", 1.0, "fan_in"),
    "random_uniform": InitializerSpec("uniform", fixed_variance=_KERAS_DEFAULT_SPREAD**2 / 3),
    "random_normal": InitializerSpec("normal", fixed_variance=_KERAS_DEFAULT_SPREAD**2),
}


def theoretical_distribution(name: str, fan_in: int, fan_out: int) -> Any:
    """The frozen scipy law a Keras initializer draws a (fan_in, fan_out) kernel from.

    Truncated normals: N(0, s^2) cut at +-2 s, with s = target std / 0.8796 so that the std
    AFTER truncation is the target (this is Keras' correction).
    """
    spec = INITIALIZER_SPECS[name]
    std = math.sqrt(spec.variance(fan_in, fan_out))
    if spec.distribution == "uniform":
        limit = math.sqrt(3.0) * std
        return stats.uniform(loc=-limit, scale=2 * limit)
    if spec.distribution == "truncated_normal":
        return stats.truncnorm(-TRUNCATION, TRUNCATION, scale=std / TRUNCATED_STD)
    return stats.norm(scale=std)


def uncorrected_distribution(name: str, fan_in: int, fan_out: int) -> Any | None:
    """What a truncated normal would be WITHOUT Keras' std correction (None for the others)."""
    spec = INITIALIZER_SPECS[name]
    if spec.distribution != "truncated_normal":
        return None
    std = math.sqrt(spec.variance(fan_in, fan_out))
    return stats.truncnorm(-TRUNCATION, TRUNCATION, scale=std)


def _keras_seeds(seed: Seed, stream: int, shape: tuple[int, ...]) -> np.ndarray:
    """Distinct integer seeds for stateless Keras initializers, from the global seed."""
    rng = np.random.default_rng([int(seed), stream])
    return rng.integers(0, _KERAS_SEED_MAX, size=shape)


def _draw(keras: Any, name: str, shape: tuple[int, int], seed: int) -> np.ndarray:
    initializer = keras.initializers.get({"class_name": name, "config": {"seed": seed}})
    return np.asarray(keras.ops.convert_to_numpy(initializer(shape, dtype="float32")))


def draw_initializer_samples(
    sklearn_weights: dict[str, np.ndarray], params: InitializationParams, seed: Seed
) -> dict[str, np.ndarray]:
    """Each Keras initializer drawn for each of the MLP's kernel shapes: `<name>__<layer>`."""
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(int(seed))
    shapes = [coef.shape for coef in layer_coefficients(sklearn_weights)]
    names = params.keras.initializers
    seeds = _keras_seeds(seed, _SAMPLES_STREAM, (len(names), len(shapes)))
    return {
        f"{name}__{layer}": _draw(keras, name, shape, int(seeds[row, layer]))
        for row, name in enumerate(names)
        for layer, shape in enumerate(shapes)
    }


def _sample_keys(samples: dict[str, np.ndarray]) -> list[tuple[str, int]]:
    keys = [key.rsplit("__", 1) for key in samples]
    return [(name, int(layer)) for name, layer in keys]


def initializer_statistics(
    samples: dict[str, np.ndarray], params: InitializationParams
) -> pd.DataFrame:
    """One row per (initializer, layer): empirical moments and KS test against its own law."""
    rows = []
    for name, layer in _sample_keys(samples):
        values = samples[f"{name}__{layer}"].astype(np.float64)
        fan_in, fan_out = values.shape
        law = theoretical_distribution(name, fan_in, fan_out)
        result = stats.kstest(values.ravel(), law.cdf)
        naive = uncorrected_distribution(name, fan_in, fan_out)
        naive_p = float(stats.kstest(values.ravel(), naive.cdf).pvalue) if naive else math.nan
        support = law.support()
        rows.append(
            {
                "initializer": name,
                "distribution": INITIALIZER_SPECS[name].distribution,
                "layer": layer,
                "fan_in": fan_in,
                "fan_out": fan_out,
                "n_weights": values.size,
                "support_bound": float(support[1]),
                "min": float(values.min()),
                "max": float(values.max()),
                "mean": float(values.mean()),
                "std": float(values.std()),
                "theoretical_std": float(law.std()),
                "ks_statistic": float(result.statistic),
                "ks_pvalue": float(result.pvalue),
                "matches_theory": bool(result.pvalue > params.statistics.alpha),
                "ks_pvalue_without_std_correction": naive_p,
            }
        )
    return pd.DataFrame(rows)


def plot_initializer_histograms(
    samples: dict[str, np.ndarray], statistics: pd.DataFrame, params: InitializationParams
) -> Figure:
    """A grid (initializer x layer) of density histograms with the theoretical density."""
    names = list(dict.fromkeys(statistics["initializer"]))
    n_layers = int(statistics["layer"].max()) + 1
    figure, axes = new_figure(len(names), n_layers, size=(4.0 * n_layers, 2.6 * len(names)))
    for row in statistics.itertuples():
        ax = axes[names.index(row.initializer), row.layer]
        values = samples[f"{row.initializer}__{row.layer}"].ravel()
        law = theoretical_distribution(row.initializer, row.fan_in, row.fan_out)
        ax.hist(values, bins=params.statistics.histogram_bins, density=True, alpha=0.5)
        low, high = law.support()
        if np.isfinite(high):
            ax.axvline(low, color="k", linewidth=1.5)
            ax.axvline(high, color="k", linewidth=1.5)
        else:
            low, high = law.ppf([0.0005, 0.9995])
        grid = np.linspace(low, high, 201)
        ax.plot(grid, law.pdf(grid), color="tab:red", linewidth=1.2)
        ax.set_title(
            f"{row.initializer} W({row.layer}) {row.fan_in}x{row.fan_out}: "
            f"KS p = {row.ks_pvalue:.2f}",
            fontsize="small",
        )
    figure.suptitle(
        "Keras initializers: histogram vs theoretical density (red); black = truncation / bound"
    )
    return figure


# ---------------------------------------------------------------------------------------------
# Beyond: forward propagation of the activation variance through a deep, wide network
# ---------------------------------------------------------------------------------------------

ACTIVATION_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda z: z,
    "logistic": special.expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
}


def draw_deep_network_weights(params: InitializationParams, seed: Seed) -> dict[str, np.ndarray]:
    """`depth` square kernels (width x width) per initializer, drawn by Keras."""
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(int(seed))
    forward = params.forward
    shape = (forward.width, forward.width)
    seeds = _keras_seeds(seed, _DEEP_WEIGHTS_STREAM, (len(forward.initializers), forward.depth))
    return {
        name: np.stack([_draw(keras, name, shape, int(layer_seed)) for layer_seed in seeds[row]])
        for row, name in enumerate(forward.initializers)
    }


def propagate_variance(
    deep_weights: dict[str, np.ndarray], params: InitializationParams, seed: Seed
) -> pd.DataFrame:
    """Push standard-normal patterns through every (activation, init) network, no biases.

    Records per layer the variance of the pre-activations z = h W and of the activations
    h = phi(z), over all patterns and units.
    """
    forward = params.forward
    rng = np.random.default_rng([int(seed), _INPUT_STREAM])
    inputs = rng.standard_normal((forward.n_samples, forward.width))
    rows = []
    for activation in forward.activations:
        phi = ACTIVATION_FUNCTIONS[activation]
        for name in forward.initializers:
            hidden = inputs
            for layer, kernel in enumerate(deep_weights[name], start=1):
                pre = hidden @ kernel.astype(np.float64)
                hidden = phi(pre)
                rows.append(
                    {
                        "activation": activation,
                        "initializer": name,
                        "layer": layer,
                        "preactivation_variance": float(pre.var()),
                        "activation_variance": float(hidden.var()),
                    }
                )
    return pd.DataFrame(rows)


def gauss_hermite_rule() -> tuple[np.ndarray, np.ndarray]:
    """Points and weights (summing to 1) of E[f(u)], u ~ N(0, 1)."""
    points, weights = hermegauss(_QUADRATURE_POINTS)
    return points, weights / weights.sum()


def activation_moments(
    activation: str, q: float, rule: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[float, float]:
    """E[phi(z)^2] and Var[phi(z)] for z ~ N(0, q): closed form or Gauss-Hermite."""
    if activation == "identity":
        return q, q
    if activation == "relu":
        return q / 2, q / 2 - q / (2 * math.pi)
    points, weights = rule if rule is not None else gauss_hermite_rule()
    values = ACTIVATION_FUNCTIONS[activation](math.sqrt(q) * points)
    second = float(weights @ values**2)
    mean = float(weights @ values)
    return second, second - mean**2


def layer_gain(name: str, width: int) -> float:
    """width * Var(w): the factor each square layer multiplies E[h^2] by (mean field)."""
    return width * INITIALIZER_SPECS[name].variance(width, width)


def predict_variance(params: InitializationParams) -> pd.DataFrame:
    """The mean-field recursion q_l = g E[phi(z)^2], z ~ N(0, q_{l-1}), from Var(input) = 1.

    For relu it is He et al.'s closed form q_l = (g / 2) q_{l-1}; for tanh and logistic
    the expectation is a one-dimensional Gauss-Hermite integral.
    """
    forward = params.forward
    rule = gauss_hermite_rule()
    rows = []
    for activation in forward.activations:
        for name in forward.initializers:
            gain = layer_gain(name, forward.width)
            second_moment = 1.0  # E[x^2] of the standard-normal input
            for layer in range(1, forward.depth + 1):
                q = gain * second_moment
                second_moment, variance = activation_moments(activation, q, rule)
                rows.append(
                    {
                        "activation": activation,
                        "initializer": name,
                        "layer": layer,
                        "gain": gain,
                        "predicted_preactivation_variance": q,
                        "predicted_activation_variance": variance,
                    }
                )
    return pd.DataFrame(rows)


def variance_ratios(
    measured: pd.DataFrame, predicted: pd.DataFrame, params: InitializationParams
) -> pd.DataFrame:
    """Per (activation, init): Var(h_last) / Var(h_first), measured and predicted."""
    keys = ["activation", "initializer", "layer"]
    table = measured.merge(predicted, on=keys, validate="one_to_one")
    depth = params.forward.depth
    factor = params.forward.regime_factor
    rows = []
    for (activation, name), group in table.groupby(["activation", "initializer"], sort=False):
        first = group[group["layer"] == 1].iloc[0]
        last = group[group["layer"] == depth].iloc[0]
        ratio = last["activation_variance"] / first["activation_variance"]
        predicted_ratio = (
            last["predicted_activation_variance"] / first["predicted_activation_variance"]
        )
        regime = "vanishing" if ratio < 1 / factor else "exploding" if ratio > factor else "stable"
        rows.append(
            {
                "activation": activation,
                "initializer": name,
                "gain": float(first["gain"]),
                "first_layer_variance": float(first["activation_variance"]),
                "last_layer_variance": float(last["activation_variance"]),
                "measured_ratio": float(ratio),
                "predicted_ratio": float(predicted_ratio),
                "measured_per_layer_factor": float(ratio ** (1 / (depth - 1))),
                "predicted_per_layer_factor": float(predicted_ratio ** (1 / (depth - 1))),
                "preactivation_ratio": float(
                    last["preactivation_variance"] / first["preactivation_variance"]
                ),
                "predicted_preactivation_ratio": float(
                    last["predicted_preactivation_variance"]
                    / first["predicted_preactivation_variance"]
                ),
                "regime": regime,
            }
        )
    return pd.DataFrame(rows)


def plot_variance_propagation(
    measured: pd.DataFrame, predicted: pd.DataFrame, params: InitializationParams
) -> Figure:
    """Activation variance per layer (log scale), one panel per activation; dashed = theory."""
    forward = params.forward
    figure, axes = new_figure(1, len(forward.activations), size=(7 * len(forward.activations), 5))
    colours = {name: f"C{index}" for index, name in enumerate(forward.initializers)}
    for ax, activation in zip(axes[0], forward.activations, strict=True):
        for name in forward.initializers:
            mine = measured[(measured.activation == activation) & (measured.initializer == name)]
            theory = predicted[
                (predicted.activation == activation) & (predicted.initializer == name)
            ]
            ax.semilogy(
                mine.layer, mine.activation_variance, "o-", ms=3, c=colours[name], label=name
            )
            ax.semilogy(theory.layer, theory.predicted_activation_variance, "--", c=colours[name])
        ax.set_title(f"{activation}: Var(h) per layer ({forward.depth}x{forward.width} units)")
        ax.set_xlabel("Layer")
        ax.set_ylabel("Variance of the activations")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
    figure.suptitle("Forward propagation: measured (solid) vs mean-field prediction (dashed)")
    return figure


def summarise_beyond(
    keras_statistics: pd.DataFrame, ratios: pd.DataFrame, params: InitializationParams
) -> dict[str, Any]:
    """Do Keras' draws follow their laws, and which inits keep the variance flat with depth?"""
    return {
        "alpha": params.statistics.alpha,
        "keras_initializers": _records(keras_statistics),
        "all_keras_layers_match_theory": bool(keras_statistics["matches_theory"].all()),
        "forward_propagation": {
            "depth": params.forward.depth,
            "width": params.forward.width,
            "n_samples": params.forward.n_samples,
            "regime_factor": params.forward.regime_factor,
            "ratios": _records(ratios),
        },
    }


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (numpy scalars to Python; NaN to None)."""
    records = []
    for row in table.to_dict(orient="records"):
        clean = {}
        for key, value in row.items():
            item = value.item() if isinstance(value, np.generic) else value
            clean[key] = None if isinstance(item, float) and math.isnan(item) else item
        records.append(clean)
    return records
