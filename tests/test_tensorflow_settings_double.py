"""tensorflow.yml applied to a recording stand-in for TensorFlow, in this process.

The real-TensorFlow tests (test_tensorflow_settings.py, test_tensorflow_workers.py) need a
fresh process each and a machine without a GPU reaches none of the GPU branches. Here every
branch runs in milliseconds against a double that records each call and can pretend to
have GPUs of a given compute capability, or a runtime that has already started.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kedro.pipeline import Pipeline, node

from dnn_pipelines import tensorflow_settings
from dnn_pipelines.hooks import TensorFlowHook
from dnn_pipelines.tensorflow_settings import (
    WORKER_SETTINGS_ENV,
    DistributeSettings,
    TensorFlowSettings,
    TensorFlowSettingsError,
    apply_in_worker,
    apply_tensorflow_settings,
    check_runner,
    cpu_flags,
    hand_to_workers,
    make_strategy,
    resolve_precision,
)
from tests.conftest import ConfigContext

CPU = SimpleNamespace(name="/physical_device:CPU:0", device_type="CPU")


def gpu(index: int) -> SimpleNamespace:
    return SimpleNamespace(name=f"/physical_device:GPU:{index}", device_type="GPU")


@dataclass(frozen=True)
class Strategy:
    """What make_strategy built, with the replicas a real strategy reports."""

    kind: str
    devices: tuple[str, ...] | None = None

    @property
    def extended(self) -> SimpleNamespace:
        return SimpleNamespace(worker_devices=self.devices or ("/job:worker/cpu:0",))


class RecordingTensorFlow(SimpleNamespace):
    """The part of `tf` the settings touch; `calls` lists every change, in order."""

    def __init__(
        self,
        gpus: int = 0,
        capabilities: tuple[tuple[int, int] | None, ...] = (),
        started: bool = False,
        threads: tuple[int, int] = (0, 0),
        cpu_configuration: list[Any] | None = None,
    ) -> None:
        calls: list[tuple[Any, ...]] = []
        physical = {"CPU": [CPU], "GPU": [gpu(index) for index in range(gpus)]}
        details = dict(zip([device.name for device in physical["GPU"]], capabilities, strict=False))

        def record(name: str, refuse_when_started: bool = False):
            def call(*args: Any, **kwargs: Any) -> None:
                if refuse_when_started and started:
                    raise RuntimeError(f"{name} cannot be modified after initialization")
                calls.append((name, *args, *kwargs.values()))

            return call

        def list_physical_devices(kind: str | None = None) -> list[SimpleNamespace]:
            return physical[kind] if kind else physical["CPU"] + physical["GPU"]

        def list_logical_devices(kind: str) -> list[SimpleNamespace]:
            return [SimpleNamespace(name=f"/device:{kind}:{i}") for i in range(len(physical[kind]))]

        super().__init__(
            __version__="9.9.9",
            calls=calls,
            config=SimpleNamespace(
                list_physical_devices=list_physical_devices,
                list_logical_devices=list_logical_devices,
                set_visible_devices=record("set_visible_devices"),
                set_logical_device_configuration=record(
                    "set_logical_device_configuration", refuse_when_started=True
                ),
                get_logical_device_configuration=lambda device: {CPU.name: cpu_configuration}[
                    device.name
                ],
                LogicalDeviceConfiguration=lambda memory_limit=None: ("logical", memory_limit),
                experimental=SimpleNamespace(
                    set_memory_growth=record("set_memory_growth"),
                    enable_op_determinism=record("enable_op_determinism"),
                    get_device_details=lambda device: (
                        {"compute_capability": details[device.name]}
                        if details.get(device.name)
                        else {}
                    ),
                ),
                threading=SimpleNamespace(
                    get_intra_op_parallelism_threads=lambda: threads[0],
                    get_inter_op_parallelism_threads=lambda: threads[1],
                    set_intra_op_parallelism_threads=record("set_intra_op", True),
                    set_inter_op_parallelism_threads=record("set_inter_op", True),
                ),
            ),
            keras=SimpleNamespace(
                mixed_precision=SimpleNamespace(set_global_policy=record("set_global_policy"))
            ),
            distribute=SimpleNamespace(
                MirroredStrategy=lambda devices: Strategy("mirrored", tuple(devices)),
                MultiWorkerMirroredStrategy=lambda: Strategy("multi_worker_mirrored"),
                experimental_set_strategy=record("set_strategy"),
            ),
        )


def settings(**values: Any) -> TensorFlowSettings:
    return TensorFlowSettings.model_validate(values)


@pytest.fixture
def settings_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """What applying the settings logs."""
    caplog.set_level(logging.INFO, logger=tensorflow_settings.__name__)
    return caplog


@pytest.fixture
def no_bf16_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """`auto` precision decided by the double's GPUs alone, whatever this CPU has."""
    monkeypatch.setattr(tensorflow_settings, "cpu_flags", lambda: {"avx2", "avx512f"})


