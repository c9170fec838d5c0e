"""Errors that a user causes and can fix; the CLI shows their message without a traceback."""


class UserInputError(Exception):
    """Base of the project's errors about inputs: missing files, bad settings, bad data.

    Subclass it together with the built-in type that fits (e.g. FileNotFoundError),
    and say in the message what is wrong and how to fix it.
    """
