"""Nodes of the lesson's vanishing-gradient experiment: plain numpy, no TensorFlow.

The lesson pushes one pattern through a deep stack of square sigmoid layers with Gaussian
weights and no biases, backpropagates the squared error, and plots the gradient norm per
layer. These nodes do the same, draw for draw and operation for operation (arrays keep the
lesson's `(units, layers + 1)` layout, loops keep its order), so with `backward: lesson`
every number equals the notebook's. `backward: exact` is true backpropagation instead
(the notebook's formula multiplies by `W` instead of `W^T` and takes the derivative one
layer too high, which its own question "does the code coincide with the theory?" hints at).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.vanishing_gradient.params import (
    GridCellParams,
    VanishingGradientParams,
)
from dnn_pipelines.plotting import new_figure

Array = np.ndarray


def _sigmoid(x: Array) -> Array:
    return 1 / (1 + np.exp(-x))


def _sigmoid_prime(x: Array) -> Array:
    # The lesson's `gp = lambda x: g(x) * (1 - g(x))`, kept verbatim for bitwise equality.
    return _sigmoid(x) * (1 - _sigmoid(x))


def _tanh_prime(x: Array) -> Array:
    return 1 - np.tanh(x) ** 2


def _relu(x: Array) -> Array:
    return np.maximum(x, 0.0)


def _relu_prime(x: Array) -> Array:
    return (x > 0).astype(float)


# Activation name -> (g, g', sup |g'|). The supremum bounds how much one layer can shrink
# a gradient at most by (1/4 for the sigmoid, reached at 0; 1 for tanh and relu).
Function = Callable[[Array], Array]
ACTIVATION_FUNCTIONS: dict[str, tuple[Function, Function, float]] = {
    "sigmoid": (_sigmoid, _sigmoid_prime, 0.25),
    "tanh": (np.tanh, _tanh_prime, 1.0),
    "relu": (_relu, _relu_prime, 1.0),
}

INIT_LABELS = {"normal": "N(0, 1)", "glorot": "Glorot", "he": "He"}


def weight_scale(weight_init: str, fan_in: int, fan_out: int) -> float:
    """Standard deviation of each weight: the lesson's N(0,1), Glorot/Xavier or He (normal)."""
    if weight_init == "normal":
        return 1.0
    if weight_init == "glorot":
        return float(np.sqrt(2.0 / (fan_in + fan_out)))
    if weight_init == "he":
        return float(np.sqrt(2.0 / fan_in))
    raise ValueError(f"weight_init must be one of normal, glorot, he; got {weight_init!r}")


def experiment_for_cell(
    base: VanishingGradientParams, cell: GridCellParams
) -> VanishingGradientParams:
    """One grid cell's experiment: the shared sizes of `vanishing_gradient`, the cell's choices.

    Sizes, `compare_layer` and the seed stay shared, so one `--params` override
    (e.g. `vanishing_gradient.n_layers=30`) moves the whole grid with the lesson's run.
    """
    return VanishingGradientParams.model_validate(base.model_dump() | cell.model_dump())


def generate_dataset(params: VanishingGradientParams, seed: Seed) -> tuple[dict, dict]:
    """The pattern (x, y) and the weights, drawn in the lesson's order: x, then y, then w.

    `RandomState(seed)` is the stream `np.random.seed(seed)` resets, so the draws are the
    notebook's. Glorot and He scale the same standard draws, which keeps the grid controlled:
    every cell of one seed has the same pattern and the same weight directions.
    """
    rng = np.random.RandomState(int(seed))
    n, n_layers = params.n_units, params.n_layers
    x = rng.randn(n)
    y = rng.randn(n)
    w = rng.randn(n_layers, n, n)
    scale = weight_scale(params.weight_init, fan_in=n, fan_out=n)
    if scale != 1.0:
        w = w * scale
    return {"x": x, "y": y}, {"w": w}


