"""Keras models as versioned `.keras` files, saved atomically, loaded in safe mode.

A module of its own: importing it imports TensorFlow, which numpy pipelines never need.
"""

from kedro_datasets.tensorflow import TensorFlowModelDataset

from dnn_pipelines.datasets.atomic import AtomicSaveMixin


class KerasModelDataset(AtomicSaveMixin, TensorFlowModelDataset):
    """TensorFlowModelDataset with atomic saves (`safe_mode=True` is Keras' default on load)."""
