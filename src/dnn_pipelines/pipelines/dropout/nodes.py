"""The lesson's "Dropout" section: five networks on a noisy parabola, and Monte-Carlo dropout.

Training keeps `model.fit`'s semantics (epochs, batch size, a fresh shuffle every epoch,
RMSprop, MSE, the epoch loss averaged over the batches) but runs the whole training as ONE
compiled TensorFlow graph: `model.fit` pays Python and callback overhead on each of its
2 000 steps of a 10k-parameter network, which is almost all of the lesson's run time.

`keras` and `tensorflow` are imported inside the functions that need them
(`# noqa: PLC0415`): `pipeline_registry` imports every pipeline module on every run, and
runs without a TensorFlow node must not pay for importing TensorFlow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.dropout.params import (
    DataParams,
    Instances,
    MonteCarloParams,
    NetworkParams,
    TrainingParams,
)
from dnn_pipelines.plotting import new_figure, plot_dataset
from dnn_pipelines.tensorflow_settings import TensorFlowSettingsError

LOSS_COLUMNS = ("epoch", "loss")


def rate_key(rate: float) -> str:
    """How a rate names its entry in the metrics JSON and its column in the table ("0.2")."""
    return repr(float(rate))


def rate_label(rate: float) -> str:
    """The lesson's legend: "Dropout 20%"."""
    return f"Dropout {100 * rate:.0f}%"


# ---------------------------------------------------------------- data


def generate_dataset(data: DataParams, seed: Seed) -> dict[str, np.ndarray]:
    """The lesson's draw: `np.random.seed(seed); y = x**2 + noise * np.random.randn(n)`.

    A `RandomState(seed)` gives exactly the numbers of the lesson's global seeding.
    """
    rng = np.random.RandomState(int(seed))
    x = np.linspace(-data.limit, data.limit, data.n_points)
    x_eval = np.linspace(-data.limit, data.limit, data.eval_factor * data.n_points)
    y = np.square(x) + data.noise * rng.randn(data.n_points)
    return {"x": x, "y": y, "x_eval": x_eval}


def plot_observed(dataset: dict[str, np.ndarray]) -> Figure:
    """The lesson's `plot_dataset(x_orig, y)`."""
    figure = plot_dataset(dataset["x"], dataset["y"])
    figure.axes[0].set_title("Noisy parabola: $y = x^2 + \\varepsilon$")
    return figure


# ---------------------------------------------------------------- one instance


def build_model(rate: float, network: NetworkParams, training: TrainingParams, seed: Seed) -> Any:
    """The lesson's network, compiled as the lesson compiles it (MSE, Keras' RMSprop).

    Every instance starts from the same initial weights (same seed), so the rate is the only
    difference between them. The Dropout layer carries its own seed, so a reloaded model
    draws the same masks; the optimizer is built now so its state is saved with the model.
    """
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(int(seed))
    inputs = keras.Input(shape=(1,))
    hidden = keras.layers.Dense(network.hidden_units, activation=network.activation)(inputs)
    hidden = keras.layers.Dropout(rate, seed=int(seed))(hidden)
    hidden = keras.layers.Dense(network.hidden_units, activation=network.activation)(hidden)
    outputs = keras.layers.Dense(1)(hidden)
    model = keras.Model(inputs, outputs, name=f"dropout_{rate_key(rate)}")
    optimizer = keras.optimizers.RMSprop(
        learning_rate=training.optimizer.learning_rate,
        rho=training.optimizer.rho,
        epsilon=training.optimizer.epsilon,
    )
    model.compile(optimizer=optimizer, loss=keras.losses.MeanSquaredError())
    optimizer.build(model.trainable_variables)
    return model


def epoch_orders(n_points: int, training: TrainingParams, seed: Seed) -> np.ndarray:
    """The order the points are visited in, one row per epoch (`fit(shuffle=True)` reshuffles)."""
    orders = np.tile(np.arange(n_points, dtype=np.int32), (training.epochs, 1))
    if training.shuffle:
        orders = np.random.default_rng(int(seed)).permuted(orders, axis=1)
    return orders


def train_model(
    model: Any, dataset: dict[str, np.ndarray], training: TrainingParams, seed: Seed
) -> tuple[Any, pd.DataFrame]:
    """`model.fit(x, y, epochs, batch_size, shuffle)`, as one compiled graph; the loss per epoch.

    Each step is Keras' own `train_step`: forward with dropout on, the compiled loss,
    gradients, `optimizer.apply_gradients`. The epoch loss is, as in `fit`, the mean of the
    step losses weighted by batch size.
    """
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(int(seed))
    x = dataset["x"].reshape(-1, 1).astype(np.float32)
    y = dataset["y"].astype(np.float32)
    orders = epoch_orders(len(y), training, seed)
    losses = _fit_compiled(model, x, y, orders, training.batch_size)
    history = pd.DataFrame({"epoch": np.arange(1, training.epochs + 1), "loss": losses})
    return model, history


