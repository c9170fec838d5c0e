"""Unit tests of the vanishing-gradient nodes: exact against the lesson, exact against calculus."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.vanishing_gradient import nodes
from dnn_pipelines.pipelines.vanishing_gradient.params import (
    GridCellParams,
    VanishingGradientParams,
    grid_cells,
)
from tests.pipelines.vanishing_gradient.lesson_reference import lesson_vanishing_gradient

LESSON = {
    "n_units": 5,
    "n_layers": 50,
    "activation": "sigmoid",
    "weight_init": "normal",
    "compare_layer": 30,
    "backward": "lesson",
}


def make_params(**changes) -> VanishingGradientParams:
    return VanishingGradientParams.model_validate(LESSON | changes)


def run_nodes(params: VanishingGradientParams, seed: int) -> dict:
    """The pipeline's node chain, called in order, outside Kedro."""
    pattern, weights = nodes.generate_dataset(params, Seed(seed))
    activations = nodes.forward_pass(pattern, weights, params)
    deltas, gradients = nodes.backward_pass(pattern, weights, activations, params)
    table = nodes.gradient_norms(gradients, weights, activations, deltas, params)
    metrics = nodes.summarize_metrics(table, pattern, activations, params, Seed(seed))
    return {
        "pattern": pattern,
        "weights": weights,
        "activations": activations,
        "deltas": deltas,
        "gradients": gradients,
        "table": table,
        "metrics": metrics,
    }


@pytest.mark.parametrize("seed", [123, 7])
@pytest.mark.parametrize(("n_units", "n_layers", "compare_layer"), [(5, 50, 30), (3, 12, 4)])
def test_lesson_mode_equals_the_lesson_code_bit_for_bit(seed, n_units, n_layers, compare_layer):
    reference = lesson_vanishing_gradient(seed, n_units, n_layers)
    params = make_params(n_units=n_units, n_layers=n_layers, compare_layer=compare_layer)
    out = run_nodes(params, seed)

    pairs = {
        "x": out["pattern"]["x"],
        "y": out["pattern"]["y"],
        "w": out["weights"]["w"],
        "a": out["activations"]["a"],
        "o": out["activations"]["o"],
        "d": out["deltas"]["d"],
        "grad": out["gradients"]["grad"],
        "norms": out["table"]["gradient_norm"].to_numpy(),
    }
    for name, ours in pairs.items():
        assert np.array_equal(ours, reference[name]), name
    assert out["metrics"]["gradient_norms"] == reference["norms"].tolist()
    norms = reference["norms"]
    assert out["metrics"]["slowdown_vs_output"] == norms[-1] / norms[compare_layer - 1]
    slope = np.polyfit(np.arange(1, n_layers + 1), np.log10(norms), 1)[0]
    assert out["metrics"]["decay_per_layer"] == pytest.approx(slope, rel=1e-12)


def test_the_lesson_answer_for_seed_123():
    """The number that answers the lesson's question (pinned: it is deterministic)."""
    metrics = run_nodes(make_params(), 123)["metrics"]
    assert metrics["slowdown_vs_output"] == pytest.approx(4.943145172e8, rel=1e-9)
    assert metrics["decay_per_layer"] == pytest.approx(0.43021176, rel=1e-6)
    assert len(metrics["gradient_norms"]) == 50
    assert metrics["gradient_norms"][-1] == pytest.approx(0.460417921, rel=1e-8)


def _loss(pattern: dict, w: np.ndarray, params: VanishingGradientParams) -> float:
    o = nodes.forward_pass(pattern, {"w": w}, params)["o"][:, -1]
    residual = o - pattern["y"]
    return 0.5 * residual @ residual


