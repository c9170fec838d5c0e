"""tensorflow.yml: validated at start, merged softly across envs, applied only for TF runs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from dnn_pipelines.resources import ResourceBudgetError, parse_budget
from dnn_pipelines.tensorflow_settings import (
    TensorFlowSettings,
    TensorFlowSettingsError,
    parse_tensorflow_settings,
)


def _run_python(code: str) -> str:
    """Run `code` in a fresh interpreter (TensorFlow settings are process-global)."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


def test_base_settings_are_the_documented_defaults(project):
    config = project.context(env="base").config_loader["tensorflow"]
    assert parse_tensorflow_settings(config) == TensorFlowSettings()


def test_env_overrides_one_key_and_keeps_the_rest(project):
    project.write_conf("local/tensorflow.yml", "tensorflow:\n  mixed_precision: mixed_bfloat16\n")
    settings = parse_tensorflow_settings(project.context(env="local").config_loader["tensorflow"])
    assert settings.mixed_precision == "mixed_bfloat16"
    assert settings.gpu.memory_growth is True
    assert settings.deterministic_ops is True


@pytest.mark.parametrize(
    ("yaml_block", "expected"),
    [
        (
            {"mixed_precision": "float64"},
            r"tensorflow\.mixed_precision = 'float64'.*'float32', 'mixed_float16', 'mixed_bfloat16' or 'auto'",
        ),
        (
            {"threads": {"intra_op": -1}},
            r"tensorflow\.threads\.intra_op = -1: Input should be greater than or equal to 0",
        ),
        (
            {"threads": {"inter_op": "many"}},
            r"tensorflow\.threads\.inter_op = 'many': Input should be a valid integer",
        ),
        (
            {"gpu": {"memory_limit_mb": 0}},
            r"tensorflow\.gpu\.memory_limit_mb = 0: Input should be greater than 0",
        ),
        (
            {"gpu": {"memry_growth": True}},
            r"tensorflow\.gpu\.memry_growth = True: Extra inputs are not permitted",
        ),
        ({"deterministic_ops": "sometimes"}, r"tensorflow\.deterministic_ops = 'sometimes'"),
        (
            {"cpu_logical_devices": 0},
            r"tensorflow\.cpu_logical_devices = 0: Input should be greater than or equal to 1",
        ),
        (
            {"distribute": {"strategy": "mirror"}},
            r"tensorflow\.distribute\.strategy = 'mirror'.*'none', 'mirrored' or "
            r"'multi_worker_mirrored'",
        ),
        (
            {"distribute": {"devices": ["/cpu:0"]}},
            r"tensorflow\.distribute.*devices is only read by strategy: mirrored",
        ),
        (
            {"distribute": {"strategy": "mirrored", "tf_config": {"cluster": {}}}},
            r"tensorflow\.distribute.*tf_config is only read by strategy: multi_worker_mirrored",
        ),
    ],
)
def test_each_bad_value_is_rejected_naming_key_and_allowed_values(yaml_block, expected):
    with pytest.raises(TensorFlowSettingsError, match=expected):
        parse_tensorflow_settings({"tensorflow": yaml_block})


def test_a_setting_outside_its_block_is_refused_not_ignored():
    """Read as nothing, `mixed_precision:` without `tensorflow:` above it would leave float32."""
    with pytest.raises(TensorFlowSettingsError) as error:
        parse_tensorflow_settings(
            {"mixed_precision": "auto", "tensorflow": {"threads": {"intra_op": -2}}}
        )
    assert str(error.value) == (
        "Invalid TensorFlow settings in conf/<env>/tensorflow.yml:\n"
        "  - mixed_precision = 'auto': not a block of this file; its settings go under "
        "`tensorflow:`\n"
        "  - tensorflow.threads.intra_op = -2: Input should be greater than or equal to 0"
    )
    with pytest.raises(ResourceBudgetError) as error:
        parse_budget({"memory_mb": 512})
    assert str(error.value) == (
        "Invalid conf/<env>/resources.yml:\n"
        "  - memory_mb = 512: not a block of this file; its settings go under `resources:`"
    )


def test_every_bad_key_is_reported_at_once():
    with pytest.raises(TensorFlowSettingsError) as error:
        parse_tensorflow_settings(
            {"tensorflow": {"mixed_precision": "x", "threads": {"intra_op": -2}}}
        )
    assert str(error.value) == (
        "Invalid TensorFlow settings in conf/<env>/tensorflow.yml:\n"
        "  - tensorflow.mixed_precision = 'x': Input should be 'float32', 'mixed_float16', "
        "'mixed_bfloat16' or 'auto'\n"
        "  - tensorflow.threads.intra_op = -2: Input should be greater than or equal to 0"
    )


