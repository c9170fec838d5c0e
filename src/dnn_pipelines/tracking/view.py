"""What a notebook shows: for each artifact, the newest version a run of its env wrote.

Kedro's "latest" is the newest version folder of any env, future-dated ones included: a
notebook on the default env would show the offline env's transfer results. `EnvView`
reads through the same rule as a run's pins, and remembers which run each artifact came
from, so the notebook can say what it shows.
"""

from __future__ import annotations

from typing import Any

from dnn_pipelines.tracking.pins import newest_in_env


class EnvView:
    """Load the artifacts of one env's runs from a Kedro context (`%load_ext kedro.ipython`)."""

    def __init__(self, context: Any) -> None:
        self.env: str = context.env or context.config_loader.default_run_env
        self._catalog = context.catalog
        self._project_path = context.project_path
        self.shown: dict[str, str] = {}
        """Dataset -> the version (the save version of the run that wrote it) shown."""

    def load(self, name: str) -> Any:
        """The newest version of `name` written by a run of this env."""
        version = newest_in_env(name, self._catalog.get(name), self._project_path, self.env)
        self.shown[name] = version
        return self._catalog.load(name, version=version)
