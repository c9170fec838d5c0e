"""The lesson's "Initialization" section: sklearn's weight law tested, and why init matters."""

from typing import Any


def create_pipeline(**kwargs: Any) -> Any:
    """The section's DAG; imported on call, so importing its `params` alone stays light."""
    from dnn_pipelines.pipelines.initialization.pipeline import create_pipeline as create  # noqa: PLC0415

    return create(**kwargs)
