"""The lesson's activation functions, illustrated and compared on two moons (scikit-learn only)."""

from typing import Any


def create_pipeline(**kwargs: Any) -> Any:
    """The section's DAG; imported on call, so importing its `params` alone stays light."""
    from dnn_pipelines.pipelines.activations.pipeline import create_pipeline as create  # noqa: PLC0415

    return create(**kwargs)
