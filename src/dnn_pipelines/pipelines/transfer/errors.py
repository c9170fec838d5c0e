"""Errors a user can fix in the transfer section's parameters or files."""

from dnn_pipelines.errors import UserInputError


class MissingWeightsError(UserInputError, FileNotFoundError):
    """The configured pretrained weights are neither on disk nor downloadable."""


class TransferConfigError(UserInputError, ValueError):
    """Parameters that are valid one by one but not together, or a weights file that does
    not fit the configured base."""
