"""Pipeline `transfer_from_scratch`: the transfer lesson's network from random weights.

Beyond the lesson, opt-in (the registry keeps it out of `__default__`: it trains several
times as much as the section). Three baselines of the same architecture, each with
the transfer's budget of epochs, read `transfer.split` and the pretrained histories from
the catalog and answer "did transfer help?":
- `transfer.from_scratch`: the lesson's experiment (`transfer.pipeline.experiment`) on a
  random frozen base;
- `transfer.bn_recomputed`: the same, the base's BatchNorm statistics taken from the target
  images, so a gap is not BatchNorm's doing;
- `transfer.end_to_end`: every layer trained from the start.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from dnn_pipelines.pipelines.transfer.nodes import (
    build_random_base,
    build_random_base_on_target,
    plot_learning_curves,
    summarize_from_scratch,
    train_end_to_end,
)
from dnn_pipelines.pipelines.transfer.pipeline import (
    PRETRAINED_HISTORIES,
    SHARED_PARAMS,
    TOPIC,
    build_model,
    experiment,
    full_name,
    in_topic,
)
from dnn_pipelines.tensorflow_settings import TENSORFLOW_TAG

FROM_SCRATCH = "from_scratch"
BN_RECOMPUTED = "bn_recomputed"
END_TO_END = "end_to_end"
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


def random_base_on_target() -> Node:
    """Random weights, BatchNorm statistics of the target images."""
    return Node(
        build_random_base_on_target,
        ["split", "params:image", "params:base_model", "params:training", "params:seed"],
        "base_model",
        name="build_random_base_on_target",
        tags=[TENSORFLOW_TAG],
    )


def end_to_end() -> Pipeline:
    """The model on a random base, every layer trained from the start."""
    steps = Pipeline(
        [
            random_base(),
            build_model(),
            Node(
                train_end_to_end,
                [
                    "initial_model",
                    "split",
                    "params:training",
                    "params:head",
                    "params:baselines",
                    "params:seed",
                ],
                ["history", "predictions"],
                name="train_end_to_end",
                tags=[TENSORFLOW_TAG],
            ),
        ]
    )
    return Pipeline(
        steps,
        namespace=END_TO_END,
        inputs={"split"},
        parameters={param: param for param in (*SHARED_PARAMS, "params:baselines")},
    )


SCRATCH_HISTORIES = {
    "scratch_frozen_history": full_name(FROM_SCRATCH, "frozen_history"),
    "scratch_fine_tuned_history": full_name(FROM_SCRATCH, "fine_tuned_history"),
}
BASELINE_HISTORIES = {
    "bn_recomputed_history": full_name(BN_RECOMPUTED, "fine_tuned_history"),
    "end_to_end_history": full_name(END_TO_END, "history"),
}


def comparison() -> Pipeline:
    """Pretrained against the baselines: curves and `transfer_from_scratch_metrics`."""
    return Pipeline(
        [
            Node(
                plot_learning_curves,
                PRETRAINED_HISTORIES
                | SCRATCH_HISTORIES
                | {
                    "bn_recomputed_frozen_history": full_name(BN_RECOMPUTED, "frozen_history"),
                    "bn_recomputed_fine_tuned_history": BASELINE_HISTORIES["bn_recomputed_history"],
                    "end_to_end_history": BASELINE_HISTORIES["end_to_end_history"],
                },
                full_name(FROM_SCRATCH, "learning_curves"),
                name="plot_comparison_curves",
                namespace=SCRATCH_NAMESPACE,
            ),
            Node(
                summarize_from_scratch,
                {"fine_tuned_history": PRETRAINED_HISTORIES["fine_tuned_history"]}
                | SCRATCH_HISTORIES
                | BASELINE_HISTORIES,
                f"{TOPIC}_{FROM_SCRATCH}_metrics",
                name="summarize",
                namespace=SCRATCH_NAMESPACE,
            ),
        ]
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    """The same architecture from random weights, three ways, compared with the pretrained."""
    return (
        in_topic(
            experiment(FROM_SCRATCH, random_base())
            + experiment(BN_RECOMPUTED, random_base_on_target())
            + end_to_end()
        )
        + comparison()
    )
