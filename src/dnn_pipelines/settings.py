"""Project settings: config patterns and hooks (see Kedro's settings.py reference)."""

import warnings
from pathlib import Path

from kedro.config import OmegaConfigLoader

from dnn_pipelines.hooks import MlflowHook, ParametersHook, SummaryHook, TensorFlowHook
from dnn_pipelines.project_logging import use_project_logging
from dnn_pipelines.tracking.manifest import RunManifestHook

use_project_logging(Path.cwd())  # `kedro` started in a subfolder, or a notebook in notebooks/

# Kedro's own config loader calls OmegaConf's deprecated register_new_resolver on every run;
# nothing a user of this project can act on, so it stays out of the run log.
warnings.filterwarnings(
    "ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning
)

_TENSORFLOW_HOOK = TensorFlowHook()
HOOKS = (
    ParametersHook(),
    _TENSORFLOW_HOOK,
    RunManifestHook(tensorflow=_TENSORFLOW_HOOK),
    MlflowHook(),
    SummaryHook(),
)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {
        "tensorflow": ["tensorflow*", "tensorflow*/**"],
        "resources": ["resources*", "resources*/**"],
        "mlflow": ["mlflow*", "mlflow*/**"],
    },
    # soft: an env (local, test, offline) overrides single keys and keeps the rest.
    "merge_strategy": {
        "parameters": "soft",
        "tensorflow": "soft",
        "resources": "soft",
        "mlflow": "soft",
    },
}
