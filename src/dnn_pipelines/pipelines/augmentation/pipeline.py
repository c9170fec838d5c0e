"""The augmentation DAG: photo -> augmenter -> perturbed samples -> figures, metrics, a
geometry check of every effect on a synthetic dot probe, and the lesson's single matrix
against chained layers."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from dnn_pipelines.pipelines.augmentation.nodes import (
    build_augmenter,
    check_geometry,
    compare_compositions,
    load_image,
    make_geometry_probe,
    plot_composition_comparison,
    plot_geometry_check,
    plot_original,
    plot_samples_grid,
    plot_single_effects,
    sample_augmentations,
    sample_single_effects,
    summarize_metrics,
)
from dnn_pipelines.tensorflow_settings import TENSORFLOW_TAG

TOPIC = "augmentation"
PARAMS = f"params:{TOPIC}"
METRICS = f"{TOPIC}_metrics"


def create_pipeline(**kwargs: object) -> Pipeline:
    """Dataset generation, model building, sampling, plotting, and the geometry check.

    Namespaced `augmentation`: nodes and datasets are `augmentation.<name>` (grouped in
    kedro-viz, no clash with other lessons' node names) except the shared `augmentation_metrics`.
    """
    nodes = Pipeline(
        [
            Node(load_image, PARAMS, "image", name="load_image"),
            Node(
                build_augmenter,
                [PARAMS, "params:seed"],
                "augmenter",
                name="build_augmenter",
                tags=[TENSORFLOW_TAG],
            ),
            Node(
                sample_augmentations,
                ["image", "augmenter", PARAMS, "params:seed"],
                ["samples", "sample_parameters"],
                name="sample_augmentations",
                tags=[TENSORFLOW_TAG],
            ),
            Node(
                sample_single_effects,
                ["image", "augmenter", PARAMS, "params:seed"],
                ["effects", "effect_parameters"],
                name="sample_single_effects",
                tags=[TENSORFLOW_TAG],
            ),
            Node(
                make_geometry_probe,
                PARAMS,
                "geometry_probe",
                name="make_geometry_probe",
            ),
            Node(
                check_geometry,
                ["geometry_probe", "augmenter", PARAMS, "params:seed"],
                ["geometry_check", "geometry_evidence"],
                name="check_geometry",
                tags=[TENSORFLOW_TAG],
            ),
            Node(
                compare_compositions,
                ["image", PARAMS, "params:seed"],
                ["composition_comparison", "composition_draws"],
                name="compare_compositions",
                tags=[TENSORFLOW_TAG],
            ),
            Node(
                summarize_metrics,
                [
                    "image",
                    "sample_parameters",
                    "effects",
                    "geometry_check",
                    "composition_draws",
                    PARAMS,
                    "params:seed",
                ],
                "metrics",
                name="summarize_metrics",
            ),
            Node(
                plot_original,
                ["image", PARAMS],
                "original_plot",
                name="plot_original",
            ),
            Node(
                plot_samples_grid,
                ["samples", "sample_parameters", PARAMS],
                "grid_plot",
                name="plot_samples_grid",
            ),
            Node(
                plot_single_effects,
                [
                    "image",
                    "effects",
                    "effect_parameters",
                    PARAMS,
                ],
                "effects_plot",
                name="plot_single_effects",
            ),
            Node(
                plot_geometry_check,
                ["geometry_evidence", "geometry_check", PARAMS],
                "geometry_plot",
                name="plot_geometry_check",
            ),
            Node(
                plot_composition_comparison,
                ["composition_comparison", "composition_draws", PARAMS],
                "composition_plot",
                name="plot_composition_comparison",
            ),
        ]
    )
    return Pipeline(
        nodes,
        namespace=TOPIC,
        parameters={PARAMS: PARAMS, "params:seed": "params:seed"},
        outputs={"metrics": METRICS},
    )
