"""Unit tests of the dropout nodes: the lesson's draw, fit equivalence, MC dropout, metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from pydantic import ValidationError

from dnn_pipelines.pipelines.dropout import nodes
from dnn_pipelines.pipelines.dropout.params import (
    INSTANCES,
    DataParams,
    Instances,
    MonteCarloParams,
    NetworkParams,
    TrainingParams,
)
from dnn_pipelines.tensorflow_settings import TensorFlowSettingsError

SEED = 123
DATA = DataParams(n_points=64, limit=3.0, noise=1.0, eval_factor=10)
NETWORK = NetworkParams(hidden_units=100, activation="relu")
OPTIMIZER = {"learning_rate": 1e-3, "rho": 0.9, "epsilon": 1e-7}
RATES = {"rate_00": 0.0, "rate_20": 0.2, "rate_40": 0.4, "rate_60": 0.6, "rate_80": 0.8}


def training(
    epochs: int = 3,
    batch_size: int = 32,
    shuffle: bool = True,
    optimizer: dict[str, float] = OPTIMIZER,
) -> TrainingParams:
    return TrainingParams(
        epochs=epochs, batch_size=batch_size, shuffle=shuffle, optimizer=optimizer
    )


@pytest.fixture(scope="module")
def dataset() -> dict[str, np.ndarray]:
    return nodes.generate_dataset(DATA, SEED)


# ---------------------------------------------------------------- data


def test_dataset_is_the_lessons_draw_exactly(dataset):
    # The lesson's cell, verbatim, with its global seeding.
    np.random.seed(SEED)
    n_pat, lim, noise = 64, 3, 1e0
    x_orig = np.linspace(-lim, lim, n_pat)
    x_long = np.linspace(-lim, lim, 10 * n_pat)
    y = np.square(x_orig) + noise * np.random.randn(n_pat)

    np.testing.assert_array_equal(dataset["x"], x_orig)
    np.testing.assert_array_equal(dataset["x_eval"], x_long)
    np.testing.assert_array_equal(dataset["y"], y)
    assert dataset["x_eval"].shape == (640,)


def test_dataset_depends_on_the_seed_only(dataset):
    np.testing.assert_array_equal(nodes.generate_dataset(DATA, SEED)["y"], dataset["y"])
    assert not np.array_equal(nodes.generate_dataset(DATA, SEED + 1)["y"], dataset["y"])


def test_epoch_orders_are_one_fresh_permutation_per_epoch():
    orders = nodes.epoch_orders(64, training(epochs=50), SEED)
    assert orders.shape == (50, 64)
    np.testing.assert_array_equal(np.sort(orders, axis=1), np.tile(np.arange(64), (50, 1)))
    assert len({row.tobytes() for row in orders}) == 50  # reshuffled every epoch
    np.testing.assert_array_equal(orders, nodes.epoch_orders(64, training(epochs=50), SEED))
    unshuffled = nodes.epoch_orders(64, training(epochs=2, shuffle=False), SEED)
    np.testing.assert_array_equal(unshuffled, np.tile(np.arange(64), (2, 1)))


# ---------------------------------------------------------------- Keras


def test_model_is_the_lessons_network():
    model = nodes.build_model(0.4, NETWORK, training(), SEED)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "Dense", "Dropout", "Dense", "Dense"]
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [100, 100, 1]
    assert model.layers[2].rate == 0.4
    assert model.count_params() == 2 * 100 + 101 * 100 + 101
    assert type(model.optimizer).__name__ == "RMSprop"
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)
    assert type(model.loss).__name__ == "MeanSquaredError"
    assert model.name == "dropout_0.4"


def test_the_optimizer_takes_every_setting_of_the_parameters():
    """Values that differ from RMSprop's defaults (1e-3, 0.9, 1e-7), so a dropped one shows."""
    settings = training(optimizer={"learning_rate": 0.02, "rho": 0.75, "epsilon": 1e-4})
    config = nodes.build_model(0.2, NETWORK, settings, SEED).optimizer.get_config()
    assert (config["learning_rate"], config["rho"], config["epsilon"]) == pytest.approx(
        (0.02, 0.75, 1e-4)
    )


@pytest.mark.parametrize(
    ("batch_size", "remainder", "replicas", "last"),
    [(6, 0, 4, 6), (4, 2, 4, 2), (3, 1, 2, 1)],
)
def test_batches_that_do_not_split_over_the_replicas_are_refused(
    batch_size, remainder, replicas, last
):
    with pytest.raises(TensorFlowSettingsError) as raised:
        nodes._check_split(batch_size, remainder, replicas)
    assert str(raised.value) == (
        f"dropout.training.batch_size = {batch_size} (last batch {last}) cannot be split "
        f"evenly over the {replicas} devices of tensorflow.distribute; choose a batch size "
        f"and n_points whose batches are multiples of {replicas}, or set "
        "tensorflow.distribute.strategy: none."
    )