def _finite_differences(pattern: dict, w: np.ndarray, params, eps: float = 1e-6) -> np.ndarray:
    numeric = np.zeros_like(w)
    for index in np.ndindex(w.shape):
        plus, minus = w.copy(), w.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric[index] = (_loss(pattern, plus, params) - _loss(pattern, minus, params)) / (2 * eps)
    return numeric


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("weight_init", ["normal", "he"])
def test_exact_backward_matches_central_finite_differences(activation, weight_init):
    params = make_params(
        n_units=3,
        n_layers=4,
        compare_layer=2,
        activation=activation,
        weight_init=weight_init,
        backward="exact",
    )
    out = run_nodes(params, seed=1)  # seed 1 keeps some relu units alive in every layer
    numeric = _finite_differences(out["pattern"], out["weights"]["w"], params)
    analytic = out["gradients"]["grad"]
    assert np.abs(numeric).max() > 1e-3  # a dead network would pass trivially
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def test_the_lesson_backward_is_not_the_gradient():
    """The deviation the docs report: the notebook's formula is not d loss / d w."""
    params = make_params(n_units=3, n_layers=4, compare_layer=2)
    out = run_nodes(params, seed=1)
    numeric = _finite_differences(out["pattern"], out["weights"]["w"], params)
    assert not np.allclose(out["gradients"]["grad"], numeric, rtol=1e-3, atol=1e-6)
    # Its "gradient" repeats d_l * o_l in every column: an elementwise product, not an outer one.
    grad = out["gradients"]["grad"]
    assert np.array_equal(grad, np.repeat(grad[:, :, :1], 3, axis=2))


def test_the_theory_check_measures_both_formulas_against_finite_differences():
    """The lesson's "does the code coincide with the theory?", answered by numbers."""
    params = make_params(n_units=3, n_layers=5, compare_layer=2)
    out = run_nodes(params, seed=1)
    pattern, weights = out["pattern"], out["weights"]
    numeric = _finite_differences(pattern, weights["w"], params)[2:]  # top 3 of 5 layers
    expected = {}
    for formula in ("lesson", "exact"):
        variant = make_params(n_units=3, n_layers=5, compare_layer=2, backward=formula)
        grad = run_nodes(variant, seed=1)["gradients"]["grad"][2:]
        expected[formula] = np.abs(grad - numeric).max() / np.abs(numeric).max()
    check = nodes.theory_check(pattern, weights, out["activations"], params)
    assert check["checked_layers"] == [3, 4, 5]
    assert check["lesson_relative_error"] == pytest.approx(expected["lesson"], rel=1e-6)
    assert check["exact_relative_error"] < 1e-6
    assert check["lesson_relative_error"] > 0.1


@pytest.mark.parametrize("backward", ["lesson", "exact"])
def test_shapes(backward):
    n, layers = 4, 7
    out = run_nodes(make_params(n_units=n, n_layers=layers, compare_layer=3, backward=backward), 5)
    assert out["pattern"]["x"].shape == (n,)
    assert out["pattern"]["y"].shape == (n,)
    assert out["weights"]["w"].shape == (layers, n, n)
    assert out["activations"]["a"].shape == (n, layers + 1)
    assert out["activations"]["o"].shape == (n, layers + 1)
    assert out["deltas"]["d"].shape == (n, layers + 1)
    assert out["gradients"]["grad"].shape == (layers, n, n)
    assert list(out["table"].columns) == ["layer", "gradient_norm", "gradient_norm_bound"]
    assert out["table"]["layer"].tolist() == list(range(1, layers + 1))
    assert len(out["metrics"]["gradient_norms"]) == layers


def test_inits_scale_the_same_draws():
    n = 5
    normal = run_nodes(make_params(), 123)["weights"]["w"]
    glorot = run_nodes(make_params(weight_init="glorot"), 123)["weights"]["w"]
    he = run_nodes(make_params(weight_init="he"), 123)["weights"]["w"]
    np.testing.assert_allclose(glorot, normal * np.sqrt(2 / (n + n)), rtol=1e-15)
    np.testing.assert_allclose(he, normal * np.sqrt(2 / n), rtol=1e-15)
    assert nodes.weight_scale("glorot", fan_in=3, fan_out=5) == pytest.approx(0.5)


