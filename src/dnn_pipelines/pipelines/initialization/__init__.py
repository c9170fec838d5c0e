"""The lesson's "Initialization" section: sklearn's weight law tested, and why init matters."""

from dnn_pipelines.pipelines.initialization.pipeline import create_pipeline

__all__ = ["create_pipeline"]