@pytest.mark.parametrize(("batch_size", "remainder", "replicas"), [(8, 0, 4), (8, 4, 4), (5, 3, 1)])
def test_batches_that_split_over_the_replicas_pass(batch_size, remainder, replicas):
    nodes._check_split(batch_size, remainder, replicas)


def test_same_seed_same_initial_weights_for_every_rate():
    a = nodes.build_model(0.0, NETWORK, training(), SEED)
    b = nodes.build_model(0.8, NETWORK, training(), SEED)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


@pytest.mark.parametrize(("rate", "batch_size"), [(0.0, 32), (0.5, 32), (0.5, 24)])
def test_compiled_training_is_step_for_step_keras_fit(dataset, rate, batch_size):
    """Same initial weights, same batch order: the compiled loop gives fit's exact numbers.

    Only the shuffle is left out (fit draws its own permutations); 24 does not divide 64, so
    the last batch of each epoch is smaller, as in fit; with rate 0.5 the dropout masks match.
    """
    params = training(epochs=3, batch_size=batch_size, shuffle=False)
    reference = nodes.build_model(rate, NETWORK, params, SEED)
    history = reference.fit(
        dataset["x"].reshape(-1, 1),
        dataset["y"],
        epochs=3,
        batch_size=batch_size,
        shuffle=False,
        verbose=0,
    ).history["loss"]

    model, losses = nodes.train_model(
        nodes.build_model(rate, NETWORK, params, SEED), dataset, params, SEED
    )

    np.testing.assert_allclose(losses["loss"], history, rtol=1e-6)
    assert list(losses["epoch"]) == [1, 2, 3]
    assert int(model.optimizer.iterations.numpy()) == int(reference.optimizer.iterations.numpy())
    for ours, theirs in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-7)


def test_training_lowers_the_loss_and_is_reproducible(dataset):
    params = training(epochs=40)
    _, first = nodes.train_model(
        nodes.build_model(0.2, NETWORK, params, SEED), dataset, params, SEED
    )
    _, again = nodes.train_model(
        nodes.build_model(0.2, NETWORK, params, SEED), dataset, params, SEED
    )
    assert first["loss"].iloc[-5:].mean() < 0.5 * first["loss"].iloc[:5].mean()
    pd.testing.assert_frame_equal(first, again)


def test_predict_and_mc_dropout(dataset):
    params = training(epochs=5)
    monte_carlo = MonteCarloParams(passes=20, band_std=2.0)
    plain = nodes.build_model(0.0, NETWORK, params, SEED)
    dropped = nodes.build_model(0.5, NETWORK, params, SEED)

    prediction = nodes.predict(dropped, dataset)
    w1, b1, w2, b2, w3, b3 = dropped.get_weights()

    def forward(x: np.ndarray) -> np.ndarray:
        """The network in NumPy, dropout off (inference): what `predict` must return."""
        hidden = np.maximum(np.maximum(x[:, None] @ w1 + b1, 0) @ w2 + b2, 0)
        return (hidden @ w3 + b3)[:, 0]

    for key, x in (("eval", dataset["x_eval"]), ("observed", dataset["x"])):
        assert prediction[key].dtype == np.float64
        np.testing.assert_allclose(prediction[key], forward(x.astype(np.float32)), rtol=1e-5)

    mc_plain = nodes.mc_dropout_predict(plain, dataset, monte_carlo, SEED)
    np.testing.assert_allclose(mc_plain["mean"], nodes.predict(plain, dataset)["eval"], rtol=1e-6)
    np.testing.assert_array_equal(mc_plain["std"], np.zeros(640))

    mc = nodes.mc_dropout_predict(dropped, dataset, monte_carlo, SEED)
    assert mc["mean"].shape == mc["std"].shape == (640,)
    assert np.all(mc["std"][np.abs(dataset["x_eval"]) > 0.5] > 0)
    again = nodes.mc_dropout_predict(dropped, dataset, monte_carlo, SEED)  # reseeded: same draw
    np.testing.assert_array_equal(mc["mean"], again["mean"])
    np.testing.assert_array_equal(mc["std"], again["std"])


class PassNumberModel:
    """A stand-in network: in training mode, row r of a call returns x * (1 + pass number),
    the pass number being r // len(x_eval) (the grid repeated once per pass)."""

    def __init__(self, n_eval: int) -> None:
        self.n_eval = n_eval
        self.layers: list = []

    def __call__(self, x: np.ndarray, training: bool) -> np.ndarray:
        passes = np.arange(len(x))[:, None] // self.n_eval
        return x * (1 + passes) if training else x