def forward_pass(pattern: dict, weights: dict, params: VanishingGradientParams) -> dict:
    """Local fields `a` and outputs `o` of every layer; column 0 is the input pattern."""
    g, _, _ = ACTIVATION_FUNCTIONS[params.activation]
    x, w = pattern["x"], weights["w"]
    n_units, n_layers = x.shape[0], w.shape[0]
    o = np.zeros((n_units, n_layers + 1))
    a = np.zeros((n_units, n_layers + 1))
    o[:, 0] = x
    for layer in range(1, n_layers + 1):
        a[:, layer] = w[layer - 1, :, :] @ o[:, layer - 1]
        o[:, layer] = g(a[:, layer])
    return {"a": a, "o": o}


def backward_pass(
    pattern: dict, weights: dict, activations: dict, params: VanishingGradientParams
) -> tuple[dict, dict]:
    """Error deltas `d` per layer and the gradient of 1/2 ||o - y||^2 for every weight.

    `gradients["grad"][l]` belongs to `weights["w"][l]`, i.e. to layer l + 1.
    lesson: the notebook's formulas, verbatim. They differ from backpropagation three ways:
    `W` where `W^T` belongs, `g'(a_l)` where `g'(a_{l-1})` belongs, and
    `d[:, l, None] * o[:, None, l]`, which is the elementwise d_l * o_l copied into every
    column, not the outer product. exact: d_{l-1} = g'(a_{l-1}) * (W_l^T d_l) and
    dE/dW_l = d_l o_{l-1}^T (column 0 of `d`, the input, has no delta and stays 0).
    """
    _, gp, _ = ACTIVATION_FUNCTIONS[params.activation]
    y, w = pattern["y"], weights["w"]
    a, o = activations["a"], activations["o"]
    n_units, n_layers = y.shape[0], w.shape[0]
    d = np.zeros((n_units, n_layers + 1))
    d[:, -1] = (o[:, -1] - y) * gp(a[:, -1])
    grad = np.zeros_like(w)
    if params.backward == "lesson":
        for layer in range(n_layers, 0, -1):
            d[:, layer - 1] = (w[layer - 1, :, :] @ d[:, layer]) * gp(a[:, layer])
        for layer in range(n_layers):
            grad[layer, :, :] = d[:, layer, None] * o[:, None, layer]
    else:
        for layer in range(n_layers, 1, -1):
            d[:, layer - 1] = (w[layer - 1, :, :].T @ d[:, layer]) * gp(a[:, layer - 1])
        for layer in range(n_layers):
            grad[layer, :, :] = np.outer(d[:, layer + 1], o[:, layer])
    return {"d": d}, {"grad": grad}


THEORY_CHECK_LAYERS = 3
"""The top layers checked by finite differences: further down, a sigmoid network's
gradients fall below what a float64 difference of the loss resolves."""
THEORY_CHECK_WEIGHTS = 25
"""Weights checked per layer, evenly spread over it: every weight of the lesson's 5 x 5
layers, and two loss evaluations each, so wide layers stay cheap."""
FINITE_DIFFERENCE_STEP = 1e-6


def _loss(pattern: dict, w: Array, params: VanishingGradientParams) -> float:
    o = forward_pass(pattern, {"w": w}, params)["o"][:, -1]
    return float(0.5 * np.sum((o - pattern["y"]) ** 2))


