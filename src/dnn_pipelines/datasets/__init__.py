"""Catalog datasets this project needs beyond kedro-datasets: `.npz` arrays, atomic saves.

`KerasModelDataset` lives in `dnn_pipelines.datasets.keras_model` so that importing
this package never imports TensorFlow.
"""

from dnn_pipelines.datasets.atomic import (
    AtomicCSVDataset,
    AtomicJSONDataset,
    AtomicMatplotlibDataset,
    AtomicParquetDataset,
    AtomicTextDataset,
)
from dnn_pipelines.datasets.npz import NpzDataset

__all__ = [
    "AtomicCSVDataset",
    "AtomicJSONDataset",
    "AtomicMatplotlibDataset",
    "AtomicParquetDataset",
    "AtomicTextDataset",
    "NpzDataset",
]
