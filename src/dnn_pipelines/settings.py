"""Project settings: config patterns and hooks (see Kedro's settings.py reference)."""

from kedro.config import OmegaConfigLoader

from dnn_pipelines.hooks import TensorFlowHook
from dnn_pipelines.manifest import RunManifestHook

HOOKS = (TensorFlowHook(), RunManifestHook())

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {"tensorflow": ["tensorflow*", "tensorflow*/**"]},
    # soft: an env (local, test, offline) overrides single keys and keeps the rest.
    "merge_strategy": {"parameters": "soft", "tensorflow": "soft"},
}
