"""The initialization DAG: the lesson's faithful part, then Keras' initializers and depth.

Tags: `faithful` (scikit-learn, never TensorFlow), `beyond` (Keras comparison and the
forward-propagation experiment) and `tensorflow` on the two nodes that draw with Keras.
`kedro run --pipelines initialization --tags faithful` therefore never imports TensorFlow.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from dnn_pipelines.pipelines.initialization.nodes import (
    build_mlp_classifier,
    draw_deep_network_weights,
    draw_initializer_samples,
    extract_weights,
    initializer_statistics,
    make_zero_patterns,
    plot_initializer_histograms,
    plot_variance_propagation,
    plot_weight_histograms,
    predict_variance,
    propagate_variance,
    summarise_beyond,
    summarise_uniform_fit,
    train_one_step,
    uniform_weight_statistics,
    variance_ratios,
)

TOPIC = "initialization"
PARAMS = f"params:{TOPIC}"
SEED = "params:seed"


def faithful_pipeline() -> Pipeline:
    """Dataset -> MLPClassifier -> one step -> weights -> KS statistics -> histograms, metrics."""
    return Pipeline(
        [
            Node(make_zero_patterns, PARAMS, f"{TOPIC}_patterns", name=f"{TOPIC}_make_patterns"),
            Node(
                build_mlp_classifier,
                [PARAMS, SEED],
                f"{TOPIC}_mlp",
                name=f"{TOPIC}_build_mlp",
            ),
            Node(
                train_one_step,
                [f"{TOPIC}_mlp", f"{TOPIC}_patterns"],
                f"{TOPIC}_fitted_mlp",
                name=f"{TOPIC}_train_one_step",
            ),
            Node(
                extract_weights,
                f"{TOPIC}_fitted_mlp",
                f"{TOPIC}_sklearn_weights",
                name=f"{TOPIC}_extract_weights",
            ),
            Node(
                uniform_weight_statistics,
                [f"{TOPIC}_sklearn_weights", PARAMS],
                f"{TOPIC}_weight_statistics",
                name=f"{TOPIC}_compute_weight_statistics",
            ),
            Node(
                plot_weight_histograms,
                [f"{TOPIC}_sklearn_weights", f"{TOPIC}_weight_statistics", PARAMS],
                f"{TOPIC}_weight_histograms",
                name=f"{TOPIC}_plot_weight_histograms",
            ),
            Node(
                summarise_uniform_fit,
                [f"{TOPIC}_weight_statistics", PARAMS, SEED],
                f"{TOPIC}_metrics",
                name=f"{TOPIC}_summarise_metrics",
            ),
        ],
        tags=["faithful"],
    )


def keras_initializers_pipeline() -> Pipeline:
    """Keras' initializers drawn for the MLP's kernel shapes, tested against their laws."""
    return Pipeline(
        [
            Node(
                draw_initializer_samples,
                [f"{TOPIC}_sklearn_weights", PARAMS, SEED],
                f"{TOPIC}_keras_samples",
                name=f"{TOPIC}_draw_keras_samples",
                tags=["tensorflow"],
            ),
            Node(
                initializer_statistics,
                [f"{TOPIC}_keras_samples", PARAMS],
                f"{TOPIC}_keras_statistics",
                name=f"{TOPIC}_test_keras_samples",
            ),
            Node(
                plot_initializer_histograms,
                [f"{TOPIC}_keras_samples", f"{TOPIC}_keras_statistics", PARAMS],
                f"{TOPIC}_keras_histograms",
                name=f"{TOPIC}_plot_keras_histograms",
            ),
        ],
        tags=["beyond"],
    )


def forward_propagation_pipeline() -> Pipeline:
    """Deep-network weights (Keras) -> numpy forward pass vs closed form -> ratios, plot."""
    return Pipeline(
        [
            Node(
                draw_deep_network_weights,
                [PARAMS, SEED],
                f"{TOPIC}_deep_weights",
                name=f"{TOPIC}_draw_deep_weights",
                tags=["tensorflow"],
            ),
            Node(
                propagate_variance,
                [f"{TOPIC}_deep_weights", PARAMS, SEED],
                f"{TOPIC}_variance_measured",
                name=f"{TOPIC}_propagate_variance",
            ),
            Node(
                predict_variance,
                PARAMS,
                f"{TOPIC}_variance_predicted",
                name=f"{TOPIC}_predict_variance",
            ),
            Node(
                variance_ratios,
                [f"{TOPIC}_variance_measured", f"{TOPIC}_variance_predicted", PARAMS],
                f"{TOPIC}_variance_ratios",
                name=f"{TOPIC}_compute_variance_ratios",
            ),
            Node(
                plot_variance_propagation,
                [f"{TOPIC}_variance_measured", f"{TOPIC}_variance_predicted", PARAMS],
                f"{TOPIC}_variance_propagation",
                name=f"{TOPIC}_plot_variance_propagation",
            ),
            Node(
                summarise_beyond,
                [f"{TOPIC}_keras_statistics", f"{TOPIC}_variance_ratios", PARAMS],
                f"{TOPIC}_beyond_metrics",
                name=f"{TOPIC}_summarise_beyond",
            ),
        ],
        tags=["beyond"],
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    """The whole section: faithful part, Keras initializers, forward propagation."""
    return faithful_pipeline() + keras_initializers_pipeline() + forward_propagation_pipeline()
