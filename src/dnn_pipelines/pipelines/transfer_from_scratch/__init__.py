"""Pipeline `transfer_from_scratch`: see `pipeline.py`."""

from typing import Any


def create_pipeline(**kwargs: Any) -> Any:
    """The section's DAG; imported on call, so importing its `params` alone stays light."""
    from dnn_pipelines.pipelines.transfer_from_scratch.pipeline import create_pipeline as create  # noqa: PLC0415

    return create(**kwargs)
