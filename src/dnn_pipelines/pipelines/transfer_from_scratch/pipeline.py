"""Pipeline `transfer_from_scratch`: the transfer lesson's network trained from random weights.

Beyond the lesson, opt-in (the registry keeps it out of `__default__`: it doubles the
section's training time). `transfer.from_scratch` is the same experiment as the lesson's
(`transfer.pipeline.experiment`) on a random base with the same training budget; it reads
`transfer.split` and the pretrained histories from the catalog and compares the two.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from dnn_pipelines.pipelines.transfer.nodes import (
    build_random_base,
    plot_learning_curves,
    summarize_from_scratch,
)
from dnn_pipelines.pipelines.transfer.pipeline import (
    PRETRAINED_HISTORIES,
    TOPIC,
    experiment,
    full_name,
    in_topic,
)
from dnn_pipelines.tensorflow_settings import TENSORFLOW_TAG

FROM_SCRATCH = "from_scratch"
SCRATCH_NAMESPACE = f"{TOPIC}.{FROM_SCRATCH}"


def random_base() -> Node:
    """The same architecture with random weights."""
    return Node(
        build_random_base,
        ["split", "params:image", "params:base_model", "params:seed"],
        "base_model",
        name="build_random_base",
        tags=[TENSORFLOW_TAG],
    )


SCRATCH_HISTORIES = {
    "scratch_frozen_history": full_name(FROM_SCRATCH, "frozen_history"),
    "scratch_fine_tuned_history": full_name(FROM_SCRATCH, "fine_tuned_history"),
}


def comparison() -> Pipeline:
    """Pretrained against from scratch: curves and `transfer_from_scratch_metrics`."""
    return Pipeline(
        [
            Node(
                plot_learning_curves,
                PRETRAINED_HISTORIES | SCRATCH_HISTORIES,
                full_name(FROM_SCRATCH, "learning_curves"),
                name="plot_comparison_curves",
                namespace=SCRATCH_NAMESPACE,
            ),
            Node(
                summarize_from_scratch,
                {"fine_tuned_history": PRETRAINED_HISTORIES["fine_tuned_history"]}
                | SCRATCH_HISTORIES,
                f"{TOPIC}_{FROM_SCRATCH}_metrics",
                name="summarize",
                namespace=SCRATCH_NAMESPACE,
            ),
        ]
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    """The same architecture from random weights, compared with the pretrained run."""
    return in_topic(experiment(FROM_SCRATCH, random_base())) + comparison()
