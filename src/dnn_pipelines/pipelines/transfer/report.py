"""Transfer reporting: the metrics that answer the lesson's questions, and the figures."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix

from dnn_pipelines.plotting import new_figure


def _last(history: pd.DataFrame) -> dict[str, float]:
    row = history.iloc[-1]
    return {
        "val_accuracy": float(row["val_accuracy"]),
        "val_loss": float(row["val_loss"]),
        "train_accuracy": float(row["accuracy"]),
        "train_loss": float(row["loss"]),
        "epochs": len(history),
    }


def summarize_transfer(
    frozen_history: pd.DataFrame,
    fine_tuned_history: pd.DataFrame,
    param_counts: dict[str, int],
    base_weights: dict[str, Any],
    split: dict[str, np.ndarray],
) -> dict[str, Any]:
    """`transfer_metrics`: the numbers that answer the lesson's questions.

    "What percentage of the parameters will be modified?" (trainable_fraction_frozen),
    "how does the model perform?" (frozen, fine_tuned) and "did the fine tuning improve
    the results?" (fine_tuning_gain).
    """
    frozen = _last(frozen_history)
    fine_tuned = _last(fine_tuned_history)
    return {
        "frozen": frozen,
        "fine_tuned": fine_tuned,
        "fine_tuning_gain": fine_tuned["val_accuracy"] - frozen["val_accuracy"],
        "total_params": param_counts["total_params"],
        "trainable_params_frozen": param_counts["trainable_params_frozen"],
        "trainable_params_fine_tuned": param_counts["trainable_params_fine_tuned"],
        "trainable_fraction_frozen": (
            param_counts["trainable_params_frozen"] / param_counts["total_params"]
        ),
        "base_weights": base_weights,
        "classes": split["classes"].tolist(),
        "n_train": len(split["y_train"]),
        "n_val": len(split["y_val"]),
    }


def summarize_from_scratch(
    fine_tuned_history: pd.DataFrame,
    scratch_frozen_history: pd.DataFrame,
    scratch_fine_tuned_history: pd.DataFrame,
    bn_recomputed_history: pd.DataFrame,
    end_to_end_history: pd.DataFrame,
) -> dict[str, Any]:
    """`transfer_from_scratch_metrics`: beyond the lesson, "did transfer help?"

    Each gain is the pretrained model's final validation accuracy minus a baseline's, all
    of the same architecture from random weights with the same budget of epochs:
    `from_scratch` (a random frozen base, the lesson's two phases), `bn_recomputed` (the
    same, its BatchNorm statistics taken from the target images) and `end_to_end` (every
    layer trained from the start). `transfer_gain` is against the strongest of them.
    """
    fine_tuned = _last(fine_tuned_history)
    baselines = {
        "from_scratch": _last(scratch_fine_tuned_history),
        "bn_recomputed": _last(bn_recomputed_history),
        "end_to_end": _last(end_to_end_history),
    }
    strongest = max(baselines, key=lambda name: baselines[name]["val_accuracy"])
    return {
        "fine_tuned": fine_tuned,
        **baselines,
        "from_scratch_frozen": _last(scratch_frozen_history),
        "gains": {
            name: fine_tuned["val_accuracy"] - values["val_accuracy"]
            for name, values in baselines.items()
        },
        "strongest_baseline": strongest,
        "transfer_gain": fine_tuned["val_accuracy"] - baselines[strongest]["val_accuracy"],
    }


def _curve(history: pd.DataFrame, offset: int) -> np.ndarray:
    return history["epoch"].to_numpy() + offset


def plot_learning_curves(
    frozen_history: pd.DataFrame,
    fine_tuned_history: pd.DataFrame,
    scratch_frozen_history: pd.DataFrame | None = None,
    scratch_fine_tuned_history: pd.DataFrame | None = None,
    bn_recomputed_frozen_history: pd.DataFrame | None = None,
    bn_recomputed_fine_tuned_history: pd.DataFrame | None = None,
    end_to_end_history: pd.DataFrame | None = None,
) -> Figure:
    """Accuracy and loss over both phases; with the baselines' histories, every run.

    A two-phase run's fine tuning continues its epochs; the end-to-end baseline trains over
    the same epochs in one phase.
    """
    figure, axes = new_figure(1, 2)
    boundary = len(frozen_history)
    runs = [("pretrained", "tab:blue", _both_phases(frozen_history, fine_tuned_history))]
    for label, colour, first, second in (
        ("from scratch", "tab:orange", scratch_frozen_history, scratch_fine_tuned_history),
        (
            "BatchNorm recomputed",
            "tab:green",
            bn_recomputed_frozen_history,
            bn_recomputed_fine_tuned_history,
        ),
    ):
        if first is not None and second is not None:
            runs.append((label, colour, _both_phases(first, second)))
    if end_to_end_history is not None:
        runs.append(("end to end", "tab:red", end_to_end_history))
    for ax, metric in zip(axes[0], ("accuracy", "loss"), strict=True):
        for label, colour, history in runs:
            ax.plot(history["epoch"], history[metric], "--", color=colour, label=f"{label}, train")
            ax.plot(
                history["epoch"],
                history[f"val_{metric}"],
                "-o",
                color=colour,
                label=f"{label}, validation",
            )
        ax.axvline(boundary + 0.5, color="grey", linestyle=":")
        ax.annotate("fine tuning →", (boundary + 0.55, 0.02), xycoords=("data", "axes fraction"))
        ax.set_xlabel("epoch (phase 1: base frozen; after the dotted line, phase 2: fine tuning)")
        ax.set_ylabel(metric)
        ax.grid(True)
        ax.legend(fontsize="small")
    axes[0, 0].set_title("Accuracy")
    axes[0, 1].set_title("Loss")
    return figure


def _both_phases(first: pd.DataFrame, second: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([first, second.assign(epoch=_curve(second, len(first)))])


def plot_confusion_matrices(
    frozen_predictions: dict[str, np.ndarray],
    fine_tuned_predictions: dict[str, np.ndarray],
    split: dict[str, np.ndarray],
) -> Figure:
    """Validation confusion matrices after phase 1 and after fine tuning (rows: true digit)."""
    classes = split["classes"]
    figure, axes = new_figure(1, 2, size=(12, 5.5))
    labels = np.arange(len(classes))
    panels = (("frozen base", frozen_predictions), ("fine-tuned", fine_tuned_predictions))
    for ax, (title, predictions) in zip(axes[0], panels, strict=True):
        predicted = np.argmax(predictions["outputs"], axis=1)
        matrix = confusion_matrix(predictions["y_true"], predicted, labels=labels)
        ax.imshow(matrix, cmap="Blues")
        for (row, col), count in np.ndenumerate(matrix):
            colour = "white" if count > matrix.max() / 2 else "black"
            ax.text(col, row, str(count), ha="center", va="center", color=colour)
        accuracy = np.trace(matrix) / max(matrix.sum(), 1)
        ax.set_title(f"{title}: validation accuracy {accuracy:.3f}")
        ax.set_xticks(labels, [str(digit) for digit in classes])
        ax.set_yticks(labels, [str(digit) for digit in classes])
        ax.set_xlabel("predicted digit")
        ax.set_ylabel("true digit")
    return figure
