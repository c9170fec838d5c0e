"""Pipeline `transfer_from_scratch`: the transfer lesson's network trained from random weights.

Defined beside the lesson's `transfer` pipeline (same nodes, same namespace); kept out of
`__default__` by the registry because it doubles the section's training time.
"""

from dnn_pipelines.pipelines.transfer.pipeline import (
    create_from_scratch_pipeline as create_pipeline,
)

__all__ = ["create_pipeline"]
