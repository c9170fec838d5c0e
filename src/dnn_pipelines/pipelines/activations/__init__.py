"""The lesson's activation functions, illustrated and compared on two moons (scikit-learn only)."""

from dnn_pipelines.pipelines.activations.pipeline import create_pipeline

__all__ = ["create_pipeline"]
