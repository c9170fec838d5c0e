"""mkdocs hook: parameter and settings tables generated from the pydantic models, never
typed by hand.

A page line `<!-- parameters: <top-level key> -->` becomes one table per model of that
parameter block, and `<!-- settings: <file> -->` one per model of a settings file
(tensorflow.yml, mlflow.yml): every field with its type, default and description.
"""

from __future__ import annotations

import re
from typing import Any

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


def _table(path: str, model: type[BaseModel]) -> str:
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        default = "required" if field.default is PydanticUndefined else f"`{field.default!r}`"
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(
            f"| `{path}.{name}` | `{_type(field.annotation)}` | {default} | {description} |"
        )
    doc = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else ""
    return f"**`{path}`** ({model.__name__}): {doc}\n\n" + "\n".join(rows)


def on_page_markdown(markdown: str, **_kwargs: Any) -> str:
    """Replace every marker with the tables of its block."""
    blocks = {"parameters": parameter_blocks(), "settings": SETTINGS}

    def tables(match: re.Match[str]) -> str:
        kind, key = match.groups()
        return "\n\n".join(
            _table(path, model) for path, model in _models(blocks[kind][key], key)
        )

    return MARKER.sub(tables, markdown)
