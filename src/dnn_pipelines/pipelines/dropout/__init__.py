"""The lesson's "Dropout" section: five dropout rates on a noisy parabola, and MC dropout."""

from dnn_pipelines.pipelines.dropout.pipeline import create_pipeline

__all__ = ["create_pipeline"]