# --- GPUs ---------------------------------------------------------------------------------


def test_visible_gpus_in_the_given_order_each_with_memory_growth():
    tf = RecordingTensorFlow(gpus=3)
    apply_tensorflow_settings(settings(gpu={"visible_devices": [2, 0], "memory_growth": False}), tf)
    assert tf.calls[:3] == [
        ("set_visible_devices", [gpu(2), gpu(0)], "GPU"),
        ("set_memory_growth", gpu(2), False),
        ("set_memory_growth", gpu(0), False),
    ]


def test_a_memory_limit_replaces_memory_growth_on_every_gpu():
    tf = RecordingTensorFlow(gpus=2)
    apply_tensorflow_settings(settings(gpu={"memory_limit_mb": 2048}), tf)
    assert tf.calls[:2] == [
        ("set_logical_device_configuration", gpu(0), [("logical", 2048)]),
        ("set_logical_device_configuration", gpu(1), [("logical", 2048)]),
    ]
    assert not [call for call in tf.calls if call[0] == "set_memory_growth"]


def test_gpu_lines_of_the_log(settings_log):
    apply_tensorflow_settings(settings(gpu={"memory_limit_mb": 512}), RecordingTensorFlow(gpus=2))
    apply_tensorflow_settings(settings(), RecordingTensorFlow(gpus=1))
    apply_tensorflow_settings(settings(), RecordingTensorFlow())
    applied = [line for line in settings_log.messages if line.startswith("TensorFlow settings")]
    assert [line.split(";")[: line.count("GPU")] for line in applied[:2]] == [
        [
            "TensorFlow settings applied: /physical_device:GPU:0: memory limit 512 MB",
            " /physical_device:GPU:1: memory limit 512 MB",
        ],
        ["TensorFlow settings applied: /physical_device:GPU:0: memory growth True"],
    ]
    assert applied[2].startswith("TensorFlow settings applied: no GPU found: GPU settings not")


def test_a_gpu_index_past_the_last_names_the_missing_and_the_allowed_ones():
    tf = RecordingTensorFlow(gpus=2)
    with pytest.raises(TensorFlowSettingsError) as raised:
        apply_tensorflow_settings(settings(gpu={"visible_devices": [1, 2, 5]}), tf)
    assert str(raised.value) == (
        "tensorflow.gpu.visible_devices = [1, 2, 5]: GPU index [2, 5] does not exist; this "
        "machine has 2 GPU(s), so the allowed indices are [0, 1] (or null for all)."
    )
    assert tf.calls == []


def test_an_empty_visible_list_hides_every_gpu():
    tf = RecordingTensorFlow(gpus=2)
    apply_tensorflow_settings(settings(gpu={"visible_devices": []}), tf)
    assert tf.calls[0] == ("set_visible_devices", [], "GPU")
    assert not [call for call in tf.calls if call[0] == "set_memory_growth"]


