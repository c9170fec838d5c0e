"""Shared pieces of the typed parameters that Kedro validates before any node runs.

A node annotates its `params:` input with a model from here or a subclass of
`StrictParams`; Kedro 1.x then validates the YAML and passes the instance.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, RootModel

SEED_MAX = 2**32 - 1


class StrictParams(BaseModel):
    """Unknown keys are typos, so they are errors; instances are read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Seed(RootModel[Annotated[int, Field(strict=True, ge=0, le=SEED_MAX)]]):
    """The global `seed` of parameters.yml: an integer numpy and Keras both accept."""

    def __int__(self) -> int:
        return self.root