@pytest.mark.parametrize("cell", grid_cells())
@pytest.mark.parametrize("backward", ["lesson", "exact"])
def test_derivative_bound_holds(cell, backward):
    activation, weight_init = cell.split("_")
    for seed in (0, 1, 2):
        params = make_params(
            n_layers=20,
            compare_layer=10,
            activation=activation,
            weight_init=weight_init,
            backward=backward,
        )
        table = run_nodes(params, seed)["table"]
        norms, bound = table["gradient_norm"], table["gradient_norm_bound"]
        assert (norms <= bound * (1 + 1e-9) + 1e-300).all()
        if backward == "exact":
            assert norms.iloc[-1] == pytest.approx(bound.iloc[-1], rel=1e-12)


def test_sigmoid_bound_decays_by_at_least_log10_4_minus_log10_sigma():
    params = make_params(weight_init="glorot", backward="exact")
    out = run_nodes(params, 123)
    sigmas = [np.linalg.norm(w, 2) for w in out["weights"]["w"]]
    bound = out["table"]["gradient_norm_bound"].to_numpy()
    o = out["activations"]["o"]
    ratio = (bound[:-1] / np.linalg.norm(o[:, :-2], axis=0)) / (
        bound[1:] / np.linalg.norm(o[:, 1:-1], axis=0)
    )
    np.testing.assert_allclose(ratio, np.array(sigmas[1:]) / 4, rtol=1e-12)


def test_metrics_report_dead_relu_and_json_safe_values():
    params = make_params(activation="relu", backward="exact")
    metrics = run_nodes(params, 123)["metrics"]  # bias-free 5-unit relu: all units die
    assert metrics["first_dead_layer"] is not None
    assert metrics["n_zero_norms"] == 50
    assert metrics["slowdown_vs_output"] is None  # 0 / 0 is no number; JSON has no NaN
    assert metrics["decay_per_layer"] is None


def test_experiment_for_cell_keeps_the_shared_sizes():
    base = make_params(n_layers=30)
    cell = GridCellParams(activation="tanh", weight_init="he", backward="exact")
    merged = nodes.experiment_for_cell(base, cell)
    assert merged == make_params(n_layers=30, activation="tanh", weight_init="he", backward="exact")


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"n_layers": 0}, "n_layers"),
        ({"n_units": 0}, "n_units"),
        ({"activation": "softplus"}, "activation"),
        ({"weight_init": "uniform"}, "weight_init"),
        ({"backward": "autograd"}, "backward"),
        ({"compare_layer": 51}, "compare_layer"),
        ({"compare_layer": 0}, "compare_layer"),
        ({"n_layer": 50}, "n_layer"),
    ],
)
def test_bad_parameters_name_the_key(changes, key):
    with pytest.raises(ValueError, match=rf"- {key} = "):
        VanishingGradientParams.model_validate(LESSON | changes)


def test_comparison_table_and_figures():
    metrics = {}
    for cell in grid_cells():
        activation, weight_init = cell.split("_")
        params = make_params(
            n_units=3,
            n_layers=10,
            compare_layer=5,
            activation=activation,
            weight_init=weight_init,
            backward="exact",
        )
        metrics[cell] = run_nodes(params, 1)["metrics"]
    table = nodes.compare_cells(**metrics)
    assert isinstance(table, pd.DataFrame)
    assert table["cell"].tolist() == grid_cells()
    sigmoid = table.set_index("cell").loc["sigmoid_glorot"]
    assert sigmoid["decay_per_layer"] == metrics["sigmoid_glorot"]["decay_per_layer"]

    figure = nodes.plot_comparison(**metrics)
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 3
    for ax in figure.axes:
        assert ax.get_yscale() == "log"
        assert ax.xaxis_inverted()
        assert any("bound" in line.get_label() for line in ax.get_lines())


def test_lesson_figure_is_log_scale_with_inverted_axis():
    out = run_nodes(make_params(), 123)
    figure = nodes.plot_gradient_norms(out["table"], make_params())
    ax = figure.axes[0]
    assert ax.get_yscale() == "log"
    assert ax.xaxis_inverted()
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), out["table"]["gradient_norm"])