# --- CPU devices and threads --------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "count", "expected"),
    [
        (None, 1, []),
        (None, 3, [("set_logical_device_configuration", CPU, [("logical", None)] * 3)]),
        ([("logical", None)] * 3, 3, []),
        ([("logical", None)] * 3, 1, [("set_logical_device_configuration", CPU, None)]),
        (
            [("logical", None)] * 3,
            2,
            [("set_logical_device_configuration", CPU, [("logical", None)] * 2)],
        ),
    ],
)
def test_cpu_split_into_logical_devices_only_when_it_changes(current, count, expected):
    tf = RecordingTensorFlow(cpu_configuration=current)
    apply_tensorflow_settings(settings(cpu_logical_devices=count), tf)
    assert [call for call in tf.calls if call[0] == "set_logical_device_configuration"] == expected


def test_a_started_runtime_keeps_its_cpu_devices_with_a_warning(
    settings_log,
):
    tf = RecordingTensorFlow(started=True, threads=(2, 2))
    apply_tensorflow_settings(
        settings(cpu_logical_devices=4, threads={"intra_op": 2, "inter_op": 2}), tf
    )
    assert settings_log.messages[1] == (
        "tensorflow.cpu_logical_devices = 4 not applied: TensorFlow already started in this "
        "process with 1; run in a fresh process (kedro run) to change it."
    )
    assert settings_log.records[1].levelname == "WARNING"
    assert "; 1 logical CPU device(s) (unchanged); " in settings_log.messages[2]


@pytest.mark.parametrize(
    ("current", "wanted", "calls", "line"),
    [
        ((0, 0), (0, 0), [], "threads intra_op=0 inter_op=0"),
        (
            (0, 0),
            (2, 3),
            [("set_intra_op", 2), ("set_inter_op", 3)],
            "threads intra_op=2 inter_op=3",
        ),
        (
            (4, 0),
            (4, 1),
            [("set_intra_op", 4), ("set_inter_op", 1)],
            "threads intra_op=4 inter_op=1",
        ),
        (
            (4, 1),
            (1, 1),
            [("set_intra_op", 1), ("set_inter_op", 1)],
            "threads intra_op=1 inter_op=1",
        ),
    ],
)
def test_thread_pools_set_when_they_differ(current, wanted, calls, line, settings_log):
    tf = RecordingTensorFlow(threads=current)
    apply_tensorflow_settings(settings(threads={"intra_op": wanted[0], "inter_op": wanted[1]}), tf)
    assert [call for call in tf.calls if call[0].startswith("set_in")] == calls
    assert f"; {line}; " in settings_log.messages[-1]


def test_a_started_runtime_keeps_its_thread_pools(settings_log):
    tf = RecordingTensorFlow(started=True, threads=(4, 2))
    apply_tensorflow_settings(settings(threads={"intra_op": 1, "inter_op": 1}), tf)
    assert (
        "; threads unchanged (runtime already started with (4, 2)); " in settings_log.messages[-1]
    )


# --- precision, determinism, strategy -----------------------------------------------------


@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_an_explicit_policy_is_kept_whatever_the_hardware(policy, monkeypatch):
    monkeypatch.setattr(tensorflow_settings, "cpu_flags", lambda: {"amx_bf16"})
    assert resolve_precision(policy, RecordingTensorFlow(gpus=1, capabilities=((9, 0),))) == policy


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"avx2", "amx_bf16"}, "mixed_bfloat16"),
        ({"avx512_bf16"}, "mixed_bfloat16"),
        ({"avx512f", "avx512_vnni", "amx_tile"}, "float32"),
        (set(), "float32"),
    ],
)
def test_auto_on_a_cpu_picks_bf16_only_with_native_bf16(flags, expected, monkeypatch):
    monkeypatch.setattr(tensorflow_settings, "cpu_flags", lambda: flags)
    assert resolve_precision("auto", RecordingTensorFlow()) == expected


