"""tensorflow.yml reaches every process that runs a TensorFlow node, and `auto` precision."""

from __future__ import annotations

import json
import platform
from typing import Any

import pytest
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.pipeline import Node, Pipeline
from kedro.runner import ParallelRunner

from dnn_pipelines import tensorflow_settings
from dnn_pipelines.tensorflow_settings import TENSORFLOW_TAG
from tests.conftest import copy_project

SETTINGS = """tensorflow:
  mixed_precision: mixed_bfloat16
  threads: {intra_op: 1, inter_op: 1}
  deterministic_ops: false
  cpu_logical_devices: 2
  distribute: {strategy: mirrored}
"""


def settings_seen(_seed: int) -> dict[str, Any]:
    """What TensorFlow is configured with in the process that runs this node."""
    import os  # noqa: PLC0415

    import tensorflow as tf  # noqa: PLC0415
    from tensorflow.python.framework import config as tf_config  # noqa: PLC0415

    return {
        "pid": os.getpid(),
        "policy": tf.keras.mixed_precision.global_policy().name,
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        "deterministic": tf_config.is_op_determinism_enabled(),  # no public getter
        "cpus": len(tf.config.list_logical_devices("CPU")),
        "replicas": tf.distribute.get_strategy().num_replicas_in_sync,
    }


def register_pipelines() -> dict[str, Pipeline]:
    """Two TensorFlow nodes, so ParallelRunner starts worker processes for them."""
    nodes = [
        Node(settings_seen, "params:seed", f"seen_{i}", name=f"seen_{i}", tags=[TENSORFLOW_TAG])
        for i in range(2)
    ]
    return {"__default__": Pipeline(nodes)}


def test_parallel_runner_workers_apply_the_envs_tensorflow_settings(tmp_path):
    project = copy_project(tmp_path / "project")
    project.write_conf("test/tensorflow.yml", SETTINGS)
    project.write_conf(
        "test/catalog_seen.yml",
        "".join(
            f"seen_{i}:\n  type: dnn_pipelines.datasets.AtomicJSONDataset\n"
            f"  filepath: data/seen_{i}.json\n"
            for i in range(2)
        ),
    )
    bootstrap_project(project.path)
    pipelines.configure(__name__)
    try:
        with KedroSession.create(project_path=project.path, env="test") as session:
            session.run(runner=ParallelRunner(max_workers=2))
    finally:
        pipelines.configure("dnn_pipelines.pipeline_registry")
    seen = [json.loads((project.data / f"seen_{i}.json").read_text()) for i in range(2)]
    for worker in seen:
        assert worker["pid"] != __import__("os").getpid()  # ran in a worker process
        assert worker["policy"] == "mixed_bfloat16"
        assert (worker["intra_op"], worker["inter_op"]) == (1, 1)
        assert worker["deterministic"] is False
        assert (worker["cpus"], worker["replicas"]) == (2, 2)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"avx512f", "avx512_vnni"}, "float32"),  # AVX-512 without bf16: emulated, slower
        ({"avx512f", "avx512_bf16"}, "mixed_bfloat16"),
        ({"amx_tile", "amx_bf16"}, "mixed_bfloat16"),
        (set(), "float32"),
    ],
)
def test_auto_precision_follows_the_hardware(monkeypatch, flags, expected):
    class NoGpu:
        class config:  # noqa: N801 - the shape of tf.config
            @staticmethod
            def list_physical_devices(kind: str) -> list:
                return []

    monkeypatch.setattr(tensorflow_settings, "cpu_flags", lambda: flags)
    assert tensorflow_settings.resolve_precision("auto", NoGpu) == expected
    assert tensorflow_settings.resolve_precision("float32", NoGpu) == "float32"


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x86 lists `flags`")
def test_the_cpu_flags_are_read_from_proc_cpuinfo():
    assert {"fpu", "sse2"} <= tensorflow_settings.cpu_flags()  # every x86_64 has both
