"""The lesson's "Dropout" section: five dropout rates on a noisy parabola, and MC dropout."""

from typing import Any


def create_pipeline(**kwargs: Any) -> Any:
    """The section's DAG; imported on call, so importing its `params` alone stays light."""
    from dnn_pipelines.pipelines.dropout.pipeline import create_pipeline as create  # noqa: PLC0415

    return create(**kwargs)
