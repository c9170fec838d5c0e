"""The vanishing-gradient DAG: the lesson's run and the activation x init grid.

One definition (`experiment`) is instantiated in namespaces: `vanishing_gradient` is the
lesson's run on `params:vanishing_gradient`; each `vanishing_gradient_grid.<cell>` first
resolves its experiment from the shared sizes and its own activation/init/backward.
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
)
from dnn_pipelines.pipelines.vanishing_gradient.params import grid_cells

TOPIC = "vanishing_gradient"
GRID = "vanishing_gradient_grid"


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
    """The lesson's figure, drawn for the lesson's run only (the grid has its comparison)."""
    return Pipeline(
        [
            Node(
                plot_gradient_norms,
                ["gradient_norms", "experiment"],
                "gradient_norm_plot",
                name="plot_gradient_norms",
            )
        ]
    )


def grid_cell(cell: str) -> Pipeline:
    """The same experiment for one activation x init cell, in namespace `<GRID>.<cell>`."""
    resolve = Pipeline(
        [
            Node(
                experiment_for_cell,
                [f"params:{TOPIC}", "params:cell"],
                "experiment",
                name="resolve_experiment",
            )
        ]
    )
    return Pipeline(
        resolve + experiment(),
        namespace=f"{GRID}.{cell}",
        parameters={
            "params:seed": "params:seed",
            f"params:{TOPIC}": f"params:{TOPIC}",
            "params:cell": f"params:{GRID}.{cell}",
        },
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    """The lesson's run, every grid cell, and the comparison that explains them."""
    lesson = Pipeline(
        experiment() + lesson_figure(),
        namespace=TOPIC,
        inputs={"experiment": f"params:{TOPIC}"},
        parameters={"params:seed": "params:seed"},
        outputs={"metrics": f"{TOPIC}_metrics"},
    )
    cells = grid_cells()
    # Keyword argument (the cell) -> its metrics; mapped onto the namespaced names below.
    cell_metrics = {cell: f"{cell}_metrics" for cell in cells}
    comparison = Pipeline(
        [
            Node(compare_cells, cell_metrics, f"{TOPIC}_comparison", name="compare_grid"),
            Node(plot_comparison, cell_metrics, f"{TOPIC}_comparison_plot", name="plot_comparison"),
        ],
        namespace=GRID,
        inputs={f"{cell}_metrics": f"{GRID}.{cell}.metrics" for cell in cells},
        outputs={f"{TOPIC}_comparison", f"{TOPIC}_comparison_plot"},
    )
    return lesson + sum((grid_cell(cell) for cell in cells), Pipeline([])) + comparison
