"""Project hooks: TensorFlow is configured only for runs that contain a TensorFlow node."""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

from dnn_pipelines.tensorflow_settings import (
    TENSORFLOW_TAG,
    TensorFlowSettings,
    apply_tensorflow_settings,
    parse_tensorflow_settings,
)

logger = logging.getLogger(__name__)


class TensorFlowHook:
    """Validates tensorflow.yml when the context is created, applies it before TF nodes run."""

    def __init__(self) -> None:
        self._settings: TensorFlowSettings | None = None

    @property
    def settings(self) -> TensorFlowSettings | None:
        """The validated tensorflow.yml of the current context (None before one exists)."""
        return self._settings

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Fail at start, before any node, when tensorflow.yml holds a bad value."""
        self._settings = parse_tensorflow_settings(context.config_loader["tensorflow"])

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline) -> None:
        """Import and configure TensorFlow only when a node tagged `tensorflow` will run."""
        if not any(TENSORFLOW_TAG in node.tags for node in pipeline.nodes):
            logger.debug("No TensorFlow node in this run: TensorFlow is not imported")
            return
        # TensorFlow's runtime does not survive fork: ParallelRunner workers would hang in a
        # process that has already run TF (a notebook, a second run). Kedro reads this when
        # it starts the workers, after this hook.
        os.environ.setdefault("KEDRO_MP_CONTEXT", "spawn")
        settings = self._settings or TensorFlowSettings()
        apply_tensorflow_settings(settings, importlib.import_module("tensorflow"))
