"""Unit tests of the initialization nodes' math (numpy, scikit-learn, scipy; no TensorFlow)."""

from __future__ import annotations

import json
import math
import re
import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import integrate, special, stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.initialization.keras_initializers import (
    INITIALIZER_SPECS,
    TRUNCATED_STD,
    initializer_statistics,
    theoretical_distribution,
    uncorrected_distribution,
)
from dnn_pipelines.pipelines.initialization.params import InitializationParams
from dnn_pipelines.pipelines.initialization.propagation import (
    activation_moments,
    predict_variance,
    propagate_variance,
    variance_ratios,
)
from dnn_pipelines.pipelines.initialization.sklearn_weights import (
    build_mlp_classifier,
    extract_weights,
    ks_against_uniform,
    make_zero_patterns,
    plot_weight_histograms,
    sklearn_init_bound,
    summarise_uniform_fit,
    train_one_step,
    uniform_weight_statistics,
)

LESSON = {
    "mlp": {
        "n_patterns": 10,
        "n_features": 5,
        "hidden_layer_sizes": [20, 500, 100],
        "activation": "relu",
        "max_iter": 1,
        "learning_rate_init": 1.0e-50,
    },
    "statistics": {"alpha": 0.05, "histogram_bins": 10},
    "keras": {"initializers": ["glorot_uniform", "he_normal"]},
    "forward": {
        "depth": 6,
        "width": 400,
        "n_samples": 300,
        "activations": ["identity", "tanh", "relu"],
        "initializers": ["glorot_uniform", "he_normal", "random_uniform"],
        "regime_factor": 10.0,
    },
}
ACTIVATIONS = ("identity", "logistic", "tanh", "relu")


def make_params(**sections: dict) -> InitializationParams:
    raw = {key: {**value, **sections.get(key, {})} for key, value in LESSON.items()}
    return InitializationParams.model_validate(raw)


def pipeline_weights(params: InitializationParams, seed: int) -> dict[str, np.ndarray]:
    """The faithful nodes chained as the pipeline chains them."""
    model = build_mlp_classifier(params, Seed(seed))
    return extract_weights(train_one_step(model, make_zero_patterns(params)))


def independent_mlp(seed: int, activation: str = "relu") -> MLPClassifier:
    """The lesson's cell, written out by hand."""
    x, y = np.zeros((10, 5)), np.zeros(10)
    model = MLPClassifier(
        hidden_layer_sizes=(20, 500, 100),
        activation=activation,
        max_iter=1,
        learning_rate_init=1e-50,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x, y)


@pytest.fixture(scope="module")
def lesson_weights() -> dict[str, np.ndarray]:
    return pipeline_weights(make_params(), 123)


# --- faithful part -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [123, 2024])
def test_weights_equal_an_independent_mlpclassifier_bit_for_bit(seed):
    weights = pipeline_weights(make_params(), seed)
    reference = independent_mlp(seed)
    assert len(reference.coefs_) == 4
    for layer, (coef, intercept) in enumerate(
        zip(reference.coefs_, reference.intercepts_, strict=True)
    ):
        assert weights[f"coef_{layer}"].dtype == coef.dtype
        np.testing.assert_array_equal(weights[f"coef_{layer}"], coef)
        np.testing.assert_array_equal(weights[f"intercept_{layer}"], intercept)


def test_two_seeds_give_different_weights():
    first, second = pipeline_weights(make_params(), 123), pipeline_weights(make_params(), 2024)
    assert not np.array_equal(first["coef_1"], second["coef_1"])


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_bound_is_scikit_learns_rule_for_each_activation(activation):
    # The rule as scikit-learn 1.9 documents it in _init_coef: 6, or 2 for logistic.
    factor = 2.0 if activation == "logistic" else 6.0
    assert sklearn_init_bound(500, 100, activation) == math.sqrt(factor / 600)
    # And as scikit-learn applies it: replaying its RandomState draws with OUR bound gives
    # its weights bit for bit (coef then intercept, layer after layer).
    model = independent_mlp(7, activation)
    rng = np.random.RandomState(7)
    for coef, intercept in zip(model.coefs_, model.intercepts_, strict=True):
        bound = sklearn_init_bound(*coef.shape, activation)
        np.testing.assert_array_equal(rng.uniform(-bound, bound, coef.shape), coef)
        np.testing.assert_array_equal(rng.uniform(-bound, bound, coef.shape[1]), intercept)