def theory_check(
    pattern: dict, weights: dict, activations: dict, params: VanishingGradientParams
) -> dict[str, Any]:
    """The lesson's question "does the code coincide with the theory?", measured: both
    backward formulas against central finite differences of the loss 1/2 ||o - y||^2, for
    `THEORY_CHECK_WEIGHTS` weights of each of the top `THEORY_CHECK_LAYERS` layers.

    The error is max |gradient - finite difference| / max |finite difference| over them.
    """
    w = weights["w"]
    layers = list(range(max(w.shape[0] - THEORY_CHECK_LAYERS, 0), w.shape[0]))
    per_layer = w[0].size
    flat = np.unique(np.linspace(0, per_layer - 1, min(THEORY_CHECK_WEIGHTS, per_layer)).round())
    checked = [(layer, *np.unravel_index(int(i), w.shape[1:])) for layer in layers for i in flat]
    numeric = np.zeros(len(checked))
    for row, index in enumerate(checked):
        shifted = [w.copy(), w.copy()]
        shifted[0][index] += FINITE_DIFFERENCE_STEP
        shifted[1][index] -= FINITE_DIFFERENCE_STEP
        plus, minus = (_loss(pattern, candidate, params) for candidate in shifted)
        numeric[row] = (plus - minus) / (2 * FINITE_DIFFERENCE_STEP)
    scale = float(np.max(np.abs(numeric)))
    errors = {}
    for formula in ("lesson", "exact"):
        variant = params.model_copy(update={"backward": formula})
        grad = backward_pass(pattern, weights, activations, variant)[1]["grad"]
        analytic = np.array([grad[index] for index in checked])
        errors[formula] = float(np.max(np.abs(analytic - numeric)) / scale)
    return {
        "activation": params.activation,
        "checked_layers": [layer + 1 for layer in layers],  # 1-based, as the lesson counts
        "checked_weights_per_layer": len(flat),
        "finite_difference_step": FINITE_DIFFERENCE_STEP,
        "largest_finite_difference": scale,
        "lesson_relative_error": errors["lesson"],
        "exact_relative_error": errors["exact"],
    }


def gradient_norms(
    gradients: dict,
    weights: dict,
    activations: dict,
    deltas: dict,
    params: VanishingGradientParams,
) -> pd.DataFrame:
    """Frobenius norm of each layer's gradient, and the bound sup|g'| puts on it.

    exact: layer j's gradient is delta_j o_{j-1}^T and each step down multiplies the delta
    by W^T and by g' <= sup|g'|, so
    ||grad_j|| <= ||delta_L|| ||o_{j-1}|| prod_{k=j}^{L-1} sup|g'| sigma_max(W_{k+1}),
    with equality at the output layer. For the sigmoid (sup = 1/4) this forces the gradient
    to vanish whenever sigma_max(W) < 4. lesson: its "delta" of layer j is d_{j-1}, one
    step down is W_k (not transposed), and its gradient has norm sqrt(n) ||d_{j-1} * o_{j-1}||
    <= sqrt(n) max|o_{j-1}| ||d_{j-1}||; the same argument bounds it.
    """
    _, _, derivative_sup = ACTIVATION_FUNCTIONS[params.activation]
    grad, w = gradients["grad"], weights["w"]
    o, d = activations["o"], deltas["d"]
    n_layers = grad.shape[0]
    norms = np.zeros(n_layers)
    for layer in range(n_layers):
        norms[layer] = np.linalg.norm(grad[layer])

    exact = params.backward == "exact"
    top = np.linalg.norm(d[:, n_layers] if exact else d[:, n_layers - 1])
    # factors[k - 1] is the step from delta^(k + 1) down to delta^(k), k = 1 .. L-1.
    steps = [w[k] if exact else w[k - 1] for k in range(1, n_layers)]
    factors = np.array([derivative_sup * np.linalg.norm(m, 2) for m in steps])
    # suffix[j - 1] = prod_{k=j}^{L-1} factors[k - 1]; 1 for the output layer.
    suffix = np.append(np.cumprod(factors[::-1])[::-1], 1.0)
    inputs = o[:, :n_layers]
    if exact:
        input_size = np.linalg.norm(inputs, axis=0)
    else:
        input_size = np.sqrt(inputs.shape[0]) * np.max(np.abs(inputs), axis=0)
    bound = top * input_size * suffix
    return pd.DataFrame(
        {
            "layer": np.arange(1, n_layers + 1),
            "gradient_norm": norms,
            "gradient_norm_bound": bound,
        }
    )


