"""Beyond the lesson: how each initializer carries the activation variance through a deep,
wide network, measured and next to the mean-field (closed-form) prediction."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from numpy.polynomial.hermite_e import hermegauss
from scipy import special

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.initialization.keras_initializers import (
    DEEP_WEIGHTS_STREAM,
    INITIALIZER_SPECS,
    INPUT_STREAM,
    draw_keras,
    keras_seeds,
)
from dnn_pipelines.pipelines.initialization.params import InitializationParams
from dnn_pipelines.pipelines.initialization.sklearn_weights import json_records
from dnn_pipelines.plotting import new_figure

# Gauss-Hermite points for E[phi(z)^2], z ~ N(0, q): exact to float precision for tanh/logistic.
_QUADRATURE_POINTS = 201


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
    seeds = keras_seeds(seed, DEEP_WEIGHTS_STREAM, (len(forward.initializers), forward.depth))
    return {
        name: np.stack(
            [draw_keras(keras, name, shape, int(layer_seed)) for layer_seed in seeds[row]]
        )
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
    rng = np.random.default_rng([int(seed), INPUT_STREAM])
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
        "keras_initializers": json_records(keras_statistics),
        "all_keras_layers_match_theory": bool(keras_statistics["matches_theory"].all()),
        "forward_propagation": {
            "depth": params.forward.depth,
            "width": params.forward.width,
            "n_samples": params.forward.n_samples,
            "regime_factor": params.forward.regime_factor,
            "ratios": json_records(ratios),
        },
    }