def test_one_step_at_rate_1e_50_leaves_the_initial_draws_unchanged(lesson_weights):
    rng = np.random.RandomState(123)
    for layer in range(4):
        coef = lesson_weights[f"coef_{layer}"]
        bound = sklearn_init_bound(*coef.shape, "relu")
        np.testing.assert_array_equal(rng.uniform(-bound, bound, coef.shape), coef)
        rng.uniform(-bound, bound, coef.shape[1])  # the intercept's draws


def test_train_node_does_not_mutate_its_input():
    params = make_params()
    model = build_mlp_classifier(params, Seed(123))
    train_one_step(model, make_zero_patterns(params))
    assert not hasattr(model, "coefs_")


def test_statistics_table_of_the_lesson(lesson_weights):
    table = uniform_weight_statistics(lesson_weights, make_params())
    assert list(table["fan_in"]) == [5, 20, 500, 100]
    assert list(table["fan_out"]) == [20, 500, 100, 1]
    np.testing.assert_allclose(table["bound"], np.sqrt(6 / (table["fan_in"] + table["fan_out"])))
    np.testing.assert_allclose(table["theoretical_std"], table["bound"] / np.sqrt(3))
    assert (table["min"] >= -table["bound"]).all()
    assert (table["max"] <= table["bound"]).all()
    # 50 000 weights: the std is within 1 % of b / sqrt(3).
    assert table.loc[2, "std"] == pytest.approx(table.loc[2, "theoretical_std"], rel=0.01)
    assert table["matches_uniform"].all()
    assert (table["ks_pvalue"] > 0.05).all()


@pytest.mark.parametrize("wrong_factor", [0.9, 1.1])
def test_ks_rejects_a_deliberately_wrong_bound(lesson_weights, wrong_factor):
    coef = lesson_weights["coef_2"]  # 500 x 100
    bound = sklearn_init_bound(500, 100, "relu")
    _, right_p = ks_against_uniform(coef, bound)
    statistic, wrong_p = ks_against_uniform(coef, wrong_factor * bound)
    assert right_p > 0.05
    assert wrong_p < 1e-10
    assert statistic > 0.04


def test_the_logistic_rule_applied_to_relu_weights_is_rejected(lesson_weights):
    """sqrt(2/..) instead of sqrt(6/..): the table flags every layer with enough weights."""
    table = uniform_weight_statistics(lesson_weights, make_params(mlp={"activation": "logistic"}))
    assert not table.loc[[1, 2], "matches_uniform"].any()
    assert (table.loc[[1, 2], "ks_pvalue"] < 1e-10).all()


def test_metrics_answer_the_lesson_with_json_ready_rows(lesson_weights):
    params = make_params()
    table = uniform_weight_statistics(lesson_weights, params)
    metrics = summarise_uniform_fit(table, params, Seed(123))
    json.dumps(metrics)  # plain Python types only
    assert metrics["bound_rule"] == "sqrt(6 / (fan_in + fan_out))"
    assert len(metrics["layers"]) == 4
    assert all(row["matches_uniform"] is True for row in metrics["layers"])
    assert metrics["all_layers_match_uniform"] is True
    assert metrics["layers"][2]["bound"] == pytest.approx(0.1)


def test_histogram_figure_has_one_panel_per_layer(lesson_weights):
    params = make_params()
    figure = plot_weight_histograms(
        lesson_weights, uniform_weight_statistics(lesson_weights, params), params
    )
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 4
    bounds = sorted(line.get_xdata()[0] for line in figure.axes[2].lines if line.get_xdata()[0])
    assert bounds[0] == pytest.approx(-0.1)
    assert bounds[-1] == pytest.approx(0.1)


