"""Unit tests of the activations nodes: exact curves, the lesson's fits, safe model round trip."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure
from scipy import stats
from sklearn.datasets import make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.activations.nodes import (
    activation_curves,
    activation_derivatives,
    build_classifier,
    collect_metrics,
    evaluate_classifier,
    make_held_out_moons,
    make_moons_dataset,
    plot_activation_curves,
    plot_comparison,
    plot_decision_regions,
    plot_loss_curves,
    restore_classifier,
    train_classifier,
)
from dnn_pipelines.pipelines.activations.params import (
    ACTIVATIONS,
    ClassifierParams,
    FitParams,
    HeldOutParams,
    IllustrationParams,
    InstanceParams,
    MoonsParams,
)

REPO = Path(__file__).resolve().parents[3]
BASE = yaml.safe_load((REPO / "conf/base/parameters_activations.yml").read_text())["activations"]

EXACT = {
    "identity": lambda x: x,
    "logistic": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
    "relu": lambda x: np.maximum(x, 0.0),
}
EXACT_DERIVATIVE = {
    "identity": np.ones_like,
    "logistic": lambda x: np.exp(-x) / (1.0 + np.exp(-x)) ** 2,
    "tanh": lambda x: 1.0 / np.cosh(x) ** 2,
    "relu": lambda x: (x > 0).astype(float),
}


def base(model: type, key: str):
    return model.model_validate(BASE[key])


def seed(value: int) -> Seed:
    return Seed.model_validate(value)


# ---------------------------------------------------------------- illustration


@pytest.mark.parametrize("value", [123, 7])
def test_each_curve_is_its_exact_activation(value):
    curves = activation_curves(base(IllustrationParams, "illustration"), seed(value))
    x = np.linspace(-3, 3, 100)
    assert list(curves.columns) == ["x", *ACTIVATIONS]
    np.testing.assert_array_equal(curves["x"], x)
    for activation, function in EXACT.items():
        np.testing.assert_allclose(curves[activation], function(x), rtol=1e-15, atol=1e-15)


def test_curves_follow_the_configured_grid_and_order():
    params = IllustrationParams(
        activations=["relu", "tanh"], n_points=5, x_min=-1.0, x_max=2.0, max_iter=1
    )
    curves = activation_curves(params, seed(0))
    assert list(curves.columns) == ["x", "relu", "tanh"]
    np.testing.assert_array_equal(curves["x"], [-1.0, -0.25, 0.5, 1.25, 2.0])


def test_derivatives_equal_the_exact_derivatives_and_logistic_stays_below_a_quarter():
    curves = activation_curves(base(IllustrationParams, "illustration"), seed(123))
    derivatives = activation_derivatives(curves)
    x = curves["x"].to_numpy()
    for activation, derivative in EXACT_DERIVATIVE.items():
        np.testing.assert_allclose(derivatives[activation], derivative(x), atol=1e-12)
    assert derivatives["logistic"].max() <= 0.25
    assert derivatives["logistic"].max() > 0.249  # the grid passes close to x = 0
    assert derivatives["tanh"].max() <= 1.0


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=-20, max_value=20).filter(lambda v: abs(v) > 1e-3))
def test_derivative_from_output_matches_a_finite_difference(point):
    step = 1e-6
    x = np.array([point - step, point, point + step])
    curves = pd.DataFrame({"x": x} | {name: f(x) for name, f in EXACT.items()})
    derivatives = activation_derivatives(curves)
    for name in EXACT:
        numeric = (curves[name][2] - curves[name][0]) / (2 * step)
        assert derivatives[name][1] == pytest.approx(numeric, abs=1e-6)


def test_illustration_figure_has_legends_and_the_quarter_line():
    curves = activation_curves(base(IllustrationParams, "illustration"), seed(123))
    figure = plot_activation_curves(curves, activation_derivatives(curves))
    assert isinstance(figure, Figure)
    left, right = figure.axes
    assert [t.get_text() for t in left.get_legend().get_texts()] == list(ACTIVATIONS)
    labels = [t.get_text() for t in right.get_legend().get_texts()]
    assert labels[:4] == [f"{a}'" for a in ACTIVATIONS]
    assert labels[4].startswith("1/4")
    quarter = right.get_lines()[-1]
    assert set(quarter.get_ydata()) == {0.25}


# ---------------------------------------------------------------- datasets


def lesson_moons(value: int, n_samples: int = 200, noise: float = 0.15):
    """The lesson's cell, verbatim."""
    x, y = make_moons(n_samples=n_samples, noise=noise, random_state=value)
    y[y == 0] = -1
    return x, y


def test_moons_are_the_lessons_draw_with_labels_minus_one_and_one():
    moons = make_moons_dataset(base(MoonsParams, "moons"), seed(123))
    x, y = lesson_moons(123)
    np.testing.assert_array_equal(moons[["x1", "x2"]].to_numpy(), x)
    np.testing.assert_array_equal(moons["y"].to_numpy(), y)
    assert set(moons["y"]) == {-1, 1}