def test_mc_spread_is_the_sample_std_over_passes():
    """x = 1 gives passes [1, 2, 3]: mean 2, std 1 (n - 1 = 2: (1 + 0 + 1) / 2 = 1);
    x = -2 gives [-2, -4, -6]: mean -4, std 2."""
    dataset = {"x_eval": np.array([1.0, -2.0])}
    mc = nodes.mc_dropout_predict(
        PassNumberModel(2), dataset, MonteCarloParams(passes=3, band_std=2.0), SEED
    )
    np.testing.assert_allclose(mc["mean"], [2.0, -4.0], rtol=1e-12)
    np.testing.assert_allclose(mc["std"], [1.0, 2.0], rtol=1e-12)


def test_mc_spread_of_one_dropout_unit_follows_its_kept_count():
    """Input -> Dropout(0.5) -> Dense(1, weight 1): a pass gives 0 or 2x (kept, scaled by 2).

    With k of n passes kept, mean = 2x k / n and the sample std is 2|x| sqrt(k (n - k) /
    (n (n - 1))), k read back from the mean.
    """
    import keras  # noqa: PLC0415

    inputs = keras.Input(shape=(1,))
    dense = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")
    model = keras.Model(inputs, dense(keras.layers.Dropout(0.5, seed=1)(inputs)))
    x = np.array([1.0, -3.0, 0.5])
    n = 40
    mc = nodes.mc_dropout_predict(
        model, {"x_eval": x}, MonteCarloParams(passes=n, band_std=2.0), SEED
    )
    kept = mc["mean"] * n / (2 * x)
    np.testing.assert_allclose(kept, np.round(kept), atol=1e-4)
    assert np.all((kept > 0) & (kept < n))  # both outcomes drawn: the spread is not 0
    expected = 2 * np.abs(x) * np.sqrt(kept * (n - kept) / (n * (n - 1)))
    np.testing.assert_allclose(mc["std"], expected, rtol=1e-5)


# ---------------------------------------------------------------- metrics, tables, figures


def test_evaluate_computes_the_documented_numbers():
    x_eval = np.array([-1.0, 0.0, 1.0, 2.0])
    dataset = {"x": np.array([0.0, 1.0]), "y": np.array([0.5, 1.0]), "x_eval": x_eval}
    predictions = {"observed": np.array([0.0, 2.0]), "eval": np.array([1.0, 1.0, 1.0, 4.0])}
    mc = {"mean": np.array([1.0, 0.5, 1.0, 3.0]), "std": np.array([0.0, 0.1, 0.2, 0.25])}
    history = pd.DataFrame({"epoch": [1, 2, 3], "loss": [3.0, 1.0, 2.0]})

    metrics = nodes.evaluate(
        0.4, MonteCarloParams(passes=2, band_std=2.0), dataset, predictions, mc, history
    )

    assert metrics == pytest.approx(
        {
            "rate": 0.4,
            "train_mse": (0.25 + 1.0) / 2,
            "noise_mse": (0.25 + 0.0) / 2,  # x**2 = [0, 1] against y = [0.5, 1]
            "true_mse": 1.0 / 4,
            "final_loss": 2.0,
            "min_loss": 1.0,
            "mc_band_width": 4 * (0.0 + 0.1 + 0.2 + 0.25) / 4,
            "mc_true_mse": (0.25 + 1.0) / 4,
            "mc_true_coverage": 2 / 4,  # |1 - 1| <= 0 and |1 - 1| <= 0.4; 0.5 > 0.2 and 1 > 0.5
        }
    )


def test_summaries_are_ordered_and_keyed_by_rate(dataset):
    instances = Instances(
        **{"rate_00": 0.6, "rate_20": 0.0, "rate_40": 0.2, "rate_60": 0.4, "rate_80": 0.8}
    )
    metrics = {name: {"rate": rate} for name, rate in instances.rates().items()}
    collected = nodes.collect_metrics(instances, **metrics)
    assert list(collected) == ["0.0", "0.2", "0.4", "0.6", "0.8"]
    assert collected["0.6"] == {"instance": "rate_00", "rate": 0.6}

    predictions = {name: {"eval": np.full(640, rate)} for name, rate in instances.rates().items()}
    table = nodes.tabulate_predictions(instances, dataset, **predictions)
    assert list(table.columns) == ["x", "x_squared", "0.0", "0.2", "0.4", "0.6", "0.8"]
    assert table.shape == (640, 7)
    assert (table["0.6"] == 0.6).all()
    np.testing.assert_array_equal(table["x_squared"], dataset["x_eval"] ** 2)

    figure = nodes.plot_predictions(instances, dataset, table)
    assert isinstance(figure, Figure)
    lines = figure.axes[0].get_lines()
    labels = [line.get_label() for line in lines]
    assert labels == [*(f"Dropout {p}%" for p in (0, 20, 40, 60, 80)), "Observed"]
    for line, rate in zip(lines, (0.0, 0.2, 0.4, 0.6, 0.8), strict=False):
        np.testing.assert_array_equal(line.get_xdata(), dataset["x_eval"])
        np.testing.assert_array_equal(line.get_ydata(), np.full(640, rate))


