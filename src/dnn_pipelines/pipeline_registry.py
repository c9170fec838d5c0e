"""Project pipelines: one per lesson section, found under `pipelines/`."""

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

# Beyond the lesson and several times the section's training: on request, not by `kedro run`.
OPT_IN = frozenset({"transfer_from_scratch", "sweep_report"})


def register_pipelines() -> dict[str, Pipeline]:
    """Register every pipeline; `__default__` runs the whole lesson (not the opt-in ones)."""
    pipelines = find_pipelines(raise_errors=True)
    lesson = [pipeline for name, pipeline in pipelines.items() if name not in OPT_IN]
    pipelines["__default__"] = sum(lesson, Pipeline([]))
    return pipelines
