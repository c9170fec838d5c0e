"""Shared pieces of the typed parameters that Kedro validates before any node runs.

A node annotates its `params:` input with a model from here or a subclass of
`StrictParams`; Kedro 1.x then validates the YAML and passes the instance.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from types import UnionType
from typing import Annotated, Any, Literal, Self, Union, get_args, get_origin

from kedro.validation import ParameterValidationError
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

from dnn_pipelines.errors import UserInputError

SEED_MAX = 2**32 - 1
PIPELINES_PACKAGE = "dnn_pipelines.pipelines"


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
    """Unknown keys are typos, so they are errors; instances are read-only; no float is
    infinite or NaN (`.inf` passes YAML, then breaks scikit-learn or a plot far later)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


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


class ParameterTreeError(UserInputError, ParameterValidationError):
    """Parameter keys that no section knows, or values its models refuse."""


def parameter_blocks() -> dict[str, Any]:
    """Every top-level parameter key and the model of its whole block.

    Each section's `params.py` declares `BLOCKS`; only those modules are imported (pydantic
    alone), so the check costs no section's heavy imports. A pipeline registry configured
    in place of the project's (`kedro.framework.project.pipelines.configure`) may declare
    `BLOCKS` of its own.
    """
    from kedro.framework.project import pipelines  # noqa: PLC0415

    registry = pipelines._pipelines_module  # the configured registry module's name
    blocks: dict[str, Any] = {"seed": Seed}
    if registry:
        blocks |= getattr(importlib.import_module(registry), "BLOCKS", {})
    package = importlib.import_module(PIPELINES_PACKAGE)
    for module in pkgutil.iter_modules(package.__path__):
        try:
            params = importlib.import_module(f"{PIPELINES_PACKAGE}.{module.name}.params")
        except ModuleNotFoundError:
            continue  # a pipeline package without parameters of its own
        blocks |= getattr(params, "BLOCKS", {})
    return blocks


def _unwrap(annotation: Any) -> Any:
    """The model or container inside `X | None`, `Annotated[X, ...]` and RootModels."""
    while True:
        if get_origin(annotation) in (Union, UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            annotation = options[0] if len(options) == 1 else annotation
            if len(options) != 1:
                return annotation
        elif get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        elif isinstance(annotation, type) and issubclass(annotation, RootModel):
            annotation = annotation.model_fields["root"].annotation
        else:
            return annotation


def keys_at(model: Any, path: tuple[Any, ...]) -> list[str]:
    """The keys a model allows at `path` inside its block ([] where any key goes)."""
    annotation = _unwrap(model)
    for part in path:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return []
            annotation = _unwrap(field.annotation)
        elif get_origin(annotation) is dict:
            annotation = _unwrap(get_args(annotation)[1])
        else:
            return []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    if get_origin(annotation) is dict:
        key_type = _unwrap(get_args(annotation)[0])
        return [str(key) for key in get_args(key_type)] if get_origin(key_type) is Literal else []
    return []


def _did_you_mean(key: str, known: list[str], missing: tuple[str, ...] = ()) -> str:
    """`; did you mean ...?`: a missing key first (the typo usually is the missing one)."""
    close = difflib.get_close_matches(key, list(missing), n=1, cutoff=0.5) or (
        difflib.get_close_matches(key, known, n=1, cutoff=0.5)
    )
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"{hint} Known keys here: {', '.join(known)}" if known else hint


def tree_problems(parameters: dict[str, Any]) -> list[str]:
    """One line per unknown key or refused value, anywhere in the parameter tree."""
    blocks = parameter_blocks()
    problems = [
        f"  - {key}: missing (a parameters file under conf/base defines it; was it deleted?)"
        for key in sorted(set(blocks) - set(parameters))
    ]
    for key, block in sorted(parameters.items()):
        model = blocks.get(key)
        if model is None:
            problems.append(f"  - {key}: unknown parameter{_did_you_mean(key, sorted(blocks))}")
            continue
        try:
            model.__pydantic_validator__.validate_python(block)
        except ValidationError as error:
            unknown: list[tuple[Any, ...]] = []
            absent = [item["loc"] for item in error.errors() if item["type"] == "missing"]
            misspelt = {
                tuple(part for part in item["loc"] if part != "[key]")[:-1]
                for item in error.errors()
                if item["type"] == "extra_forbidden" or "[key]" in item["loc"]
            }
            for item in error.errors():
                loc = tuple(part for part in item["loc"] if part != "[key]")
                path = key + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
                if any(loc[: len(bad)] == bad for bad in unknown) or (
                    item["type"] == "missing" and loc[:-1] in misspelt
                ):
                    continue  # an unknown entry's fields, or a key a typo beside it stands for
                if item["type"] == "extra_forbidden" or "[key]" in item["loc"]:
                    unknown.append(loc)
                    known = keys_at(model, loc[:-1])
                    missing = tuple(str(a[-1]) for a in absent if a[:-1] == loc[:-1])
                    hint = _did_you_mean(str(loc[-1]), known, missing)
                    problems.append(f"  - {path}: unknown key{hint}")
                else:
                    given = "missing" if item["type"] == "missing" else repr(item.get("input"))
                    problems.append(f"  - {path} = {given}: {item['msg']}")
    return problems


def check_parameter_tree(parameters: dict[str, Any]) -> None:
    """Refuse the run when any key at any depth is unknown or any value invalid."""
    problems = tree_problems(parameters)
    if problems:
        raise ParameterTreeError(
            f"{len(problems)} parameter problem(s); nothing ran:\n"
            + "\n".join(problems)
            + "\nFix them in conf/<env>/parameters*.yml or in --params."
        )


def parse_settings_file(
    model: type[Strict], config: dict[str, Any], key: str, error: type[Exception], title: str
) -> Any:
    """Validate the `key:` block of a settings file (tensorflow.yml, resources.yml,
    mlflow.yml); raise `error` with `title` and every bad key, without a traceback.

    A key beside the block (`memory_mb:` written without `resources:` above it) is an error
    too: read as nothing, it would silently leave the default in place.
    """
    problems = [
        f"  - {name} = {value!r}: not a block of this file; its settings go under `{key}:`"
        for name, value in config.items()
        if name != key
    ]
    try:
        settings = model.model_validate(config.get(key, {}))
    except ValidationError as problem:
        problems.append(describe_validation_error(problem, key))
    if problems:
        raise error(f"{title}:\n" + "\n".join(problems))
    return settings
