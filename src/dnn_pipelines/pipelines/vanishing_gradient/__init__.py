"""The lesson's vanishing-gradient experiment (numpy only) and the grid that explains it."""

from typing import Any


def create_pipeline(**kwargs: Any) -> Any:
    """The section's DAG; imported on call, so importing its `params` alone stays light."""
    from dnn_pipelines.pipelines.vanishing_gradient.pipeline import create_pipeline as create  # noqa: PLC0415

    return create(**kwargs)
