"""Nodes of the lesson's "Initialization" section and of why initialization matters.

`sklearn_weights` is the lesson's part: the MLPClassifier's initial weights against the
uniform law scikit-learn draws from. Beyond it, `keras_initializers` tests Keras' initializers
against their own laws, and `propagation` shows how each carries the activation variance
through a deep, wide network. This module names the functions the pipeline wires.
"""

from dnn_pipelines.pipelines.initialization.keras_initializers import (
    draw_initializer_samples,
    initializer_statistics,
    plot_initializer_histograms,
)
from dnn_pipelines.pipelines.initialization.propagation import (
    draw_deep_network_weights,
    plot_variance_propagation,
    predict_variance,
    propagate_variance,
    summarise_beyond,
    variance_ratios,
)
from dnn_pipelines.pipelines.initialization.sklearn_weights import (
    build_mlp_classifier,
    extract_weights,
    make_zero_patterns,
    plot_weight_histograms,
    summarise_uniform_fit,
    train_one_step,
    uniform_weight_statistics,
)

__all__ = [
    "build_mlp_classifier",
    "draw_deep_network_weights",
    "draw_initializer_samples",
    "extract_weights",
    "initializer_statistics",
    "make_zero_patterns",
    "plot_initializer_histograms",
    "plot_variance_propagation",
    "plot_weight_histograms",
    "predict_variance",
    "propagate_variance",
    "summarise_beyond",
    "summarise_uniform_fit",
    "train_one_step",
    "uniform_weight_statistics",
    "variance_ratios",
]
