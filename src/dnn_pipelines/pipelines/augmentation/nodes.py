"""The lesson's data augmentation, recorded draw by draw and measured.

The work lives in the order of the lesson: `data` (the photo), `layers` (the transforms as
Keras layers), `sampling` (the perturbed copies), `geometry` (does each effect do what it
drew?), `report` (metrics and figures); `composed` holds ImageDataGenerator's transform as
one Keras layer. This module names the functions the pipeline wires.
"""

from dnn_pipelines.pipelines.augmentation.data import load_image
from dnn_pipelines.pipelines.augmentation.geometry import check_geometry, make_geometry_probe
from dnn_pipelines.pipelines.augmentation.layers import build_augmenter
from dnn_pipelines.pipelines.augmentation.report import (
    plot_composition_comparison,
    plot_geometry_check,
    plot_original,
    plot_samples_grid,
    plot_single_effects,
    summarize_metrics,
)
from dnn_pipelines.pipelines.augmentation.sampling import (
    compare_compositions,
    sample_augmentations,
    sample_single_effects,
)

__all__ = [
    "build_augmenter",
    "check_geometry",
    "compare_compositions",
    "load_image",
    "make_geometry_probe",
    "plot_composition_comparison",
    "plot_geometry_check",
    "plot_original",
    "plot_samples_grid",
    "plot_single_effects",
    "sample_augmentations",
    "sample_single_effects",
    "summarize_metrics",
]
