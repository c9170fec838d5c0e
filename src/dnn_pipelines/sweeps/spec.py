"""A sweep definition: which pipelines, in which env, over which grid, reporting what.

    # conf/base/sweeps/activations_seeds.yml
    pipelines: [activations]
    axes:
      seed: {start: 0, stop: 10}          # or a list: [0, 1, 2]
      activations.moons.noise: [0.2, 0.3] # any parameter path
    metrics:                              # name: [dataset, key, key, ...] in a JSON output
      relu: [activations_metrics, relu, test_accuracy]
    best: {metrics: [relu, tanh], higher_is_better: true}

Every point of the grid (the product of the axes) is checked against the parameter
tree before any point runs, so an unknown path or a bad value stops the sweep at once.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Annotated, Any

import yaml
from kedro.config import OmegaConfigLoader
from pydantic import Field, ValidationError, model_validator

from dnn_pipelines.errors import UserInputError
from dnn_pipelines.parameters import Strict, describe_validation_error, tree_problems
from dnn_pipelines.run_options import check_pipelines, closest

SEED_AXIS = "seed"


class SweepError(UserInputError, ValueError):
    """A sweep definition or option that cannot run; nothing has run."""


class RangeAxis(Strict):
    """`{start, stop, step}`: the integers of Python's range(start, stop, step)."""

    start: int = 0
    stop: int
    step: int = Field(default=1, ge=1)

    def values(self) -> list[int]:
        return list(range(self.start, self.stop, self.step))


class BestOf(Strict):
    """Count, per group, how often each metric is the best of the list among the seeds."""

    metrics: list[str] = Field(min_length=2)
    higher_is_better: bool = True


class Threshold(Strict):
    """Count how often a metric lies above a threshold (a KS p-value above alpha)."""

    metric: str
    above: float


MetricPath = Annotated[list[str | int], Field(min_length=2)]


class SweepSpec(Strict):
    """One file of conf/<env>/sweeps/."""

    pipelines: list[str] = Field(min_length=1)
    env: str | None = Field(default=None, description="The env every point runs in.")
    axes: dict[str, list[Any] | RangeAxis] = Field(min_length=1)
    metrics: dict[str, MetricPath] = Field(min_length=1)
    best: BestOf | None = None
    thresholds: list[Threshold] = Field(default_factory=list)
    workers: int | None = Field(default=None, ge=1, description="Local worker processes.")
    scheduler: str | None = Field(default=None, description="Address of a Dask scheduler.")

    @model_validator(mode="after")
    def _known_metrics(self) -> SweepSpec:
        named = [*(self.best.metrics if self.best else []), *(t.metric for t in self.thresholds)]
        unknown = [name for name in named if name not in self.metrics]
        if unknown:
            raise ValueError(f"best/thresholds name metrics not in `metrics`: {unknown}")
        return self

    def axis_values(self) -> dict[str, list[Any]]:
        """Each axis as its list of values; an empty axis is an error."""
        values = {}
        for path, axis in self.axes.items():
            values[path] = axis.values() if isinstance(axis, RangeAxis) else list(axis)
            if not values[path]:
                raise SweepError(f"Axis '{path}' has no values: give a list or a non-empty range.")
        return values

    def points(self) -> list[dict[str, Any]]:
        """The grid: one `{parameter path: value}` per point, in a stable order."""
        values = self.axis_values()
        return [
            dict(zip(values, combo, strict=True)) for combo in itertools.product(*values.values())
        ]


def nested(point: dict[str, Any]) -> dict[str, Any]:
    """`{"a.b": 1}` -> `{"a": {"b": 1}}`: the runtime params of one point."""
    params: dict[str, Any] = {}
    for path, value in point.items():
        node = params
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return params


def sweep_files(conf_source: Path, env: str | None) -> dict[str, Path]:
    """Sweep name -> its file; the env's (and local's) files replace base's of the same name."""
    files: dict[str, Path] = {}
    for layer in ("base", "local", env):
        if layer and (conf_source / layer / "sweeps").is_dir():
            files |= {
                path.stem: path for path in sorted((conf_source / layer / "sweeps").glob("*.yml"))
            }
    return files


def load_sweep(conf_source: Path, env: str | None, name: str) -> SweepSpec:
    """The sweep `name`, validated; an unknown name lists the sweeps that exist."""
    files = sweep_files(conf_source, env)
    if name not in files:
        raise SweepError(
            f"No sweep named '{name}'.{closest(name, sorted(files))} "
            f"Sweeps: {', '.join(sorted(files)) or 'none'} (files in {conf_source}/*/sweeps/)."
        )
    try:
        raw = yaml.safe_load(files[name].read_text(encoding="utf-8")) or {}
        return SweepSpec.model_validate(raw)
    except yaml.YAMLError as error:
        raise SweepError(f"{files[name]} is not valid YAML: {error}") from None
    except ValidationError as error:
        raise SweepError(
            f"Invalid sweep {files[name]}:\n{describe_validation_error(error)}"
        ) from None


def check_sweep(spec: SweepSpec, conf_source: Path, env: str | None) -> list[dict[str, Any]]:
    """The points, once the pipelines exist and every point's parameters pass the tree check."""
    try:
        check_pipelines(spec.pipelines)
    except UserInputError as error:
        raise SweepError(str(error)) from None
    loader = OmegaConfigLoader(
        conf_source=str(conf_source),
        base_env="base",
        default_run_env="local",
        env=env,
        merge_strategy={"parameters": "soft"},
    )
    base = dict(loader["parameters"])
    points = spec.points()
    for point in points:
        problems = tree_problems(_merged(base, nested(point)))
        if problems:
            raise SweepError(
                f"Point {point} of the sweep is not a valid run; no point ran:\n"
                + "\n".join(problems)
            )
    return points


def _merged(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged
