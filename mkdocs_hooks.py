"""mkdocs hook: parameter and settings tables generated from the pydantic models, never
typed by hand.

A page line `<!-- parameters: <top-level key> -->` becomes one table per model of that
parameter block, and `<!-- settings: <file> -->` one per model of a settings file
(tensorflow.yml, mlflow.yml): every field with its type, default and description.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from dnn_pipelines.parameters import _unwrap, parameter_blocks
from dnn_pipelines.tensorflow_settings import TensorFlowSettings
from dnn_pipelines.tracking.experiments import MlflowSettings

MARKER = re.compile(r"<!-- (parameters|settings): (\S+) -->")
SETTINGS = {"tensorflow": TensorFlowSettings, "mlflow": MlflowSettings}


def _type(annotation: Any) -> str:
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    return text.replace("typing.", "").replace("|", "\\|")


def _models(model: Any, path: str) -> list[tuple[str, type[BaseModel]]]:
    """The model and every model nested in its fields, with their key paths."""
    model = _unwrap(model)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    found = [(path, model)]
    for name, field in model.model_fields.items():
        inner = _unwrap(field.annotation)
        found += _models(inner, f"{path}.{name}")
    return found


BOUNDS = (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))


def _allowed(field: Any) -> str:
    """The field's numeric bounds (pydantic's Ge, Gt, Le, Lt), e.g. `≥ 1, < 1`."""
    bounds = [
        f"{sign} {getattr(item, name)}"
        for item in field.metadata
        for name, sign in BOUNDS
        if getattr(item, name, None) is not None
    ]
    return ", ".join(bounds)


def _value_at(values: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(values, dict) or key not in values:
            return PydanticUndefined
        values = values[key]
    return values


def _table(path: str, model: type[BaseModel], base: Any) -> str:
    """One row per field: type, bounds, the default (conf/base's value for parameters)."""
    rows = [
        "| key | type | allowed | default | description |",
        "|---|---|---|---|---|",
    ]
    for name, field in model.model_fields.items():
        value = _value_at(base, f"{path}.{name}") if base is not None else field.default
        default = "required" if value is PydanticUndefined else f"`{value!r}`"
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(
            f"| `{path}.{name}` | `{_type(field.annotation)}` | {_allowed(field)} | {default} "
            f"| {description} |"
        )
    doc = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else ""
    return f"**`{path}`** ({model.__name__}): {doc}\n\n" + "\n".join(rows)


def _base_parameters() -> dict[str, Any]:
    """conf/base's parameter files, merged: the values a run starts from."""
    values: dict[str, Any] = {}
    for path in sorted(Path("conf/base").glob("parameters*.yml")):
        values |= yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return values


def on_page_markdown(markdown: str, **_kwargs: Any) -> str:
    """Replace every marker with the tables of its block."""
    blocks = {"parameters": parameter_blocks(), "settings": SETTINGS}
    base = {"parameters": _base_parameters(), "settings": None}

    def tables(match: re.Match[str]) -> str:
        kind, key = match.groups()
        return "\n\n".join(
            _table(path, model, base[kind]) for path, model in _models(blocks[kind][key], key)
        )

    return MARKER.sub(tables, markdown)
