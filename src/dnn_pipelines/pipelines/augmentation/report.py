"""The augmentation metrics and figures: what was drawn, how much each effect changes the
photo, the geometry check, and composed against chained."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.augmentation.params import AugmentationParams, keras_factors
from dnn_pipelines.plotting import new_figure


def mean_abs_change(original: np.ndarray, pictures: np.ndarray) -> list[float]:
    """Mean absolute pixel difference (0-255) of each picture from the original."""
    difference = np.abs(pictures.astype(np.float64) - original.astype(np.float64)[None])
    return [float(value) for value in difference.mean(axis=(1, 2, 3))]


def summarize_metrics(
    image: dict[str, np.ndarray],
    sample_parameters: pd.DataFrame,
    effects: dict[str, np.ndarray],
    geometry_check: pd.DataFrame,
    composition_draws: pd.DataFrame,
    params: AugmentationParams,
    seed: Seed,
) -> dict[str, Any]:
    """Per sample what was drawn, the Keras arguments the lesson's ranges became, how much each
    effect alone changes the photo (can they be told apart?), the geometry check, and how
    much photo chaining loses against the lesson's single matrix."""
    samples = sample_parameters.to_dict(orient="records")
    numeric = sample_parameters.drop(columns=["sample", "flipped"])
    by_quantity = geometry_check.groupby(["effect", "quantity"], sort=False)
    height, width, channels = image["image"].shape
    composed = composition_draws["photo_fraction_composed"]
    chained = composition_draws["photo_fraction_chained"]
    return {
        "seed": int(seed),
        "image": {"height": height, "width": width, "channels": channels},
        "composition": params.transforms.composition,
        "imagedatagenerator_ranges": params.transforms.model_dump(exclude={"composition"}),
        "keras_layer_arguments": keras_factors(params.transforms),
        "n_samples": len(samples),
        "samples": [
            {key: (bool(v) if key == "flipped" else _plain(v)) for key, v in row.items()}
            for row in samples
        ],
        "drawn_ranges": {
            column: [float(numeric[column].min()), float(numeric[column].max())]
            for column in numeric.columns
        },
        "flipped_fraction": float(sample_parameters["flipped"].astype(bool).mean()),
        "single_effect_mean_abs_change": {
            effect: mean_abs_change(image["image"], pictures)
            for effect, pictures in effects.items()
        },
        "geometry_check": {
            "all_passed": bool(geometry_check["passed"].all()),
            "n_measurements": len(geometry_check),
            "max_error": {
                f"{effect}.{quantity}": {
                    "max_error": float(group["error"].max()),
                    "tolerance": float(group["tolerance"].iloc[0]),
                    "unit": str(group["unit"].iloc[0]),
                    "passed": bool(group["passed"].all()),
                }
                for (effect, quantity), group in by_quantity
            },
        },
        "composed_against_chained": {
            "n_draws": len(composition_draws),
            "mean_photo_fraction_composed": float(composed.mean()),
            "mean_photo_fraction_chained": float(chained.mean()),
            "draws_where_chaining_shows_less_photo": int((chained < composed).sum()),
        },
    }


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def describe_draw(effect: str, record: dict[str, Any]) -> str:
    """A short panel title for one draw of one effect."""
    if effect == "rotation":
        return f"{record['rotation_deg']:+.1f} deg"
    if effect == "shift":
        return f"dx {record['shift_x_fraction']:+.0%}, dy {record['shift_y_fraction']:+.0%}"
    if effect == "shear":
        return f"shear x {record['shear_x_deg']:+.2f}, y {record['shear_y_deg']:+.2f} deg"
    if effect == "zoom":
        return f"zoom x {record['zoom_x']:.2f}, y {record['zoom_y']:.2f}"
    if effect == "flip":
        return "flipped" if bool(record["flipped"]) else "not flipped"
    raise ValueError(f"Unknown effect {effect!r}")


def plot_original(image: dict[str, np.ndarray], params: AugmentationParams) -> Figure:
    """The lesson's first figure: the photo, titled 'Original'."""
    figure, axes = new_figure(size=params.plots.original_size)
    figure.set_dpi(params.plots.dpi)
    axes[0, 0].imshow(image["image"])
    axes[0, 0].set_title("Original")
    axes[0, 0].axis("off")
    return figure


def lesson_display(picture: np.ndarray) -> np.ndarray:
    """What the lesson's `array_to_img(batch[0])` shows: each image stretched on its own,
    from its darkest value (0) to its brightest (255), in float32 as Keras computes it."""
    pixels = np.asarray(picture, dtype=np.float32)
    pixels = pixels - pixels.min()
    peak = pixels.max()
    if peak != 0:
        pixels /= peak
    return (pixels * 255).astype(np.uint8)