# --- Keras initializers' theory (no Keras needed) -------------------------------------------


def test_truncated_std_is_keras_correction_constant():
    assert abs(TRUNCATED_STD - 0.87962566103423978) < 1e-15


@pytest.mark.parametrize(
    ("name", "fan_in", "fan_out", "std"),
    [
        ("glorot_uniform", 500, 100, math.sqrt(2 / 600)),
        ("glorot_normal", 500, 100, math.sqrt(2 / 600)),
        ("he_uniform", 500, 100, math.sqrt(2 / 500)),
        ("he_normal", 500, 100, math.sqrt(2 / 500)),
        ("lecun_normal", 500, 100, math.sqrt(1 / 500)),
        ("lecun_uniform", 20, 5, math.sqrt(1 / 20)),
        ("random_uniform", 20, 5, 0.05 / math.sqrt(3)),
        ("random_normal", 20, 5, 0.05),
    ],
)
def test_theoretical_laws_have_the_target_std(name, fan_in, fan_out, std):
    law = theoretical_distribution(name, fan_in, fan_out)
    assert law.std() == pytest.approx(std, rel=1e-12)
    if INITIALIZER_SPECS[name].distribution == "truncated_normal":
        # cut at 2 standard deviations of the untruncated normal Keras samples from
        assert law.support()[1] == pytest.approx(2 * std / TRUNCATED_STD)
    if name == "glorot_uniform":
        assert law.support()[1] == pytest.approx(math.sqrt(6 / (fan_in + fan_out)))


def test_initializer_statistics_accept_the_law_and_reject_the_uncorrected_one():
    rng = np.random.default_rng(0)
    shape = (500, 100)
    exact = theoretical_distribution("he_normal", *shape).rvs(size=shape, random_state=rng)
    naive = uncorrected_distribution("he_normal", *shape).rvs(size=shape, random_state=rng)
    samples = {"he_normal__0": exact.astype(np.float32), "he_normal__1": naive}
    table = initializer_statistics(samples, make_params()).set_index("layer")
    assert table.loc[0, "matches_theory"]
    assert table.loc[0, "ks_pvalue_without_std_correction"] < 1e-10
    assert not table.loc[1, "matches_theory"]
    assert table.loc[1, "ks_pvalue"] < 1e-10
    assert table.loc[0, "std"] == pytest.approx(math.sqrt(2 / 500), rel=0.01)


# --- forward propagation ---------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["tanh", "logistic"])
@pytest.mark.parametrize("q", [0.1, 1.0, 4.0])
def test_activation_moments_match_numerical_integration(activation, q):
    phi = {"tanh": np.tanh, "logistic": special.expit}[activation]
    density = stats.norm(scale=math.sqrt(q)).pdf
    second = integrate.quad(lambda z: phi(z) ** 2 * density(z), -np.inf, np.inf)[0]
    mean = integrate.quad(lambda z: phi(z) * density(z), -np.inf, np.inf)[0]
    assert activation_moments(activation, q) == pytest.approx((second, second - mean**2))


def test_relu_prediction_is_he_closed_form():
    params = make_params()
    predicted = (
        predict_variance(params).set_index(["activation", "initializer", "layer"]).sort_index()
    )
    depth = params.forward.depth
    he = predicted.loc[("relu", "he_normal")]
    glorot = predicted.loc[("relu", "glorot_uniform")]
    # He et al. (2015): Var(z_l) = (n Var(w) / 2) Var(z_{l-1}); n Var(w) = 2 for he, 1 for glorot.
    np.testing.assert_allclose(he["predicted_preactivation_variance"], 2.0)
    np.testing.assert_allclose(
        glorot["predicted_preactivation_variance"], 0.5 ** np.arange(depth), rtol=1e-12
    )
    np.testing.assert_allclose(he["predicted_activation_variance"], 2.0 * (0.5 - 1 / (2 * math.pi)))


