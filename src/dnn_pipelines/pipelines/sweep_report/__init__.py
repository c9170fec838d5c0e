"""The report of a sweep: every point, the metrics over seeds with 95 % intervals, a figure."""

from typing import Any


def create_pipeline(**kwargs: Any) -> Any:
    """The section's DAG; imported on call, so importing its `params` alone stays light."""
    from dnn_pipelines.pipelines.sweep_report.pipeline import create_pipeline as create  # noqa: PLC0415

    return create(**kwargs)