def _decay_per_layer(layers: Array, values: Array) -> float | None:
    """Fitted slope of log10(value) against the layer: decades lost per layer towards the input.

    Zero norms (dead relu units) have no logarithm and are left out of the fit.
    """
    keep = np.isfinite(values) & (values > 0)
    if keep.sum() < 2:
        return None
    slope, _ = np.polyfit(layers[keep], np.log10(values[keep]), 1)
    return float(slope)


def _finite(value: float) -> float | None:
    """JSON has no inf or NaN: report them as null."""
    return float(value) if np.isfinite(value) else None


def summarize_metrics(
    norm_table: pd.DataFrame,
    pattern: dict,
    activations: dict,
    params: VanishingGradientParams,
    seed: Seed,
) -> dict[str, Any]:
    """The numbers that answer the lesson: how much slower layer `compare_layer` learns.

    With one learning rate, a layer's step is proportional to its gradient norm, so the
    output layer trains `slowdown_vs_output` times faster than `compare_layer`.
    """
    norms = norm_table["gradient_norm"].to_numpy()
    bound = norm_table["gradient_norm_bound"].to_numpy()
    layers = norm_table["layer"].to_numpy()
    output_norm, compare_norm = norms[-1], norms[params.compare_layer - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        slowdown = output_norm / compare_norm
        bound_slowdown = output_norm / bound[params.compare_layer - 1]
        slowdown_decades = np.log10(slowdown)
    decay = _decay_per_layer(layers, norms)
    residual = activations["o"][:, -1] - pattern["y"]
    _, gp, derivative_sup = ACTIVATION_FUNCTIONS[params.activation]
    derivatives = gp(activations["a"][:, 1:])
    return {
        "seed": int(seed),
        **params.model_dump(),
        "loss": float(0.5 * residual @ residual),
        "gradient_norms": [float(value) for value in norms],
        "gradient_norm_bound": [_finite(value) for value in bound],
        "output_layer": int(layers[-1]),
        "output_layer_norm": float(output_norm),
        "compare_layer_norm": float(compare_norm),
        "slowdown_vs_output": _finite(slowdown),
        "slowdown_orders_of_magnitude": _finite(slowdown_decades),
        "bound_slowdown_vs_output": _finite(bound_slowdown),
        "decay_per_layer": decay,
        "decay_factor_per_layer": None if decay is None else float(10**decay),
        "bound_decay_per_layer": _decay_per_layer(layers, bound),
        "derivative_sup": derivative_sup,
        "mean_derivative": float(np.mean(derivatives)),
        "n_zero_norms": int(np.sum(norms == 0)),
        "first_dead_layer": _first_dead_layer(activations["o"]),
    }


def _first_dead_layer(o: Array) -> int | None:
    """First layer whose every output is 0 (a relu net without biases dies there), or None."""
    dead = np.flatnonzero(~np.any(o[:, 1:] != 0, axis=0))
    return int(dead[0]) + 1 if dead.size else None


def _title(params: VanishingGradientParams | dict) -> str:
    p = params if isinstance(params, dict) else params.model_dump()
    return f"{p['activation']}, {INIT_LABELS[p['weight_init']]} weights, {p['backward']} backward"


def plot_gradient_norms(norm_table: pd.DataFrame, params: VanishingGradientParams) -> Figure:
    """The lesson's figure: gradient norm per layer, log scale, output layer on the left."""
    figure, axes = new_figure()
    ax = axes[0, 0]
    layers = norm_table["layer"].to_numpy()
    norms = norm_table["gradient_norm"].to_numpy()
    compare = params.compare_layer
    if np.any(norms > 0):
        ax.semilogy(layers, np.where(norms > 0, norms, np.nan))
        ax.semilogy(
            [layers[-1], compare], [norms[-1], norms[compare - 1]], "o", color="tab:red", zorder=3
        )
        if norms[compare - 1] > 0:
            ax.annotate(
                f"output norm / layer {compare} norm = {norms[-1] / norms[compare - 1]:.3g}",
                (compare, norms[compare - 1]),
                textcoords="offset points",
                xytext=(10, 10),
            )
    else:  # a dead relu net: every gradient is exactly 0, nothing to draw on a log scale
        ax.plot(layers, norms)
        ax.set_title("every gradient is exactly 0")
    ax.grid(True)
    ax.set_xlabel("Layer")
    ax.set_ylabel("Gradient Norm")
    ax.set_title(f"Gradient norm per layer ({_title(params)}) {ax.get_title()}".strip())
    ax.invert_xaxis()
    return figure


def compare_cells(**metrics: dict) -> pd.DataFrame:
    """One row per grid cell: how fast its gradient decays towards the input."""
    rows = []
    for cell, values in metrics.items():
        rows.append(
            {
                "cell": cell,
                "activation": values["activation"],
                "weight_init": values["weight_init"],
                "backward": values["backward"],
                "decay_per_layer": values["decay_per_layer"],
                "decay_factor_per_layer": values["decay_factor_per_layer"],
                "bound_decay_per_layer": values["bound_decay_per_layer"],
                "slowdown_vs_output": values["slowdown_vs_output"],
                "input_layer_norm": values["gradient_norms"][0],
                "output_layer_norm": values["output_layer_norm"],
                "mean_derivative": values["mean_derivative"],
                "derivative_sup": values["derivative_sup"],
                "n_zero_norms": values["n_zero_norms"],
                "first_dead_layer": values["first_dead_layer"],
            }
        )
    table = pd.DataFrame(rows)
    table["first_dead_layer"] = table["first_dead_layer"].astype("Int64")  # None -> <NA>
    return table


def plot_comparison(**metrics: dict) -> Figure:
    """Norm per layer of every grid cell, one panel per init, with the sigmoid's 1/4 bound."""
    inits = list(dict.fromkeys(values["weight_init"] for values in metrics.values()))
    figure, axes = new_figure(1, len(inits))
    colours = {"sigmoid": "tab:blue", "tanh": "tab:orange", "relu": "tab:green"}
    compare_layer = next(iter(metrics.values()))["compare_layer"]
    for ax, init in zip(axes[0], inits, strict=True):
        for values in metrics.values():
            if values["weight_init"] != init:
                continue
            norms = np.asarray(values["gradient_norms"])
            layers = np.arange(1, norms.size + 1)
            colour = colours[values["activation"]]
            ax.semilogy(
                layers,
                np.where(norms > 0, norms, np.nan),
                color=colour,
                label=_curve_label(values),
            )
            if values["activation"] == "sigmoid":
                bound = np.array(
                    [np.nan if b is None else b for b in values["gradient_norm_bound"]]
                )
                ax.semilogy(
                    layers,
                    bound,
                    "--",
                    color=colour,
                    label=f"sigmoid bound ({_fmt(values['bound_decay_per_layer'])})",
                )
        ax.axvline(compare_layer, color="grey", lw=0.8)
        ax.set_title(f"{INIT_LABELS[init]} weights")
        ax.set_xlabel("Layer")
        ax.grid(True)
        ax.invert_xaxis()
        ax.legend(fontsize="small", loc="lower left")
    axes[0, 0].set_ylabel("Gradient Norm")
    figure.suptitle(
        "Gradient norm per layer (true backpropagation). In brackets: fitted decay, decades "
        "lost per layer towards the input.\nDashed: the bound sigmoid' <= 1/4 puts on it, "
        "a factor sigma_max(W)/4 per layer"
    )
    return figure


def _curve_label(values: dict) -> str:
    if values["decay_per_layer"] is None and values["first_dead_layer"] is not None:
        return f"{values['activation']} (all 0: dead from layer {values['first_dead_layer']})"
    return f"{values['activation']} ({_fmt(values['decay_per_layer'])})"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f}"