def _fit_compiled(
    model: Any, x: np.ndarray, y: np.ndarray, orders: np.ndarray, batch_size: int
) -> np.ndarray:
    """Run every epoch inside one `tf.function`: a while loop over epochs and batches.

    The last batch of an epoch is smaller when `batch_size` does not divide the data,
    exactly as in `fit`.
    """
    import tensorflow as tf  # noqa: PLC0415

    n_points = len(y)
    n_full, remainder = divmod(n_points, batch_size)
    weights = model.trainable_variables
    optimizer = model.optimizer
    x_all, y_all = tf.constant(x), tf.constant(y)
    orders_all = tf.constant(orders)
    epochs = int(orders.shape[0])

    strategy = tf.distribute.get_strategy()  # the run's `distribute` setting (tensorflow.yml)
    replicas = strategy.num_replicas_in_sync
    _check_split(batch_size, remainder, replicas)

    def replica_step(x_batch: Any, y_batch: Any) -> Any:
        # Each replica takes its share of the global batch; Keras scales the loss by
        # 1/replicas and the optimizer sums the gradients, so a step is the global mean.
        share = tf.shape(y_batch)[0] // replicas
        start = tf.distribute.get_replica_context().replica_id_in_sync_group * share
        x_batch, y_batch = x_batch[start : start + share], y_batch[start : start + share]
        with tf.GradientTape() as tape:
            y_pred = model(x_batch, training=True)
            loss = model.compute_loss(x=x_batch, y=y_batch, y_pred=y_pred, training=True)
            scaled = optimizer.scale_loss(loss)
        optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights, strict=True))
        return loss

    def step(x_batch: Any, y_batch: Any) -> Any:
        losses = strategy.run(replica_step, args=(x_batch, y_batch))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, losses, axis=None)

    def epoch(index: Any, history: Any) -> tuple[Any, Any]:
        order = orders_all[index]
        x_epoch, y_epoch = tf.gather(x_all, order), tf.gather(y_all, order)

        def batch(number: Any, total: Any) -> tuple[Any, Any]:
            start = number * batch_size
            x_batch = tf.slice(x_epoch, [start, 0], [batch_size, 1])
            y_batch = tf.slice(y_epoch, [start], [batch_size])
            return number + 1, total + step(x_batch, y_batch) * batch_size

        _, total = tf.while_loop(
            lambda number, _total: number < n_full, batch, (tf.constant(0), tf.constant(0.0))
        )
        if remainder:
            start = n_full * batch_size
            total += step(x_epoch[start:], y_epoch[start:]) * remainder
        return index + 1, history.write(index, total / n_points)

    @tf.function(autograph=False)
    def fit() -> Any:
        history = tf.TensorArray(tf.float32, size=epochs)
        _, history = tf.while_loop(
            lambda index, _history: index < epochs, epoch, (tf.constant(0), history)
        )
        return history.stack()

    return fit().numpy().astype(np.float64)


def _check_split(batch_size: int, remainder: int, replicas: int) -> None:
    """Every replica must get an equal share of each batch, or the step is not the mean."""
    if batch_size % replicas or remainder % replicas:
        raise TensorFlowSettingsError(
            f"dropout.training.batch_size = {batch_size} (last batch {remainder or batch_size}) "
            f"cannot be split evenly over the {replicas} devices of tensorflow.distribute; "
            f"choose a batch size and n_points whose batches are multiples of {replicas}, "
            "or set tensorflow.distribute.strategy: none."
        )


