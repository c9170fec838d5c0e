"""Project hooks, thin: they call into the modules that own each concern.

- `ParametersHook`: every parameter key at every depth is known, and the sizes they ask
  for fit the budget, before anything runs;
- `TensorFlowHook`: TensorFlow is configured only for runs that contain a TensorFlow node;
- `MlflowHook`: the finished run, as its manifest records it, becomes an MLflow run.
"""

from __future__ import annotations

import importlib
import logging
import os
from pathlib import Path
from typing import Any

from kedro.config import MissingConfigException
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline

from dnn_pipelines.native_log import filter_native_stderr
from dnn_pipelines.parameters import check_parameter_tree
from dnn_pipelines.resources import ResourceBudget, check_budget, parse_budget
from dnn_pipelines.tensorflow_settings import (
    TENSORFLOW_TAG,
    TensorFlowSettings,
    apply_tensorflow_settings,
    check_runner,
    hand_to_workers,
    parse_tensorflow_settings,
    release_strategy,
)
from dnn_pipelines.tracking.experiments import MlflowSettings, log_run, parse_mlflow_settings
from dnn_pipelines.tracking.latest import IN_SWEEP_ENV, answers_of, write_latest_page
from dnn_pipelines.tracking.store import VersionsError, read_manifest

logger = logging.getLogger(__name__)


def optional_config(context: KedroContext, key: str) -> dict[str, Any]:
    """A settings file (tensorflow.yml, resources.yml, mlflow.yml) or {} without one:
    every setting has a default, so a deleted file is no error."""
    try:
        return dict(context.config_loader[key])
    except MissingConfigException:
        return {}


class ParametersHook:
    """Refuses a run whose parameters hold an unknown key or a refused value anywhere, or
    ask for more memory or disk than `resources.yml` allows, before any node runs.

    Kedro validates only the `params:` inputs of the nodes that run, so a typo in any other
    key (`dropout.trainig.epochs`, `sed`) would be silently ignored.
    """

    def __init__(self) -> None:
        self._parameters: dict[str, Any] = {}
        self._budget = ResourceBudget()
        self._data_dir = Path("data")

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Check conf/base, the env, conf/local and --params, merged, before any node.

        Reads the raw merged config: `context.params` would first run Kedro's own
        validation of every registered pipeline (importing them all).
        """
        self._parameters = dict(context.config_loader["parameters"])
        check_parameter_tree(self._parameters)
        self._budget = parse_budget(optional_config(context, "resources"))
        self._data_dir = Path(context.project_path) / "data"

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, pipeline: Pipeline) -> None:
        """Before the run claims its version: the sections in it must fit the budget; a run
        with TensorFlow nodes gets TensorFlow's native log filtered before it is imported."""
        sections = {node.namespace.split(".")[0] for node in pipeline.nodes if node.namespace}
        check_budget(sections, self._parameters, self._budget, self._data_dir)
        if any(TENSORFLOW_TAG in node.tags for node in pipeline.nodes):
            filter_native_stderr()


class TensorFlowHook:
    """Validates tensorflow.yml when the context is created, applies it before TF nodes run."""

    def __init__(self) -> None:
        self._settings: TensorFlowSettings | None = None
        self._applied: dict[str, Any] | None = None

    @property
    def settings(self) -> TensorFlowSettings | None:
        """The validated tensorflow.yml of the current context (None before one exists)."""
        return self._settings

    @property
    def applied(self) -> dict[str, Any] | None:
        """What the last TensorFlow run applied (`auto` precision resolved), or None."""
        return self._applied

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Fail at start, before any node, when tensorflow.yml holds a bad value."""
        self._settings = parse_tensorflow_settings(optional_config(context, "tensorflow"))
        self._applied = None

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
        check_runner(settings, run_params["runner"])
        hand_to_workers(settings)
        self._applied = apply_tensorflow_settings(settings, importlib.import_module("tensorflow"))

    @hook_impl
    def after_pipeline_run(self) -> None:
        """Leave no strategy behind for the next run in this process (a notebook)."""
        self._release()

    @hook_impl
    def on_pipeline_error(self) -> None:
        """As after a successful run."""
        self._release()

    def _release(self) -> None:
        if self._applied is not None:
            release_strategy(importlib.import_module("tensorflow"))


class MlflowHook:
    """Logs every run to MLflow once its manifest is final (`tracking.experiments`).

    It reads the manifest after the manifest hook wrote it (`trylast`), in the process that
    started the run, so it works under every runner and in sweep workers alike.
    """

    def __init__(self) -> None:
        self._settings = MlflowSettings(enabled=False)
        self._project_path = Path.cwd()

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Validate mlflow.yml at start: a typo there stops the run before any node."""
        self._settings = parse_mlflow_settings(optional_config(context, "mlflow"))
        self._project_path = Path(context.project_path)

    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params: dict[str, Any]) -> None:
        """A successful run."""
        self._log(run_params["run_id"])

    @hook_impl(trylast=True)
    def on_pipeline_error(self, run_params: dict[str, Any]) -> None:
        """A failed run: its manifest lists what it saved before failing."""
        self._log(run_params["run_id"])

    def _log(self, save_version: str) -> None:
        if not self._settings.enabled:
            return
        try:
            manifest = read_manifest(self._project_path, save_version)
        except VersionsError as error:
            logger.warning("No manifest to log to MLflow: %s", error)
            return
        log_run(self._settings, self._project_path, manifest)


class SummaryHook:
    """Ends every successful run with the lesson's answers, computed from this run's metrics,
    and refreshes the env's page of newest results (`tracking.latest`)."""

    def __init__(self) -> None:
        self._project_path = Path.cwd()

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Where the project is."""
        self._project_path = Path(context.project_path)

    @hook_impl(trylast=True)
    def after_pipeline_run(self, run_params: dict[str, Any]) -> None:
        """Log the answers and where the figures are; a failure here costs a warning only."""
        if os.environ.get(IN_SWEEP_ENV):
            return
        try:
            manifest = read_manifest(self._project_path, run_params["run_id"])
            answers = answers_of(self._project_path, manifest["outputs"])
            page = write_latest_page(self._project_path, manifest["env"])
        except Exception as error:  # the run's results stand whatever happens here
            logger.warning("No summary of this run: %s: %s", type(error).__name__, error)
            return
        if answers:
            logger.info("The lesson's questions, answered by this run:")
        for question, answer in answers:
            logger.info("  %s %s", question, answer)
        logger.info(
            "Newest figures and answers of env '%s': %s",
            manifest["env"],
            page.relative_to(self._project_path),
        )
