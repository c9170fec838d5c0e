"""The lesson's "Transfer Learning" section: Xception on digits, frozen then fine-tuned."""

from dnn_pipelines.pipelines.transfer.pipeline import create_pipeline

__all__ = ["create_pipeline"]