@pytest.mark.parametrize(
    ("capabilities", "expected"),
    [
        (((8, 0),), "mixed_bfloat16"),
        (((9, 0),), "mixed_bfloat16"),
        (((7, 5),), "float32"),
        (((7, 5), (8, 6)), "mixed_bfloat16"),
        ((None,), "float32"),
    ],
)
def test_auto_on_gpus_picks_bf16_from_compute_capability_8(capabilities, expected, no_bf16_cpu):
    tf = RecordingTensorFlow(gpus=len(capabilities), capabilities=capabilities)
    assert resolve_precision("auto", tf) == expected


def test_cpu_flags_read_from_the_flags_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: flagship flags cpu\nflags\t\t: fpu sse2 amx_bf16\n"
        "bugs\t\t: spectre_v1\n"
    )
    monkeypatch.setattr(
        tensorflow_settings, "Path", lambda path: cpuinfo if path == "/proc/cpuinfo" else Path(path)
    )
    assert cpu_flags() == {"fpu", "sse2", "amx_bf16"}
    cpuinfo.unlink()
    assert cpu_flags() == set()


@pytest.mark.parametrize(("deterministic", "calls"), [(True, 1), (False, 0)])
def test_op_determinism_enabled_only_when_asked(deterministic, calls):
    tf = RecordingTensorFlow()
    apply_tensorflow_settings(settings(deterministic_ops=deterministic), tf)
    assert tf.calls.count(("enable_op_determinism",)) == calls


def test_applied_settings_returned_for_the_manifest_and_logged(no_bf16_cpu, settings_log):
    tf = RecordingTensorFlow(gpus=2, capabilities=((8, 0), (8, 0)))
    applied = apply_tensorflow_settings(
        settings(
            mixed_precision="auto",
            deterministic_ops=False,
            distribute={"strategy": "mirrored", "devices": ["/gpu:0", "/gpu:1"]},
        ),
        tf,
    )
    assert applied == {
        "mixed_precision": "mixed_bfloat16",
        "devices": ["/physical_device:CPU:0", "/physical_device:GPU:0", "/physical_device:GPU:1"],
        "distribute": "mirrored",
        "replicas": ["/gpu:0", "/gpu:1"],
    }
    assert tf.calls[-2:] == [
        ("set_global_policy", "mixed_bfloat16"),
        ("set_strategy", Strategy("mirrored", ("/gpu:0", "/gpu:1"))),
    ]
    assert settings_log.messages == [
        "TensorFlow 9.9.9 devices: /physical_device:CPU:0, /physical_device:GPU:0, "
        "/physical_device:GPU:1",
        "TensorFlow settings applied: /physical_device:GPU:0: memory growth True; "
        "/physical_device:GPU:1: memory growth True; 1 logical CPU device(s); threads "
        "intra_op=0 inter_op=0; precision mixed_bfloat16 (auto); deterministic ops False; "
        "distribute mirrored over /gpu:0, /gpu:1",
    ]


def test_without_a_strategy_the_default_device_is_the_replica(settings_log):
    tf = RecordingTensorFlow()
    applied = apply_tensorflow_settings(settings(mixed_precision="mixed_float16"), tf)
    assert (applied["distribute"], applied["replicas"]) == ("none", ["default device"])
    assert tf.calls[-1] == ("set_strategy", None)
    assert settings_log.messages[-1].endswith(
        "; precision mixed_float16; deterministic ops True; distribute none over default device"
    )


@pytest.mark.parametrize(
    ("gpus", "devices", "expected"),
    [
        (0, None, ["/device:CPU:0"]),
        (2, None, ["/device:GPU:0", "/device:GPU:1"]),
        (2, ["/gpu:1"], ["/gpu:1"]),
    ],
)
def test_mirrored_over_the_named_devices_else_every_gpu_else_the_cpus(gpus, devices, expected):
    distribute = DistributeSettings(strategy="mirrored", devices=devices)
    assert make_strategy(RecordingTensorFlow(gpus=gpus), distribute) == Strategy(
        "mirrored", tuple(expected)
    )


