"""The vanishing-gradient DAG: the lesson's run and the activation x init grid.

Nested namespaces, so kedro-viz shows one collapsible `vanishing_gradient` group: inside
it, the lesson's run on `params:vanishing_gradient` (`vanishing_gradient.<name>`) and the
subgroup `grid`, where one definition (`experiment`) runs once per cell
(`vanishing_gradient.grid.<cell>.<name>`, each first resolving its experiment from the
shared sizes and its `params:vanishing_gradient_grid.<cell>`), plus the comparison across
cells. The parameters stay top-level keys, so every namespace maps them through unprefixed.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from dnn_pipelines.pipelines.vanishing_gradient.nodes import (
    backward_pass,
    compare_cells,
    experiment_for_cell,
    forward_pass,
    generate_dataset,
    gradient_norms,
    plot_comparison,
    plot_gradient_norms,
    summarize_metrics,
    theory_check,
)
from dnn_pipelines.pipelines.vanishing_gradient.params import grid_cells

TOPIC = "vanishing_gradient"
GRID = "grid"  # sub-namespace of TOPIC holding the cells
GRID_PARAMS = "vanishing_gradient_grid"  # top-level parameters key of the cells
LESSON_PARAMS = f"params:{TOPIC}"
SEED = "params:seed"


def experiment() -> Pipeline:
    """Dataset generation -> forward -> backward -> gradient norms -> metrics."""
    return Pipeline(
        [
            Node(
                generate_dataset,
                ["experiment", "params:seed"],
                ["pattern", "weights"],
                name="generate_dataset",
            ),
            Node(
                forward_pass,
                ["pattern", "weights", "experiment"],
                "activations",
                name="forward_pass",
            ),
            Node(
                backward_pass,
                ["pattern", "weights", "activations", "experiment"],
                ["deltas", "gradients"],
                name="backward_pass",
            ),
            Node(
                gradient_norms,
                ["gradients", "weights", "activations", "deltas", "experiment"],
                "gradient_norms",
                name="gradient_norms",
            ),
            Node(
                summarize_metrics,
                ["gradient_norms", "pattern", "activations", "experiment", "params:seed"],
                "metrics",
                name="summarize_metrics",
            ),
        ]
    )


def lesson_figure() -> Pipeline:
    """The lesson's figure and its theory question, for the lesson's run only (the grid has
    its comparison)."""
    return Pipeline(
        [
            Node(
                plot_gradient_norms,
                ["gradient_norms", "experiment"],
                "gradient_norm_plot",
                name="plot_gradient_norms",
            ),
            Node(
                theory_check,
                ["pattern", "weights", "activations", "experiment"],
                "theory_check",
                name="theory_check",
            ),
        ]
    )


def grid_cell(cell: str) -> Pipeline:
    """The same experiment for one activation x init cell, in (inner) namespace `<cell>`."""
    resolve = Pipeline(
        [
            Node(
                experiment_for_cell,
                [LESSON_PARAMS, "params:cell"],
                "experiment",
                name="resolve_experiment",
            )
        ]
    )
    return Pipeline(
        resolve + experiment(),
        namespace=cell,
        parameters={SEED: SEED, LESSON_PARAMS: LESSON_PARAMS, "params:cell": _cell_params(cell)},
    )


def grid() -> Pipeline:
    """Every cell, then the comparison across them, in (inner) namespace `grid`.

    The comparison nodes take one keyword per cell (`<cell>` -> `<cell>_metrics`), mapped
    onto the cells' own outputs `grid.<cell>.metrics`.
    """
    cells = grid_cells()
    cell_metrics = {cell: f"{cell}_metrics" for cell in cells}
    comparison = Pipeline(
        [
            Node(compare_cells, cell_metrics, "comparison", name="compare_cells"),
            Node(plot_comparison, cell_metrics, "comparison_plot", name="plot_comparison"),
        ]
    )
    return Pipeline(
        sum((grid_cell(cell) for cell in cells), Pipeline([])) + comparison,
        namespace=GRID,
        inputs={f"{cell}_metrics": f"{GRID}.{cell}.metrics" for cell in cells},
        parameters=_through(cells),
    )


def _cell_params(cell: str) -> str:
    return f"params:{GRID_PARAMS}.{cell}"


def _through(cells: list[str]) -> dict[str, str]:
    """Parameters a namespace must pass through unprefixed (they are top-level keys)."""
    names = [SEED, LESSON_PARAMS, *(_cell_params(cell) for cell in cells)]
    return {name: name for name in names}


def create_pipeline(**kwargs: object) -> Pipeline:
    """The lesson's run, every grid cell and their comparison, in namespace `vanishing_gradient`.

    Public results keep top-level names: `vanishing_gradient_metrics` (the lesson's answer),
    `vanishing_gradient_comparison` and `vanishing_gradient_comparison_plot` (the grid's).
    """
    return Pipeline(
        experiment() + lesson_figure() + grid(),
        namespace=TOPIC,
        inputs={"experiment": LESSON_PARAMS},
        parameters=_through(grid_cells()),
        outputs={
            "metrics": f"{TOPIC}_metrics",
            "theory_check": f"{TOPIC}_theory_check",
            f"{GRID}.comparison": f"{TOPIC}_comparison",
            f"{GRID}.comparison_plot": f"{TOPIC}_comparison_plot",
        },
    )
