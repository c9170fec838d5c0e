"""Beyond the lesson: Keras' initializers drawn for the MLP's layer shapes and tested against
their own theoretical laws.

Only the drawing node needs Keras; it imports it inside the function (`# noqa: PLC0415`)
because `pipeline_registry` imports every pipeline module on every run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.initialization.params import InitializationParams
from dnn_pipelines.pipelines.initialization.sklearn_weights import (
    layer_coefficients,
)
from dnn_pipelines.plotting import new_figure

# Independent random streams of the global seed, one per node that draws numbers.
_SAMPLES_STREAM = 0


DEEP_WEIGHTS_STREAM = 1


INPUT_STREAM = 2


_KERAS_SEED_MAX = 2**31 - 1


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


def keras_seeds(seed: Seed, stream: int, shape: tuple[int, ...]) -> np.ndarray:
    """Distinct integer seeds for stateless Keras initializers, from the global seed."""
    rng = np.random.default_rng([int(seed), stream])
    return rng.integers(0, _KERAS_SEED_MAX, size=shape)


def draw_keras(keras: Any, name: str, shape: tuple[int, int], seed: int) -> np.ndarray:
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
    seeds = keras_seeds(seed, _SAMPLES_STREAM, (len(names), len(shapes)))
    return {
        f"{name}__{layer}": draw_keras(keras, name, shape, int(seeds[row, layer]))
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
