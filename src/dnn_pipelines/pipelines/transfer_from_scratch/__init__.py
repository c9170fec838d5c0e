"""Pipeline `transfer_from_scratch`: see `pipeline.py`."""

from dnn_pipelines.pipelines.transfer_from_scratch.pipeline import create_pipeline

__all__ = ["create_pipeline"]
