"""Project CLI: Kedro's own `kedro run` where a user's mistake reads as one message,
and the project's commands (`kedro versions`).

A misspelt pipeline, env, node or runner, a malformed `--load-versions`, a YAML syntax
error, an unknown or bad parameter, a bad tensorflow.yml, a missing or corrupt artifact,
a version that does not exist, a full or read-only disk: each ends the run with one
message that says what is wrong and how to fix it (`DNN_PIPELINES_TRACEBACK=1` shows the
traceback too). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import click
from kedro.config import MissingConfigException
from kedro.framework.cli.project import run as kedro_run
from kedro.io.core import DatasetError
from kedro.validation import ParameterValidationError
from yaml import MarkedYAMLError

from dnn_pipelines.errors import UserInputError
from dnn_pipelines.run_options import (
    check_env,
    check_node_filter,
    check_pipelines,
    check_runner,
    parse_load_versions,
)
from dnn_pipelines.sweeps.cli import sweep
from dnn_pipelines.tensorflow_settings import TensorFlowSettingsError
from dnn_pipelines.tracking.cli import versions
from dnn_pipelines.tracking.manifest import RunManifestHook

USER_ERRORS = (
    DatasetError,
    MissingConfigException,
    ParameterValidationError,
    TensorFlowSettingsError,
    UserInputError,
)


@click.group(name="dnn_pipelines")
def cli() -> None:
    """Commands of the dnn_pipelines project."""


def _interrupted() -> click.exceptions.Exit:
    """Ctrl-C: the run's manifest says `interrupted`; exit 130 as shells expect."""
    from dnn_pipelines.settings import HOOKS  # noqa: PLC0415 - the instances Kedro runs

    for hook in HOOKS:
        if isinstance(hook, RunManifestHook):
            hook.interrupt_open_runs()
    click.echo("Interrupted: the run manifest records what was saved so far.", err=True)
    return click.exceptions.Exit(130)


def _yaml_message(error: Exception) -> str | None:
    """File, line and column of a YAML syntax error in conf/ (Kedro keeps them in the cause)."""
    cause = error.__cause__
    if not isinstance(cause, MarkedYAMLError) or cause.problem_mark is None:
        return None
    mark = cause.problem_mark
    found = re.search(r"file (\S+), unable", str(error))
    where = found.group(1) if found else mark.name
    return (
        f"YAML syntax error in {where}, line {mark.line + 1}, column {mark.column + 1}: "
        f"{cause.problem}{f' ({cause.context})' if cause.context else ''}."
    )


def _check_options(options: dict[str, Any]) -> None:
    from kedro.utils import find_kedro_project  # noqa: PLC0415 - as Kedro finds it

    project = find_kedro_project(Path.cwd()) or Path.cwd()
    conf_source = Path(options.get("conf_source") or project / "conf")
    check_pipelines([*(options.get("pipelines") or []), *filter(None, [options.get("pipeline")])])
    check_env(options.get("env") or os.environ.get("KEDRO_ENV"), conf_source)
    check_runner(options.get("runner"))


def _run(**options: Any) -> None:
    try:
        _check_options(options)
        try:
            click.get_current_context().invoke(kedro_run, **options)
        except ValueError as error:
            from kedro.framework.project import pipelines  # noqa: PLC0415

            check_node_filter(error, options, pipelines)
            raise
    except KeyboardInterrupt:
        raise _interrupted() from None
    except USER_ERRORS as error:
        if os.environ.get("DNN_PIPELINES_TRACEBACK"):
            raise
        raise click.ClickException(f"{type(error).__name__}: {error}") from None
    except Exception as error:
        message = _yaml_message(error)
        if message is None or os.environ.get("DNN_PIPELINES_TRACEBACK"):
            raise
        raise click.ClickException(message) from None


def _run_params() -> list[click.Parameter]:
    """Kedro's own options, with `--load-versions` checked for its format as it is parsed."""
    params = []
    for param in kedro_run.params:
        if param.name == "load_versions":
            param = copy.copy(param)  # noqa: PLW2901 - Kedro's own stays untouched
            param.callback = parse_load_versions
        params.append(param)
    return params


cli.add_command(
    click.Command(
        name="run",
        callback=_run,
        params=_run_params(),
        help=kedro_run.help,
        short_help=kedro_run.short_help,
        context_settings=kedro_run.context_settings,
    )
)

cli.add_command(versions)
cli.add_command(sweep)
