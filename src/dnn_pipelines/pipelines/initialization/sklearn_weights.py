"""The lesson's part: scikit-learn's MLPClassifier weights against the uniform law they come from.

The MLPClassifier is fitted one iteration with a learning rate of 1e-50 on all-zero patterns,
so its weights are the initial draws; each layer is compared with the uniform law
scikit-learn draws from (scikit-learn, numpy, scipy; never TensorFlow).
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.initialization.params import InitializationParams
from dnn_pipelines.plotting import new_figure

logger = logging.getLogger(__name__)


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
    layers = json_records(statistics)
    return {
        "seed": int(seed),
        "activation": params.mlp.activation,
        "bound_rule": sklearn_bound_rule(params.mlp.activation),
        "alpha": params.statistics.alpha,
        "layers": layers,
        "all_layers_match_uniform": all(row["matches_uniform"] for row in layers),
    }


def json_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (numpy scalars to Python; NaN to None)."""
    records = []
    for row in table.to_dict(orient="records"):
        clean = {}
        for key, value in row.items():
            item = value.item() if isinstance(value, np.generic) else value
            clean[key] = None if isinstance(item, float) and math.isnan(item) else item
        records.append(clean)
    return records
