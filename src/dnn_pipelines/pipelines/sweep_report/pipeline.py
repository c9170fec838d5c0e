"""The sweep report: tabulate the points, summarise them, draw the intervals."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from dnn_pipelines.pipelines.sweep_report.nodes import plot_sweep, summarize_sweep, tabulate_points

PARAMS = "params:sweep_report"


def create_pipeline(**kwargs: object) -> Pipeline:
    """`sweep_points` -> `sweep_summary` -> `sweep_plot`, from the report's parameters."""
    return Pipeline(
        [
            Node(tabulate_points, PARAMS, "sweep_points", name="tabulate_points"),
            Node(summarize_sweep, ["sweep_points", PARAMS], "sweep_summary", name="summarize"),
            Node(plot_sweep, ["sweep_summary", PARAMS], "sweep_plot", name="plot"),
        ]
    )