def predict(model: Any, dataset: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The lesson's `model.predict` (dropout off) on the evaluation grid and the observed x."""
    x_eval = dataset["x_eval"].reshape(-1, 1).astype(np.float32)
    x = dataset["x"].reshape(-1, 1).astype(np.float32)
    return {
        "eval": np.asarray(model(x_eval, training=False), dtype=np.float64)[:, 0],
        "observed": np.asarray(model(x, training=False), dtype=np.float64)[:, 0],
    }


def mc_dropout_predict(
    model: Any, dataset: dict[str, np.ndarray], monte_carlo: MonteCarloParams, seed: Seed
) -> dict[str, np.ndarray]:
    """Monte-Carlo dropout: `passes` forward passes with dropout ON; their mean and std.

    All passes run as one batch (the grid repeated `passes` times): every row draws its own
    mask, so the rows of one call are independent passes. The Dropout layers are reseeded
    from `seed`, so the draw does not depend on what ran before. With rate 0 every pass is
    the deterministic prediction and the std is 0.
    """
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(int(seed))
    for layer in model.layers:
        generator = getattr(layer, "seed_generator", None)  # Dropout has one when rate > 0
        if isinstance(layer, keras.layers.Dropout) and generator is not None:
            generator.state.assign(np.array([int(seed), 0]))
    x_eval = dataset["x_eval"].astype(np.float32)
    repeated = np.tile(x_eval, monte_carlo.passes).reshape(-1, 1)
    samples = np.asarray(model(repeated, training=True), dtype=np.float64)
    samples = samples.reshape(monte_carlo.passes, len(x_eval))
    return {"mean": samples.mean(axis=0), "std": samples.std(axis=0, ddof=1)}


def evaluate(
    rate: float,
    monte_carlo: MonteCarloParams,
    dataset: dict[str, np.ndarray],
    predictions: dict[str, np.ndarray],
    mc_predictions: dict[str, np.ndarray],
    loss_history: pd.DataFrame,
) -> dict[str, float]:
    """The numbers that answer the lesson: fit to the noisy points vs to the true curve.

    `noise_mse` is the train MSE of the true curve x**2 itself: a `train_mse` below it means
    the network has learnt part of the noise (over-fitting); `true_mse` (against the
    noiseless x**2 on the grid) is what generalises.
    """
    truth = np.square(dataset["x_eval"])
    mean, std = mc_predictions["mean"], mc_predictions["std"]
    half_width = monte_carlo.band_std * std
    return {
        "rate": float(rate),
        "train_mse": float(np.mean(np.square(predictions["observed"] - dataset["y"]))),
        "noise_mse": float(np.mean(np.square(np.square(dataset["x"]) - dataset["y"]))),
        "true_mse": float(np.mean(np.square(predictions["eval"] - truth))),
        "final_loss": float(loss_history["loss"].iloc[-1]),
        "min_loss": float(loss_history["loss"].min()),
        "mc_band_width": float(np.mean(2 * half_width)),
        "mc_true_mse": float(np.mean(np.square(mean - truth))),
        "mc_true_coverage": float(np.mean(np.abs(mean - truth) <= half_width)),
    }


# ---------------------------------------------------------------- across instances


def _by_rate(instances: Instances, per_instance: dict[str, Any]) -> list[tuple[float, str, Any]]:
    """Instance outputs `{name: value}` as `(rate, name, value)`, in increasing rate."""
    rates = instances.rates()
    return sorted(
        ((rates[name], name, value) for name, value in per_instance.items()),
        key=lambda item: item[0],
    )


def collect_metrics(instances: Instances, **metrics: dict[str, float]) -> dict[str, Any]:
    """`dropout_metrics`: one entry per rate ("0.2": {...}), in increasing rate."""
    return {
        rate_key(rate): {"instance": name, **values}
        for rate, name, values in _by_rate(instances, metrics)
    }


def tabulate_predictions(
    instances: Instances, dataset: dict[str, np.ndarray], **predictions: dict[str, np.ndarray]
) -> pd.DataFrame:
    """The predictions of every network on the evaluation grid, one column per rate."""
    table = pd.DataFrame({"x": dataset["x_eval"], "x_squared": np.square(dataset["x_eval"])})
    for rate, _name, prediction in _by_rate(instances, predictions):
        table[rate_key(rate)] = prediction["eval"]
    return table


def plot_predictions(
    instances: Instances, dataset: dict[str, np.ndarray], predictions_table: pd.DataFrame
) -> Figure:
    """The lesson's figure: each network's prediction over the grid, then the observed points."""
    figure, axes = new_figure()
    ax = axes[0, 0]
    for rate, _name, _params in _by_rate(instances, instances.rates()):
        ax.plot(predictions_table["x"], predictions_table[rate_key(rate)], label=rate_label(rate))
    plot_dataset(dataset["x"], dataset["y"], ax=ax)
    ax.legend()
    return figure


def plot_losses(instances: Instances, **histories: pd.DataFrame) -> Figure:
    """Training loss (dropout on, as `fit` reports it) per epoch, one line per rate, log scale."""
    figure, axes = new_figure()
    ax = axes[0, 0]
    for rate, _name, history in _by_rate(instances, histories):
        ax.plot(history["epoch"], history["loss"], label=rate_label(rate), linewidth=1)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (MSE)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    return figure


def plot_mc_bands(
    instances: Instances,
    monte_carlo: MonteCarloParams,
    dataset: dict[str, np.ndarray],
    **mc_predictions: dict[str, np.ndarray],
) -> Figure:
    """Monte-Carlo dropout: predictive mean +- band_std std per rate > 0, truth and data."""
    stochastic = [(r, p) for r, _name, p in _by_rate(instances, mc_predictions) if r > 0]
    n_panels = len(stochastic)  # Instances holds five distinct rates: at most one is 0
    figure, axes = new_figure(1, n_panels, size=(4 * n_panels, 4.5))
    x_eval = dataset["x_eval"]
    for ax, (rate, mc) in zip(axes[0], stochastic, strict=True):
        low = mc["mean"] - monte_carlo.band_std * mc["std"]
        high = mc["mean"] + monte_carlo.band_std * mc["std"]
        ax.fill_between(x_eval, low, high, alpha=0.3, label=f"mean ± {monte_carlo.band_std:g} std")
        ax.plot(x_eval, mc["mean"], label="MC mean")
        ax.plot(x_eval, np.square(x_eval), "--", color="grey", label="$x^2$")
        plot_dataset(dataset["x"], dataset["y"], ax=ax)
        ax.set_title(f"{rate_label(rate)} ({monte_carlo.passes} passes)")
    axes[0, 0].legend(loc="upper center")
    figure.get_layout_engine().set(w_pad=0.02)
    return figure