def held_out_sample(noise: float, n_samples: int = 200) -> pd.DataFrame:
    return make_held_out_moons(
        MoonsParams(n_samples=200, noise=noise, labels=(-1, 1)),
        HeldOutParams(n_samples=n_samples, seed=2024),
        seed(123),
    )


def test_held_out_points_lie_on_the_lessons_arcs_at_new_positions():
    clean = held_out_sample(noise=0.0)
    x1, x2, y = clean["x1"].to_numpy(), clean["x2"].to_numpy(), clean["y"].to_numpy()
    outer, inner = y == -1, y == 1
    assert (outer.sum(), inner.sum()) == (100, 100)  # make_moons' split, n // 2 outer
    # make_moons' arcs: the unit upper half circle, and its mirror shifted by (1, -0.5)
    np.testing.assert_allclose(x1[outer] ** 2 + x2[outer] ** 2, 1.0, atol=1e-12)
    np.testing.assert_allclose((x1[inner] - 1) ** 2 + (x2[inner] - 0.5) ** 2, 1.0, atol=1e-12)
    assert (x2[outer] >= 0).all() and (x2[inner] <= 0.5).all()
    # the angles are new: none is one of make_moons' evenly spaced training angles
    angles = np.concatenate(
        [np.arctan2(x2[outer], x1[outer]), np.arctan2(0.5 - x2[inner], 1 - x1[inner])]
    )
    grid = np.linspace(0, np.pi, 100)
    assert np.min(np.abs(angles[:, None] - grid[None, :])) > 1e-9
    assert stats.kstest(angles / np.pi, "uniform").pvalue > 0.01  # spread along the whole arc


def test_held_out_noise_is_the_training_noise():
    noisy, clean = held_out_sample(noise=0.15), held_out_sample(noise=0.0)
    offsets = (noisy[["x1", "x2"]] - clean[["x1", "x2"]]).to_numpy().ravel()
    assert offsets.std() == pytest.approx(0.15, rel=0.1)  # 400 draws: standard error 3.5 %
    assert abs(offsets.mean()) < 3 * 0.15 / np.sqrt(400)


def test_held_out_refuses_the_training_seed():
    with pytest.raises(ValueError, match="equals the global seed"):
        make_held_out_moons(
            base(MoonsParams, "moons"), HeldOutParams(n_samples=10, seed=123), seed(123)
        )


# ---------------------------------------------------------------- the lesson's fits


def fit_instance(activation: str, value: int, moons: pd.DataFrame, held_out: pd.DataFrame):
    spec = build_classifier(
        base(ClassifierParams, "classifier"), InstanceParams(activation=activation), seed(value)
    )
    spec = json.loads(json.dumps(spec))  # what the JSON dataset gives back
    arrays, training = train_classifier(spec, moons, base(FitParams, "fit"))
    return spec, arrays, training, evaluate_classifier(spec, arrays, training, moons, held_out)


@pytest.mark.parametrize("value", [123, 7])
def test_training_accuracy_equals_the_lessons_code(value):
    """The pipeline's nodes against the lesson's loop, run independently, 1000 epochs."""
    moons = make_moons_dataset(base(MoonsParams, "moons"), seed(value))
    held_out = make_held_out_moons(
        base(MoonsParams, "moons"), base(HeldOutParams, "held_out"), seed(value)
    )
    x, y = lesson_moons(value)
    x_test, y_test = held_out[["x1", "x2"]].to_numpy(), held_out["y"].to_numpy()
    for activation in ("identity", "logistic", "tanh", "relu"):
        with threadpool_limits(limits=1, user_api="blas"), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = MLPClassifier(
                hidden_layer_sizes=(100, 100),
                activation=activation,
                max_iter=1000,
                random_state=value,
            )
            model.fit(x, y)
        _, _, training, metrics = fit_instance(activation, value, moons, held_out)
        assert metrics["train_accuracy"] == model.score(x, y), activation
        assert metrics["test_accuracy"] == model.score(x_test, y_test), activation
        assert metrics["n_iter"] == model.n_iter_
        assert metrics["final_loss"] == model.loss_
        assert metrics["converged"] is (model.n_iter_ < 1000)
        assert metrics["fit_seconds"] > 0
        assert training["activation"] == activation


def small_fit(activation: str = "relu"):
    moons = make_moons_dataset(MoonsParams(n_samples=40, noise=0.2, labels=(-1, 1)), seed(3))
    spec = build_classifier(
        ClassifierParams(hidden_layer_sizes=(8, 8), max_iter=30, tol=1e-4, n_iter_no_change=10),
        InstanceParams(activation=activation),
        seed(3),
    )
    arrays, training = train_classifier(spec, moons, FitParams(blas_threads=None))
    return moons, spec, arrays, training


def test_spec_is_the_lessons_estimator_and_survives_json():
    spec = build_classifier(
        base(ClassifierParams, "classifier"), InstanceParams(activation="tanh"), seed(123)
    )
    lesson = MLPClassifier(
        hidden_layer_sizes=(100, 100), activation="tanh", max_iter=1000, random_state=123
    ).get_params()
    assert json.loads(json.dumps(spec))["params"] == lesson | {"hidden_layer_sizes": [100, 100]}
    patient = ClassifierParams.model_validate(BASE["classifier"] | {"n_iter_no_change": 1000})
    spec = build_classifier(patient, InstanceParams(activation="tanh"), seed(123))
    assert spec["params"]["n_iter_no_change"] == 1000