def test_multi_worker_takes_its_cluster_from_the_settings_or_the_environment(monkeypatch):
    cluster = {"cluster": {"worker": ["127.0.0.1:12345"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", "from the environment")
    tf = RecordingTensorFlow()
    kept = make_strategy(tf, DistributeSettings(strategy="multi_worker_mirrored"))
    assert kept == Strategy("multi_worker_mirrored")
    assert os.environ["TF_CONFIG"] == "from the environment"
    make_strategy(tf, DistributeSettings(strategy="multi_worker_mirrored", tf_config=cluster))
    assert json.loads(os.environ["TF_CONFIG"]) == cluster
    assert make_strategy(tf, DistributeSettings()) is None


@pytest.mark.parametrize(
    ("strategy", "runner", "refused"),
    [
        ("mirrored", "kedro.runner.ThreadRunner", True),
        ("multi_worker_mirrored", "ThreadRunner", True),
        ("none", "ThreadRunner", False),
        ("mirrored", "SequentialRunner", False),
        ("mirrored", "ParallelRunner", False),
    ],
)
def test_a_strategy_refuses_the_thread_runner(strategy, runner, refused):
    chosen = settings(distribute={"strategy": strategy})
    if not refused:
        check_runner(chosen, runner)
        return
    with pytest.raises(TensorFlowSettingsError) as raised:
        check_runner(chosen, runner)
    assert str(raised.value) == (
        f"tensorflow.distribute.strategy = {strategy} cannot run under ThreadRunner (a "
        "tf.distribute strategy is current in one thread only); run with the default runner "
        "or --runner ParallelRunner, or set strategy: none."
    )


# --- handed to worker processes -----------------------------------------------------------


@pytest.fixture
def tensorflow_double(monkeypatch: pytest.MonkeyPatch) -> RecordingTensorFlow:
    """What `import tensorflow` gives the hook and the workers during one test."""
    double = RecordingTensorFlow(threads=(1, 1))
    monkeypatch.setitem(sys.modules, "tensorflow", double)
    monkeypatch.delenv(WORKER_SETTINGS_ENV, raising=False)
    return double


def test_a_worker_applies_the_settings_the_run_handed_over(tensorflow_double, monkeypatch):
    handed = settings(threads={"intra_op": 2, "inter_op": 5}, deterministic_ops=False)
    hand_to_workers(handed)
    assert TensorFlowSettings.model_validate_json(os.environ[WORKER_SETTINGS_ENV]) == handed
    apply_in_worker()  # the run's own process: no parent, nothing applied twice
    assert tensorflow_double.calls == []
    monkeypatch.setattr(tensorflow_settings.multiprocessing, "parent_process", object)
    apply_in_worker()
    assert ("set_intra_op", 2) in tensorflow_double.calls
    assert ("enable_op_determinism",) not in tensorflow_double.calls


def test_a_worker_of_a_run_without_tensorflow_applies_nothing(tensorflow_double, monkeypatch):
    monkeypatch.setattr(tensorflow_settings.multiprocessing, "parent_process", object)
    apply_in_worker()
    assert tensorflow_double.calls == []


# --- the hook -----------------------------------------------------------------------------


TF_PIPELINE = Pipeline([node(abs, "x", "y", name="trains", tags=["tensorflow"])])
NUMPY_PIPELINE = Pipeline([node(abs, "x", "y", name="counts", tags=["numpy"])])


def test_the_hook_applies_the_envs_settings_and_releases_the_strategy(
    tensorflow_double, monkeypatch, no_bf16_cpu
):
    monkeypatch.delenv("KEDRO_MP_CONTEXT", raising=False)
    hook = TensorFlowHook()
    yml = {"tensorflow": {"threads": {"intra_op": 1, "inter_op": 3}, "deterministic_ops": False}}
    hook.after_context_created(ConfigContext(tensorflow=yml))
    assert hook.settings == settings(**yml["tensorflow"])
    hook.before_pipeline_run({"runner": "SequentialRunner"}, TF_PIPELINE)
    assert tensorflow_double.calls == [
        ("set_intra_op", 1),
        ("set_inter_op", 3),
        ("set_global_policy", "float32"),
        ("set_strategy", None),
    ]
    assert hook.applied == {
        "mixed_precision": "float32",
        "devices": ["/physical_device:CPU:0"],
        "distribute": "none",
        "replicas": ["default device"],
    }
    assert os.environ["KEDRO_MP_CONTEXT"] == "spawn"
    handed = os.environ[WORKER_SETTINGS_ENV]
    assert TensorFlowSettings.model_validate_json(handed) == hook.settings
    hook.after_pipeline_run()
    hook.on_pipeline_error()
    assert tensorflow_double.calls[-2:] == [("set_strategy", None), ("set_strategy", None)]


def test_the_hook_keeps_a_multiprocessing_context_the_user_chose(tensorflow_double, monkeypatch):
    monkeypatch.setenv("KEDRO_MP_CONTEXT", "forkserver")
    TensorFlowHook().before_pipeline_run({"runner": "ParallelRunner"}, TF_PIPELINE)
    assert os.environ["KEDRO_MP_CONTEXT"] == "forkserver"


def test_the_hook_without_tensorflow_yml_applies_the_defaults(tensorflow_double, no_bf16_cpu):
    hook = TensorFlowHook()
    hook.after_context_created(ConfigContext())
    assert hook.settings == TensorFlowSettings()
    hook.before_pipeline_run({"runner": "SequentialRunner"}, TF_PIPELINE)
    assert tensorflow_double.calls == [
        ("set_intra_op", 0),
        ("set_inter_op", 0),
        ("set_global_policy", "float32"),
        ("enable_op_determinism",),
        ("set_strategy", None),
    ]


def test_the_hook_leaves_tensorflow_alone_for_a_run_without_its_nodes(tensorflow_double):
    hook = TensorFlowHook()
    hook.after_context_created(
        ConfigContext(tensorflow={"tensorflow": {"deterministic_ops": False}})
    )
    hook.before_pipeline_run({"runner": "ThreadRunner"}, NUMPY_PIPELINE)
    hook.after_pipeline_run()
    hook.on_pipeline_error()
    assert (tensorflow_double.calls, hook.applied) == ([], None)
    assert WORKER_SETTINGS_ENV not in os.environ


def test_the_hook_refuses_a_strategy_under_threads_before_touching_tensorflow(
    tensorflow_double,
):
    hook = TensorFlowHook()
    hook.after_context_created(
        ConfigContext(tensorflow={"tensorflow": {"distribute": {"strategy": "mirrored"}}})
    )
    with pytest.raises(TensorFlowSettingsError, match=r"strategy = mirrored cannot run under"):
        hook.before_pipeline_run({"runner": "ThreadRunner"}, TF_PIPELINE)
    assert (tensorflow_double.calls, hook.applied) == ([], None)
    assert WORKER_SETTINGS_ENV not in os.environ


def test_a_hook_that_applied_nothing_releases_nothing(tensorflow_double):
    TensorFlowHook().after_pipeline_run()
    TensorFlowHook().on_pipeline_error()
    assert tensorflow_double.calls == []


def test_a_new_context_forgets_the_last_runs_settings(tensorflow_double, no_bf16_cpu):
    hook = TensorFlowHook()
    hook.after_context_created(ConfigContext())
    hook.before_pipeline_run({"runner": "SequentialRunner"}, TF_PIPELINE)
    hook.after_context_created(
        ConfigContext(tensorflow={"tensorflow": {"deterministic_ops": False}})
    )
    assert hook.applied is None
    hook.after_pipeline_run()
    assert tensorflow_double.calls.count(("set_strategy", None)) == 1
