"""The project's conf/logging.yml, wherever `kedro` or a notebook starts.

Kedro reads `conf/logging.yml` relative to the working directory. From a subfolder of
the project (`notebooks/`, where `%load_ext kedro.ipython` runs) it falls back to its own
configuration, which logs every dataset load and save. The project settings call
`use_project_logging` when Kedro loads them, once the project is known.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from kedro.framework.project import LOGGING
from kedro.utils import find_kedro_project

LOGGING_FILE = Path("conf") / "logging.yml"


def use_project_logging(cwd: Path) -> Path | None:
    """Configure logging from the project's conf/logging.yml when Kedro missed it.

    Returns the file applied, or None when Kedro already had the right one (started at the
    project's root, or KEDRO_LOGGING_CONFIG set by the user).
    """
    project = find_kedro_project(cwd)
    if os.environ.get("KEDRO_LOGGING_CONFIG") or project is None:
        return None
    path = Path(project) / LOGGING_FILE
    if Path(project).resolve() == cwd.resolve() or not path.is_file():
        return None
    os.environ["KEDRO_LOGGING_CONFIG"] = str(path)  # processes the run starts read it too
    LOGGING.configure(yaml.safe_load(path.read_text(encoding="utf-8")))
    return path