def plot_samples_grid(
    samples: dict[str, np.ndarray], sample_parameters: pd.DataFrame, params: AugmentationParams
) -> Figure:
    """The lesson's 4 x 4 grid of perturbed copies, each titled with what was drawn and shown
    as the lesson's `array_to_img` shows it."""
    sampling = params.sampling
    figure, axes = new_figure(sampling.grid_rows, sampling.grid_cols, params.plots.grid_size)
    figure.set_dpi(params.plots.dpi)
    for ax, picture, record in zip(
        axes.ravel(), samples["images"], sample_parameters.to_dict(orient="records"), strict=True
    ):
        ax.imshow(lesson_display(picture))
        ax.set_title(
            f"{describe_draw('rotation', record)}, {describe_draw('shift', record)}\n"
            f"{describe_draw('zoom', record)}, {describe_draw('flip', record)}",
            fontsize=8,
        )
        ax.axis("off")
    figure.suptitle("Random perturbations (Keras 3 layers)")
    return figure


def plot_single_effects(
    image: dict[str, np.ndarray],
    effects: dict[str, np.ndarray],
    effect_parameters: pd.DataFrame,
    params: AugmentationParams,
) -> Figure:
    """One row per effect alone, weakest to strongest draw: can the effects be told apart?"""
    names = list(dict.fromkeys(effect_parameters["effect"]))
    n_cols = 1 + params.effects.n_strengths
    figure, axes = new_figure(len(names), n_cols, params.plots.effects_size)
    figure.set_dpi(params.plots.dpi)
    for row, effect in zip(axes, names, strict=True):
        row[0].imshow(image["image"])
        row[0].set_title("original", fontsize=8)
        row[0].set_ylabel(effect)
        records = effect_parameters[effect_parameters["effect"] == effect]
        for ax, picture, record in zip(
            row[1:], effects[effect], records.to_dict(orient="records"), strict=True
        ):
            ax.imshow(picture)
            ax.set_title(describe_draw(effect, record), fontsize=8)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    figure.suptitle(
        f"Each perturbation alone, at {params.effects.n_strengths} of the grid's draws, "
        "weakest to strongest"
    )
    return figure


def plot_geometry_check(
    evidence: dict[str, np.ndarray], geometry_check: pd.DataFrame, params: AugmentationParams
) -> Figure:
    """The transformed dot probe: measured centroids (x) on the positions the draws predict (+)."""
    names = list(dict.fromkeys(geometry_check["effect"]))
    n_cols = min(params.plots.geometry_columns, params.geometry_check.n_draws)
    figure, axes = new_figure(len(names), n_cols, params.plots.geometry_size)
    figure.set_dpi(params.plots.dpi)
    for row, effect in zip(axes, names, strict=True):
        rows = geometry_check[geometry_check["effect"] == effect]
        for draw, ax in enumerate(row):
            ax.imshow(evidence[f"{effect}_image"][draw], cmap="gray")
            expected = evidence[f"{effect}_expected"][draw]
            found = evidence[f"{effect}_measured"][draw]
            ax.plot(expected[:, 0], expected[:, 1], "+", color="tab:red", markersize=12)
            ax.plot(found[:, 0], found[:, 1], "x", color="tab:cyan", markersize=7)
            this = rows[rows["draw"] == draw].set_index("quantity")
            error = this.loc["position_px", "measured"]
            drawn = {q: this.loc[q, "drawn"] for q in this.index if q != "position_px"}
            label = ", ".join(f"{q} {v:+.2f}" for q, v in drawn.items())
            ax.set_title(f"{label}\nmax dot error {error:.2f} px", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(effect)
    figure.suptitle("Geometry check: + where the drawn parameters put each dot, x where it is")
    return figure


PHOTO_MAP = ("0.85", "tab:red", "black")
"""Colours of the comparison map: photo in both, fill only when chained, fill in both."""


def plot_composition_comparison(
    comparison: dict[str, np.ndarray], composition_draws: pd.DataFrame, params: AugmentationParams
) -> Figure:
    """Per draw: the lesson's single matrix, the same draw chained, and where chaining shows
    fill (red) where the lesson shows photo."""
    from matplotlib.colors import ListedColormap  # noqa: PLC0415

    n = len(composition_draws)
    figure, axes = new_figure(n, 3, params.plots.comparison_size)
    figure.set_dpi(params.plots.dpi)
    chained_fill = np.where(~comparison["chained_photo"], 1, 0)
    photo_map = np.where(~comparison["composed_photo"], 2, chained_fill)
    for row, record in zip(axes, composition_draws.to_dict(orient="records"), strict=True):
        i = int(record["draw"])
        row[0].imshow(comparison["composed"][i])
        row[0].set_title(
            f"one matrix: {record['photo_fraction_composed']:.0%} photo\n"
            f"{describe_draw('rotation', record)}, {describe_draw('zoom', record)}",
            fontsize=8,
        )
        row[1].imshow(comparison["chained"][i])
        row[1].set_title(f"chained: {record['photo_fraction_chained']:.0%} photo", fontsize=8)
        row[2].imshow(photo_map[i], cmap=ListedColormap(PHOTO_MAP), vmin=0, vmax=2)
        row[2].set_title("red: fill only when chained", fontsize=8)
        for ax in row:
            ax.axis("off")
    figure.suptitle("The same draws: one matrix (the lesson) and chained layers")
    return figure
