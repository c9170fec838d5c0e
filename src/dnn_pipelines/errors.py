"""Errors that a user causes and can fix; the CLI shows their message without a traceback."""

from __future__ import annotations

import os

import click


class UserInputError(Exception):
    """Base of the project's errors about inputs: missing files, bad settings, bad data.

    Subclass it together with the built-in type that fits (e.g. FileNotFoundError),
    and say in the message what is wrong and how to fix it.
    """


class UserErrorsGroup(click.Group):
    """A click group whose subcommands end a `UserInputError` with its message alone.

    `DNN_PIPELINES_TRACEBACK=1` keeps the traceback; any other exception keeps it anyway.
    """

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except UserInputError as error:
            if os.environ.get("DNN_PIPELINES_TRACEBACK"):
                raise
            raise click.ClickException(f"{type(error).__name__}: {error}") from None
        except BrokenPipeError:  # `... | head`: the reader left, not an error
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            return None