def test_observed_figure_is_the_noisy_parabola(dataset):
    [ax] = nodes.plot_observed(dataset).axes
    assert ax.get_title() == "Noisy parabola: $y = x^2 + \\varepsilon$"
    [points] = ax.get_lines()
    np.testing.assert_array_equal(points.get_xdata(), dataset["x"])
    np.testing.assert_array_equal(points.get_ydata(), dataset["y"])


def test_mc_figure_draws_each_positive_rates_band_mean_truth_and_data(dataset):
    x = dataset["x_eval"]
    # each instance's mean is offset by its index, so a panel showing another's is seen
    mc = {
        name: {"mean": x**2 + index, "std": np.linspace(0.5, 1.5, x.size)}
        for index, name in enumerate(INSTANCES)
    }
    figure = nodes.plot_mc_bands(
        Instances(**RATES), MonteCarloParams(passes=5, band_std=2.0), dataset, **mc
    )
    assert [ax.get_title() for ax in figure.axes] == [
        f"Dropout {p}% (5 passes)" for p in (20, 40, 60, 80)
    ]
    for ax, name in zip(figure.axes, ["rate_20", "rate_40", "rate_60", "rate_80"], strict=True):
        mean, std = mc[name]["mean"], mc[name]["std"]
        [band] = ax.collections
        # the polygon: a start point, the low edge forwards, a corner, the high edge back
        edge = band.get_paths()[0].vertices[:, 1]
        np.testing.assert_allclose(edge[1 : x.size + 1], mean - 2.0 * std)
        np.testing.assert_allclose(edge[x.size + 2 : 2 * x.size + 2], (mean + 2.0 * std)[::-1])
        lines = {line.get_label(): line for line in ax.get_lines()}
        for label, y in (("MC mean", mean), ("$x^2$", x**2), ("Observed", dataset["y"])):
            np.testing.assert_array_equal(lines[label].get_ydata(), y)
        np.testing.assert_array_equal(lines["MC mean"].get_xdata(), x)
        np.testing.assert_array_equal(lines["$x^2$"].get_xdata(), x)
        assert lines["$x^2$"].get_linestyle() == "--"
    legend = figure.axes[0].get_legend()
    assert [text.get_text() for text in legend.get_texts()] == [
        "mean ± 2 std",
        "MC mean",
        "$x^2$",
        "Observed",
    ]
    assert all(ax.get_legend() is None for ax in figure.axes[1:])


def test_loss_figure_has_one_line_per_rate_on_a_log_scale():
    histories = {
        name: pd.DataFrame({"epoch": [1, 2], "loss": [2.0 + index, 1.0 + index]})
        for index, name in enumerate(INSTANCES)
    }
    [ax] = nodes.plot_losses(Instances(**RATES), **histories).axes
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_yscale()) == (
        "epoch",
        "training loss (MSE)",
        "log",
    )
    labels = [f"Dropout {p}%" for p in (0, 20, 40, 60, 80)]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == labels
    for line, name in zip(ax.get_lines(), INSTANCES, strict=True):
        np.testing.assert_array_equal(line.get_xdata(), [1, 2])
        np.testing.assert_array_equal(line.get_ydata(), histories[name]["loss"])
    # a log scale is read by its grid: major and minor lines, both axes
    ticks = ax.xaxis.get_major_ticks() + ax.yaxis.get_major_ticks() + ax.yaxis.get_minor_ticks()
    assert all(tick.gridline.get_visible() for tick in ticks)


# ---------------------------------------------------------------- parameters


@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1])
def test_a_rate_outside_zero_one_is_refused_naming_the_instance(bad):
    with pytest.raises(ValidationError, match="rate_40"):
        Instances(**{**RATES, "rate_40": bad})


def test_instances_must_be_exactly_the_pipelines_and_distinct():
    with pytest.raises(ValidationError, match="rate_90"):
        Instances(**{**RATES, "rate_90": 0.9})
    with pytest.raises(ValidationError, match="rate_80"):
        Instances(**{k: v for k, v in RATES.items() if k != "rate_80"})
    with pytest.raises(ValidationError, match="distinct"):
        Instances(**{**RATES, "rate_80": 0.2})
    assert tuple(Instances(**RATES).rates()) == INSTANCES
