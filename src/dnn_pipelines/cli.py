"""Project CLI: Kedro's own `kedro run`, but a user's mistake reads as one message.

A wrong parameter, a bad tensorflow.yml, a missing or corrupt artifact, a version that
does not exist: these raise errors whose message says what is wrong and how to fix it.
Kedro would print them under pages of traceback; here they end the run with the message
alone (set `DNN_PIPELINES_TRACEBACK=1` to see the traceback too). Anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import os
from typing import Any

import click
from kedro.framework.cli.project import run as kedro_run
from kedro.io.core import DatasetError
from kedro.validation import ParameterValidationError

from dnn_pipelines.errors import UserInputError
from dnn_pipelines.tensorflow_settings import TensorFlowSettingsError
from dnn_pipelines.tracking.cli import versions
from dnn_pipelines.tracking.manifest import RunManifestHook

USER_ERRORS = (DatasetError, ParameterValidationError, TensorFlowSettingsError, UserInputError)


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


def _run(**options: Any) -> None:
    try:
        click.get_current_context().invoke(kedro_run, **options)
    except KeyboardInterrupt:
        raise _interrupted() from None
    except USER_ERRORS as error:
        if os.environ.get("DNN_PIPELINES_TRACEBACK"):
            raise
        raise click.ClickException(f"{type(error).__name__}: {error}") from None


cli.add_command(
    click.Command(
        name="run",
        callback=_run,
        params=kedro_run.params,
        help=kedro_run.help,
        short_help=kedro_run.short_help,
        context_settings=kedro_run.context_settings,
    )
)

cli.add_command(versions)