def numpy_deep_weights(params: InitializationParams, seed: int) -> dict[str, np.ndarray]:
    """Kernels drawn from each initializer's theoretical law (what Keras would draw)."""
    forward = params.forward
    rng = np.random.default_rng(seed)
    shape = (forward.depth, forward.width, forward.width)
    return {
        name: theoretical_distribution(name, forward.width, forward.width)
        .rvs(size=shape, random_state=rng)
        .astype(np.float32)
        for name in forward.initializers
    }


@pytest.fixture(scope="module")
def propagation():
    params = make_params()
    measured = propagate_variance(numpy_deep_weights(params, 1), params, Seed(123))
    predicted = predict_variance(params)
    return params, measured, predicted, variance_ratios(measured, predicted, params)


def test_measured_variance_follows_the_closed_form_within_tolerance(propagation):
    """Finite width makes each layer's gain a chi-square ratio: relative noise ~ sqrt(2/n)."""
    params, measured, predicted, _ = propagation
    table = measured.merge(predicted, on=["activation", "initializer", "layer"])
    forward = params.forward
    noise = np.sqrt(2 * table["layer"] / forward.width)  # accumulated over the layers
    error = np.abs(np.log(table["activation_variance"] / table["predicted_activation_variance"]))
    assert (error < 3 * noise + 0.02).all(), table.loc[error >= 3 * noise + 0.02]


def test_variance_ratios_and_regimes(propagation):
    params, _, _, ratios = propagation
    ratios = ratios.set_index(["activation", "initializer"])
    depth = params.forward.depth
    tolerance = 3 * math.sqrt(2 * depth / params.forward.width)
    for key, row in ratios.iterrows():
        assert abs(math.log(row.measured_ratio / row.predicted_ratio)) < tolerance, key
    assert ratios.loc[("relu", "he_normal"), "predicted_ratio"] == pytest.approx(1.0)
    assert ratios.loc[("relu", "glorot_uniform"), "predicted_ratio"] == pytest.approx(
        0.5 ** (depth - 1)
    )
    assert ratios.loc[("identity", "glorot_uniform"), "predicted_ratio"] == pytest.approx(1.0)
    assert ratios.loc[("relu", "he_normal"), "regime"] == "stable"
    assert ratios.loc[("identity", "he_normal"), "regime"] == "exploding"  # 2^5 = 32 > 10
    assert ratios.loc[("relu", "random_uniform"), "regime"] == "vanishing"
    assert ratios.loc[("tanh", "random_uniform"), "regime"] == "vanishing"


def test_propagation_is_deterministic_given_the_seed():
    params = make_params(forward={"depth": 2, "width": 20, "n_samples": 10})
    weights = numpy_deep_weights(params, 0)
    first = propagate_variance(weights, params, Seed(5))
    second = propagate_variance(weights, params, Seed(5))
    other = propagate_variance(weights, params, Seed(6))
    assert first.equals(second)
    assert not first.equals(other)


# --- parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "change", "message"),
    [
        ("mlp", {"activation": "sigmoid"}, "mlp.activation"),
        ("mlp", {"hidden_layer_sizes": [20, 0]}, "mlp.hidden_layer_sizes[1]"),
        ("mlp", {"learning_rate_init": 0.0}, "mlp.learning_rate_init"),
        ("mlp", {"layers": [20]}, "mlp.layers"),
        ("statistics", {"alpha": 1.5}, "statistics.alpha"),
        ("keras", {"initializers": ["glorot_uniform", "glorot_uniform"]}, "keras.initializers"),
        ("keras", {"initializers": ["xavier"]}, "keras.initializers[0]"),
        ("forward", {"depth": 1}, "forward.depth"),
        ("forward", {"regime_factor": 1.0}, "forward.regime_factor"),
    ],
)
def test_bad_parameters_are_rejected_with_their_path(section, change, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make_params(**{section: change})
