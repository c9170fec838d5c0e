"""The lesson's "Transfer Learning" section: Xception on digits, frozen then fine-tuned."""

from typing import Any


def create_pipeline(**kwargs: Any) -> Any:
    """The section's DAG; imported on call, so importing its `params` alone stays light."""
    from dnn_pipelines.pipelines.transfer.pipeline import create_pipeline as create  # noqa: PLC0415

    return create(**kwargs)
