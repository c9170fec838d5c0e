"""The lesson's data augmentation: random perturbations of a photo with Keras 3 layers."""

from typing import Any


def create_pipeline(**kwargs: Any) -> Any:
    """The section's DAG; imported on call, so importing its `params` alone stays light."""
    from dnn_pipelines.pipelines.augmentation.pipeline import create_pipeline as create  # noqa: PLC0415

    return create(**kwargs)
