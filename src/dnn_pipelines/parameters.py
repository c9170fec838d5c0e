"""Shared pieces of the typed parameters that Kedro validates before any node runs.

A node annotates its `params:` input with a model from here or a subclass of
`StrictParams`; Kedro 1.x then validates the YAML and passes the instance.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

SEED_MAX = 2**32 - 1


def describe_validation_error(error: ValidationError, prefix: str = "") -> str:
    """One line per bad key: its path (`rates[2]`), the value given and what is allowed."""
    lines = []
    for item in error.errors():
        path = prefix
        for part in item["loc"]:
            path += f"[{part}]" if isinstance(part, int) else f"{'.' if path else ''}{part}"
        given = "missing" if item["type"] == "missing" else repr(item.get("input"))
        lines.append(f"  - {path or '<value>'} = {given}: {item['msg']}")
    return "\n".join(lines)


class Strict(BaseModel):
    """Unknown keys are typos, so they are errors; instances are read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StrictParams(Strict):
    """A node's typed `params:` input: `Strict`, with every bad key in one readable list."""

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Validate like pydantic, but report every bad key in one readable list."""
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as error:
            raise ValueError(
                f"{error.error_count()} invalid value(s):\n{describe_validation_error(error)}"
            ) from None


class Seed(RootModel[Annotated[int, Field(strict=True, ge=0, le=SEED_MAX)]]):
    """The global `seed` of parameters.yml: an integer numpy and Keras both accept."""

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> Self:
        """Validate like pydantic, with the same one-line report as `StrictParams`."""
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as error:
            raise ValueError(describe_validation_error(error, "seed").lstrip(" -")) from None

    def __int__(self) -> int:
        return self.root
