"""The lesson's vanishing-gradient experiment (numpy only) and the grid that explains it."""

from dnn_pipelines.pipelines.vanishing_gradient.pipeline import create_pipeline

__all__ = ["create_pipeline"]
