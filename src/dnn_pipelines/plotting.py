"""The lesson's `Utils` plots, rebuilt: each returns a Figure for the catalog to save.

Figures are made with `matplotlib.figure.Figure`, not pyplot, so nodes keep no
global state and no figure stays open after the catalog has saved it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

CLASS_COLOURS = ("tab:red", "tab:blue")


class Classifier(Protocol):
    """Anything with scikit-learn's `predict`."""

    def predict(self, x: np.ndarray) -> np.ndarray: ...


def new_figure(
    n_rows: int = 1, n_cols: int = 1, size: tuple[float, float] = (15, 5)
) -> tuple[Figure, np.ndarray]:
    """A pyplot-free Figure and its axes as a 2-D array (the lesson's default size)."""
    figure = Figure(figsize=size, layout="constrained")
    axes = figure.subplots(n_rows, n_cols, squeeze=False)
    return figure, axes


def plot_dataset(x: np.ndarray, y: np.ndarray, ax: Axes | None = None) -> Figure:
    """Scatter a 1-D regression dataset (the lesson's `plot_dataset`)."""
    figure, ax = _figure_and_axes(ax)
    ax.plot(np.ravel(x), np.ravel(y), "*k", label="Observed")
    ax.set_xlabel("$x$")
    ax.set_ylabel("$y$")
    ax.grid(True)
    return figure


def plot_dataset_clas(x: np.ndarray, y: np.ndarray, ax: Axes | None = None) -> Figure:
    """Scatter a 2-D binary classification dataset, one colour per class."""
    figure, ax = _figure_and_axes(ax)
    for label, colour in zip(np.unique(y), CLASS_COLOURS, strict=False):
        members = y == label
        ax.scatter(x[members, 0], x[members, 1], c=colour, edgecolors="k", label=f"y = {label:g}")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.legend()
    return figure


def plot_nonlinear_model_clas(
    x: np.ndarray,
    y: np.ndarray,
    model: Classifier,
    phi: Callable[[np.ndarray], np.ndarray] = lambda points: points,
    ax: Axes | None = None,
    n_grid: int = 200,
) -> Figure:
    """Decision regions of `model` over the data's box, with the data on top."""
    figure, ax = _figure_and_axes(ax)
    margin = 0.1 * (x.max(axis=0) - x.min(axis=0))
    low, high = x.min(axis=0) - margin, x.max(axis=0) + margin
    grid_1, grid_2 = np.meshgrid(
        np.linspace(low[0], high[0], n_grid), np.linspace(low[1], high[1], n_grid)
    )
    points = np.column_stack([grid_1.ravel(), grid_2.ravel()])
    labels = np.unique(y)
    regions = np.searchsorted(labels, model.predict(phi(points))).reshape(grid_1.shape)
    ax.contourf(
        grid_1,
        grid_2,
        regions,
        levels=[-0.5, 0.5, 1.5],
        cmap=ListedColormap(CLASS_COLOURS),
        alpha=0.25,
    )
    plot_dataset_clas(x, y, ax=ax)
    return figure


def _figure_and_axes(ax: Axes | None) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.get_figure(), ax
    figure, axes = new_figure()
    return figure, axes[0, 0]