def test_bad_settings_stop_the_session_at_start(project):
    project.write_conf("test/tensorflow.yml", "tensorflow:\n  mixed_precision: half\n")
    with pytest.raises(TensorFlowSettingsError, match=r"tensorflow\.mixed_precision = 'half'"):
        project.context(env="test")


def test_settings_are_applied_to_tensorflow():
    applied = _run_python(
        """
        import json
        import tensorflow as tf
        from tensorflow.python.framework import config
        from dnn_pipelines.tensorflow_settings import apply_tensorflow_settings, parse_tensorflow_settings
        settings = parse_tensorflow_settings({"tensorflow": {
            "mixed_precision": "mixed_bfloat16", "threads": {"intra_op": 1, "inter_op": 1}}})
        apply_tensorflow_settings(settings, tf)
        print(json.dumps([
            tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads(),
            tf.keras.mixed_precision.global_policy().name,
            config.is_op_determinism_enabled(),
        ]))
        """
    )
    assert json.loads(applied) == [1, 1, "mixed_bfloat16", True]


def test_gpu_index_that_does_not_exist_is_an_error_naming_the_allowed_ones():
    message = _run_python(
        """
        import tensorflow as tf
        from dnn_pipelines.tensorflow_settings import apply_tensorflow_settings, parse_tensorflow_settings
        n_gpus = len(tf.config.list_physical_devices("GPU"))
        settings = parse_tensorflow_settings({"tensorflow": {"gpu": {"visible_devices": [n_gpus]}}})
        try:
            apply_tensorflow_settings(settings, tf)
        except ValueError as error:
            print(str(error).replace(chr(10), " "))
        """
    )
    assert "tensorflow.gpu.visible_devices" in message
    assert "does not exist" in message
    assert "allowed indices are" in message


def test_hook_does_not_import_tensorflow_for_a_run_without_tensorflow_nodes():
    imported = _run_python(
        """
        import sys
        from kedro.pipeline import Pipeline, node
        from dnn_pipelines.hooks import TensorFlowHook
        pipeline = Pipeline([node(abs, "x", "y", name="numpy_only")])
        TensorFlowHook().before_pipeline_run(run_params={}, pipeline=pipeline)
        print("tensorflow" in sys.modules)
        """
    )
    assert imported == "False"


def test_hook_configures_tensorflow_when_a_tensorflow_node_runs():
    policy = _run_python(
        """
        import sys
        from kedro.pipeline import Pipeline, node
        from dnn_pipelines.hooks import TensorFlowHook
        hook = TensorFlowHook()
        pipeline = Pipeline([node(abs, "x", "y", name="trains", tags=["tensorflow"])])
        hook.before_pipeline_run(run_params={"runner": "SequentialRunner"}, pipeline=pipeline)
        import os
        from tensorflow.python.framework import config
        print(config.is_op_determinism_enabled(), os.environ["KEDRO_MP_CONTEXT"])
        """
    )
    assert policy == "True spawn"


ENV_SETTINGS = """tensorflow:
  mixed_precision: mixed_bfloat16
  threads: {intra_op: 1, inter_op: 3}
  deterministic_ops: false
"""
"""An env whose every applied setting differs from the defaults (float32, 0, 0, true)."""


def test_a_session_applies_the_envs_settings_not_the_defaults(project):
    """A real session on the `test` env, the TensorFlow node in the session's own process."""
    project.write_conf("test/tensorflow.yml", ENV_SETTINGS)
    project.write_conf(
        "test/catalog_seen.yml",
        "seen_0:\n  type: dnn_pipelines.datasets.AtomicJSONDataset\n  filepath: data/seen.json\n",
    )
    _run_python(
        f"""
        from kedro.framework.project import pipelines
        from kedro.framework.session import KedroSession
        from kedro.framework.startup import bootstrap_project
        bootstrap_project({str(project.path)!r})
        pipelines.configure("tests.test_tensorflow_workers")  # nodes that report TF's settings
        with KedroSession.create(project_path={str(project.path)!r}, env="test") as session:
            session.run(node_names=["seen_0"])
        print("done")
        """
    )
    seen = json.loads((project.data / "seen.json").read_text())
    assert (seen["intra_op"], seen["inter_op"]) == (1, 3)
    assert seen["deterministic"] is False
    assert seen["policy"] == "mixed_bfloat16"
    [manifest] = (project.data / "09_tracking" / "run_manifest.json").glob("*/run_manifest.json")
    recorded = json.loads(manifest.read_text())
    assert recorded["tensorflow_applied"]["mixed_precision"] == "mixed_bfloat16"
    assert recorded["tensorflow_settings"]["threads"] == {"intra_op": 1, "inter_op": 3}
    assert recorded["tensorflow_settings"]["deterministic_ops"] is False