def test_restored_classifier_predicts_exactly_like_the_fitted_one():
    moons, spec, arrays, training = small_fit("tanh")
    x, y = moons[["x1", "x2"]].to_numpy(), moons["y"].to_numpy()
    fitted = MLPClassifier(
        hidden_layer_sizes=(8, 8), activation="tanh", max_iter=30, random_state=3
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted.fit(x, y)
    restored = restore_classifier(json.loads(json.dumps(spec)), arrays)
    grid = np.random.default_rng(0).uniform(-2, 3, size=(500, 2))
    np.testing.assert_array_equal(restored.predict(grid), fitted.predict(grid))
    np.testing.assert_array_equal(restored.predict_proba(grid), fitted.predict_proba(grid))
    assert restored.loss_curve_ == fitted.loss_curve_
    assert training["converged"] is False and training["n_iter"] == 30
    assert all(array.dtype != object for array in arrays.values())


def test_collect_metrics_keys_by_activation_and_refuses_a_repeat():
    entry = {
        "train_accuracy": 1.0,
        "test_accuracy": 0.5,
        "n_iter": 3,
        "final_loss": 0.1,
        "converged": True,
        "fit_seconds": 0.2,
    }
    table = collect_metrics(a={"activation": "tanh", **entry}, b={"activation": "relu", **entry})
    assert list(table) == ["tanh", "relu"]
    assert table["tanh"] == entry
    with pytest.raises(ValueError, match="'a' and 'b' both fit 'tanh'"):
        collect_metrics(a={"activation": "tanh", **entry}, b={"activation": "tanh", **entry})


def test_plots_draw_one_panel_per_instance_and_one_loss_curve_each():
    fits = {name: small_fit(name) for name in ACTIVATIONS}
    moons = fits["relu"][0]
    held_out = moons
    models, metrics = {}, {}
    for name, (_, spec, arrays, training) in fits.items():
        models |= {f"{name}_spec": spec, f"{name}_arrays": arrays}
        metrics[f"{name}_metrics"] = evaluate_classifier(spec, arrays, training, moons, held_out)
    comparison = plot_comparison(moons, **models, **metrics)
    assert len(comparison.axes) == 4
    assert [ax.get_title().split(" - ")[0] for ax in comparison.axes] == [
        f"Activation: {name}" for name in ACTIVATIONS
    ]
    losses = plot_loss_curves(**models)
    assert [line.get_label() for line in losses.axes[0].get_lines()] == list(ACTIVATIONS)
    _, spec, arrays, _ = fits["relu"]
    single = plot_decision_regions(spec, arrays, moons, metrics["relu_metrics"])
    assert single.axes[0].get_title().startswith("Activation: relu - train accuracy")
    with pytest.raises(TypeError, match="Unexpected input 'relu_weights'"):
        plot_loss_curves(relu_weights=arrays)


# ---------------------------------------------------------------- parameters


def test_unknown_activation_error_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="relu6") as error:
        InstanceParams.model_validate({"activation": "relu6"})
    assert "'identity', 'logistic', 'tanh' or 'relu'" in str(error.value)
    with pytest.raises(ValueError, match="'identity', 'logistic', 'tanh' or 'relu'"):
        IllustrationParams.model_validate(BASE["illustration"] | {"activations": ["sigmoid"]})


@pytest.mark.parametrize(
    ("model", "key", "change", "message"),
    [
        (IllustrationParams, "illustration", {"activations": ["relu", "relu"]}, "must not repeat"),
        (IllustrationParams, "illustration", {"x_min": 3.0}, "x_min must be < x_max"),
        (MoonsParams, "moons", {"labels": [1, 1]}, "labels must differ"),
        (MoonsParams, "moons", {"noise": -0.1}, "greater than or equal to 0"),
        (ClassifierParams, "classifier", {"hidden_layer_sizes": []}, "at least 1 item"),
        (ClassifierParams, "classifier", {"max_iter": 0}, "greater than or equal to 1"),
        (ClassifierParams, "classifier", {"max_itr": 5}, "Extra inputs are not permitted"),
    ],
)
def test_bad_parameters_are_refused(model, key, change, message):
    with pytest.raises(ValueError, match=message):
        model.model_validate(BASE[key] | change)


def test_the_moons_plot_is_the_lessons_scatter_one_colour_per_class():
    from dnn_pipelines.pipelines.activations.nodes import plot_moons  # noqa: PLC0415

    x, y = make_moons(n_samples=40, noise=0.1, random_state=0)
    moons = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "y": y})
    figure = plot_moons(moons)
    [ax] = figure.axes
    clouds = ax.collections
    assert len(clouds) == 2
    for label, cloud in zip((0, 1), clouds, strict=True):
        np.testing.assert_array_equal(cloud.get_offsets(), x[y == label])
    assert ax.get_title() == "The training moons: 40 points"
