"""UserErrorsGroup, the click group of `kedro versions` and `kedro sweep`: a user's mistake
ends as one message, a bug keeps its exception, and a closed pipe (`| head`) is no error."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import click
from click.testing import CliRunner

from dnn_pipelines.errors import UserErrorsGroup, UserInputError


class MissingThingError(UserInputError, FileNotFoundError):
    """A user error of the kind the project raises."""


def group_raising(error: BaseException) -> click.Group:
    @click.group(cls=UserErrorsGroup)
    def group() -> None:
        pass

    @group.command()
    def act() -> None:
        raise error

    return group


def test_a_user_error_is_one_message_with_its_type():
    result = CliRunner().invoke(group_raising(MissingThingError("no such run; list them")), ["act"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.output == "Error: MissingThingError: no such run; list them\n"


def test_the_traceback_switch_lets_the_user_error_through(monkeypatch):
    monkeypatch.setenv("DNN_PIPELINES_TRACEBACK", "1")
    result = CliRunner().invoke(group_raising(MissingThingError("no such run")), ["act"])
    assert type(result.exception) is MissingThingError


def test_a_bug_keeps_its_exception():
    result = CliRunner().invoke(group_raising(KeyError("a bug")), ["act"])
    assert type(result.exception) is KeyError


@contextlib.contextmanager
def restored_stdout_and_stderr() -> Iterator[None]:
    """The group points file descriptor 1 at /dev/null: give the test process its own back."""
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    try:
        yield
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)


def is_devnull(fd: int) -> bool:
    found, null = os.fstat(fd), os.stat(os.devnull)
    return (found.st_dev, found.st_ino) == (null.st_dev, null.st_ino)


def test_a_reader_that_left_is_no_error_and_later_output_goes_nowhere():
    with restored_stdout_and_stderr():
        result = CliRunner().invoke(group_raising(BrokenPipeError()), ["act"])
        stdout_is_null, stderr_is_null = is_devnull(1), is_devnull(2)
    assert result.exit_code == 0
    assert result.exception is None
    assert stdout_is_null  # Python's flush of stdout at exit cannot raise again
    assert not stderr_is_null  # errors still reach the terminal
