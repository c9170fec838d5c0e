"""The lesson's data augmentation: random perturbations of a photo with Keras 3 layers."""

from dnn_pipelines.pipelines.augmentation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
