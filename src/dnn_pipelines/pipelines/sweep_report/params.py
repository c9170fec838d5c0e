"""The `sweep_report` block: what `kedro sweep run` hands the report pipeline.

The shipped conf holds an empty report; `kedro sweep run NAME` fills it with the sweep's
axes, metrics and one row per point, so the report is an ordinary versioned run.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from dnn_pipelines.parameters import StrictParams
from dnn_pipelines.sweeps.spec import SEED_AXIS, BestOf, Threshold


class SweepReportParams(StrictParams):
    """One sweep's results, to be tabulated and summarised."""

    name: str = Field(default="", description="The sweep (a file of conf/<env>/sweeps/).")
    axes: list[str] = Field(default_factory=list, description="Parameter paths of the grid.")
    metrics: list[str] = Field(default_factory=list, description="Metric columns, in order.")
    best: BestOf | None = None
    thresholds: list[Threshold] = Field(default_factory=list)
    points: list[dict[str, Any]] = Field(
        default_factory=list, description="One row per point: axes, run, status, metrics."
    )

    def groups(self) -> list[str]:
        """The axes other than the seed: each of their combinations is one group."""
        return [axis for axis in self.axes if axis != SEED_AXIS]


BLOCKS = {"sweep_report": SweepReportParams}
"""Top-level parameter keys this section owns, and the model of each whole block."""
