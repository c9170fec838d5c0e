"""What `kedro run` is given, checked before Kedro starts: one message per mistake.

Kedro would answer a misspelt pipeline, env, node or runner with a traceback of 60 to 200
lines; these checks name what is wrong, what exists and the closest match instead.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from pathlib import Path
from typing import Any

import click

from dnn_pipelines.errors import UserInputError
from dnn_pipelines.parameters import PIPELINES_PACKAGE
from dnn_pipelines.tracking.store import VERSION_PATTERN

RUNNERS = ("SequentialRunner", "ParallelRunner", "ThreadRunner")


class RunOptionError(UserInputError, ValueError):
    """A `kedro run` option that names something that does not exist."""


def closest(name: str, known: list[str]) -> str:
    """` Did you mean 'x'?` for the nearest known name, or nothing."""
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f" Did you mean '{match[0]}'?" if match else ""


def pipeline_names() -> list[str]:
    """The registered pipelines: one package each under `pipelines/`, and `__default__`."""
    package = importlib.import_module(PIPELINES_PACKAGE)
    return ["__default__", *sorted(m.name for m in pkgutil.iter_modules(package.__path__))]


def check_pipelines(requested: list[str]) -> None:
    known = pipeline_names()
    for name in requested:
        if name not in known:
            raise RunOptionError(
                f"No pipeline named '{name}'.{closest(name, known)} Pipelines: {', '.join(known)}."
            )


def check_env(env: str | None, conf_source: Path) -> None:
    if env is None or (conf_source / env).is_dir():
        return
    envs = sorted(p.name for p in conf_source.iterdir() if p.is_dir() and p.name != "base")
    raise RunOptionError(
        f"No env named '{env}': there is no folder {conf_source / env}.{closest(env, envs)} "
        f"Envs: {', '.join(envs)} (each a folder under {conf_source}; base is always read)."
    )


def check_runner(runner: str | None) -> None:
    if runner is None or "." in runner or runner in RUNNERS:
        return  # a dotted path names a runner class of the user's own
    raise RunOptionError(
        f"No runner named '{runner}'.{closest(runner, list(RUNNERS))} "
        f"Runners: {', '.join(RUNNERS)} (or the dotted path of a runner class)."
    )


def parse_load_versions(_ctx: click.Context, _param: click.Parameter, value: str) -> dict:
    """`--load-versions a:V1,b:V2`, each V a Kedro save version."""
    pins = {}
    for item in filter(None, (part.strip() for part in (value or "").split(","))):
        dataset, _, version = item.partition(":")
        if not dataset or not VERSION_PATTERN.match(version):
            raise click.BadParameter(
                f"'{item}' is not DATASET:VERSION. Expected e.g. "
                "vanishing_gradient.pattern:2026-11-28T13.42.45.150Z; "
                "`kedro versions list DATASET` lists a dataset's versions."
            )
        pins[dataset] = version
    return pins


def check_node_filter(error: ValueError, options: dict[str, Any], pipelines: Any) -> None:
    """Turn Kedro's "Pipeline does not contain nodes named [...]" into names and matches."""
    if "does not contain nodes named" not in str(error):
        return
    names = options.get("pipelines") or [options.get("pipeline") or "__default__"]
    nodes = sorted({node.name for name in names for node in pipelines[name].nodes})
    asked = [
        *(options.get("node_names") or []),
        *(options.get("from_nodes") or []),
        *(options.get("to_nodes") or []),
    ]
    unknown = [name for name in asked if name not in nodes]
    hints = ", ".join(f"'{name}'" for name in unknown)
    matches = "".join(closest(name, nodes) for name in unknown)
    raise RunOptionError(
        f"No node named {hints} in pipeline(s) {', '.join(names)}.{matches} "
        "`kedro registry describe <pipeline>` lists their nodes."
    ) from None
