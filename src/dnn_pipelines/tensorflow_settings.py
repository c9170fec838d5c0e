"""TensorFlow runtime settings from `conf/<env>/tensorflow.yml`: validated, then applied.

Validation needs no TensorFlow, so a bad value stops any run at start; applying the
settings imports TensorFlow and happens only when a TensorFlow node is about to run.
"""

from __future__ import annotations

import importlib
import json
import logging
import multiprocessing
import os
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from pydantic import Field, model_validator

from dnn_pipelines.parameters import Strict, parse_settings_file

logger = logging.getLogger(__name__)

TENSORFLOW_TAG = "tensorflow"
"""Pipelines tag their TensorFlow nodes with it; runs without one never import TensorFlow."""

PrecisionPolicy = Literal["float32", "mixed_float16", "mixed_bfloat16", "auto"]
StrategyName = Literal["none", "mirrored", "multi_worker_mirrored"]
WORKER_SETTINGS_ENV = "DNN_PIPELINES_TENSORFLOW_SETTINGS"
"""The validated settings, as JSON, for processes a run starts (ParallelRunner's workers)."""
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")
BF16_GPU_CAPABILITY = (8, 0)  # Ampere and newer compute bf16 natively


class GpuSettings(Strict):
    """Which GPUs TensorFlow may use and how it allocates their memory."""

    memory_growth: bool = Field(
        default=True, description="Allocate GPU memory as needed instead of all at start."
    )
    visible_devices: list[int] | None = Field(
        default=None, description="GPU indices to expose; null exposes every GPU found."
    )
    memory_limit_mb: int | None = Field(
        default=None, gt=0, description="A cap per visible GPU in MB (replaces memory growth)."
    )


class ThreadSettings(Strict):
    """Thread pools; 0 lets TensorFlow pick (one per core)."""

    intra_op: int = Field(default=0, ge=0, description="Threads inside one op (0: one per core).")
    inter_op: int = Field(default=0, ge=0, description="Ops run side by side (0: TF's choice).")


class DistributeSettings(Strict):
    """Which tf.distribute strategy the TensorFlow nodes build and train under."""

    strategy: StrategyName = Field(
        default="none",
        description="none: one device; mirrored: every device of one "
        "machine; multi_worker_mirrored: several machines (TF_CONFIG).",
    )
    devices: list[str] | None = Field(
        default=None,
        description="mirrored only: the devices to mirror over, e.g. ['/gpu:0', '/gpu:1']; "
        "null mirrors over every GPU, or every logical CPU when there is no GPU.",
    )
    tf_config: dict[str, Any] | None = Field(
        default=None,
        description="multi_worker_mirrored only: the cluster and this worker's task (the "
        "TF_CONFIG JSON); null reads the TF_CONFIG environment variable.",
    )

    @model_validator(mode="after")
    def _options_match_strategy(self) -> DistributeSettings:
        if self.devices is not None and self.strategy != "mirrored":
            raise ValueError("devices is only read by strategy: mirrored")
        if self.tf_config is not None and self.strategy != "multi_worker_mirrored":
            raise ValueError("tf_config is only read by strategy: multi_worker_mirrored")
        return self


class TensorFlowSettings(Strict):
    """The whole `tensorflow:` block of tensorflow.yml."""

    gpu: GpuSettings = GpuSettings()
    mixed_precision: PrecisionPolicy = Field(
        default="float32",
        description="Keras' precision policy; auto picks mixed_bfloat16 where the hardware "
        "computes bf16 natively (CPU flag amx_bf16 or avx512_bf16, GPU of compute capability "
        "8.0+), float32 elsewhere.",
    )
    threads: ThreadSettings = ThreadSettings()
    deterministic_ops: bool = Field(
        default=True, description="Same seed, same numbers (slightly slower on a GPU)."
    )
    cpu_logical_devices: int = Field(
        default=1,
        ge=1,
        description="Split the CPU into this many logical devices (to mirror over them).",
    )
    distribute: DistributeSettings = DistributeSettings()


class TensorFlowSettingsError(ValueError):
    """A value in tensorflow.yml that cannot be applied."""


def parse_tensorflow_settings(config: dict[str, Any]) -> TensorFlowSettings:
    """Validate the loaded tensorflow.yml, naming every bad key with what is allowed."""
    return parse_settings_file(
        TensorFlowSettings,
        config,
        "tensorflow",
        TensorFlowSettingsError,
        "Invalid TensorFlow settings in conf/<env>/tensorflow.yml",
    )


def _apply_gpu_settings(tf: ModuleType, gpu: GpuSettings) -> list[str]:
    gpus = tf.config.list_physical_devices("GPU")
    if gpu.visible_devices is not None:
        missing = [index for index in gpu.visible_devices if index >= len(gpus)]
        if missing:
            raise TensorFlowSettingsError(
                f"tensorflow.gpu.visible_devices = {gpu.visible_devices}: GPU index "
                f"{missing} does not exist; this machine has {len(gpus)} GPU(s), so the "
                f"allowed indices are {list(range(len(gpus)))} (or null for all)."
            )
        gpus = [gpus[index] for index in gpu.visible_devices]
        tf.config.set_visible_devices(gpus, "GPU")
    if not gpus:
        return ["no GPU found: GPU settings not needed"]
    applied = []
    for device in gpus:
        if gpu.memory_limit_mb is not None:
            tf.config.set_logical_device_configuration(
                device, [tf.config.LogicalDeviceConfiguration(memory_limit=gpu.memory_limit_mb)]
            )
            applied.append(f"{device.name}: memory limit {gpu.memory_limit_mb} MB")
        else:
            tf.config.experimental.set_memory_growth(device, gpu.memory_growth)
            applied.append(f"{device.name}: memory growth {gpu.memory_growth}")
    return applied


def _apply_threads(tf: ModuleType, threads: ThreadSettings) -> str:
    current = (
        tf.config.threading.get_intra_op_parallelism_threads(),
        tf.config.threading.get_inter_op_parallelism_threads(),
    )
    if current == (threads.intra_op, threads.inter_op):
        return f"threads intra_op={threads.intra_op} inter_op={threads.inter_op}"
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads.intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(threads.inter_op)
    except RuntimeError:
        # The runtime of this process is already up (an earlier run in the same
        # process, e.g. a notebook): thread pools can no longer change.
        return f"threads unchanged (runtime already started with {current})"
    return f"threads intra_op={threads.intra_op} inter_op={threads.inter_op}"


def _apply_cpu_devices(tf: ModuleType, count: int) -> str:
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu) or [None]
    if len(current) == count:
        return f"{count} logical CPU device(s)"
    wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(count)] if count > 1 else None
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError:
        # As with the thread pools: a process whose runtime is up keeps its devices.
        logger.warning(
            "tensorflow.cpu_logical_devices = %d not applied: TensorFlow already started in "
            "this process with %d; run in a fresh process (kedro run) to change it.",
            count,
            len(current),
        )
        return f"{len(current)} logical CPU device(s) (unchanged)"
    return f"{count} logical CPU device(s)"


def make_strategy(tf: ModuleType, distribute: DistributeSettings) -> Any:
    """The tf.distribute strategy that `distribute` names (None: TensorFlow's default)."""
    if distribute.strategy == "mirrored":
        devices = distribute.devices or _mirror_devices(tf)
        return tf.distribute.MirroredStrategy(devices=devices)
    if distribute.strategy == "multi_worker_mirrored":
        if distribute.tf_config is not None:
            os.environ["TF_CONFIG"] = json.dumps(distribute.tf_config)
        return tf.distribute.MultiWorkerMirroredStrategy()
    return None


def _mirror_devices(tf: ModuleType) -> list[str]:
    gpus = tf.config.list_logical_devices("GPU")
    return [device.name for device in gpus or tf.config.list_logical_devices("CPU")]


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo; empty elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def resolve_precision(policy: str, tf: ModuleType) -> str:
    """`auto`: mixed_bfloat16 where the hardware computes bf16 natively, else float32.

    On a CPU without bf16 instructions oneDNN emulates bf16 and training is 2.7x slower
    (benchmarks/precision.py), so `auto` must never choose it there.
    """
    if policy != "auto":
        return policy
    if any(flag in cpu_flags() for flag in BF16_CPU_FLAGS):
        return "mixed_bfloat16"
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability and tuple(capability) >= BF16_GPU_CAPABILITY:
            return "mixed_bfloat16"
    return "float32"


def apply_tensorflow_settings(settings: TensorFlowSettings, tf: ModuleType) -> dict[str, Any]:
    """Apply `settings` to the TensorFlow module `tf`; log devices and choices, one line each.

    Returns what was applied (`auto` resolved), for the run manifest.
    """
    devices = [device.name for device in tf.config.list_physical_devices()]
    logger.info("TensorFlow %s devices: %s", tf.__version__, ", ".join(devices))
    gpu_lines = _apply_gpu_settings(tf, settings.gpu)
    cpu_line = _apply_cpu_devices(tf, settings.cpu_logical_devices)
    thread_line = _apply_threads(tf, settings.threads)
    precision = resolve_precision(settings.mixed_precision, tf)
    tf.keras.mixed_precision.set_global_policy(precision)
    if settings.deterministic_ops:
        tf.config.experimental.enable_op_determinism()
    strategy = make_strategy(tf, settings.distribute)
    tf.distribute.experimental_set_strategy(strategy)
    replicas = list(strategy.extended.worker_devices) if strategy else ["default device"]
    logger.info(
        "TensorFlow settings applied: %s; %s; %s; precision %s%s; deterministic ops %s; "
        "distribute %s over %s",
        "; ".join(gpu_lines),
        cpu_line,
        thread_line,
        precision,
        " (auto)" if settings.mixed_precision == "auto" else "",
        settings.deterministic_ops,
        settings.distribute.strategy,
        ", ".join(replicas),
    )
    return {
        "mixed_precision": precision,
        "devices": devices,
        "distribute": settings.distribute.strategy,
        "replicas": replicas,
    }


def check_runner(settings: TensorFlowSettings, runner: str) -> None:
    """A strategy is current in one thread only: ThreadRunner's nodes would not see it."""
    if settings.distribute.strategy != "none" and "ThreadRunner" in runner:
        raise TensorFlowSettingsError(
            f"tensorflow.distribute.strategy = {settings.distribute.strategy} cannot run under "
            "ThreadRunner (a tf.distribute strategy is current in one thread only); run with "
            "the default runner or --runner ParallelRunner, or set strategy: none."
        )


def release_strategy(tf: ModuleType) -> None:
    """Make TensorFlow's default strategy current again."""
    tf.distribute.experimental_set_strategy(None)


def hand_to_workers(settings: TensorFlowSettings) -> None:
    """Leave the settings where the processes this run starts will find them."""
    os.environ[WORKER_SETTINGS_ENV] = settings.model_dump_json()


def apply_in_worker() -> None:
    """In a worker process of a TensorFlow run (ParallelRunner runs no hooks there): apply
    the settings the run handed over, before any node imports TensorFlow."""
    if WORKER_SETTINGS_ENV not in os.environ or multiprocessing.parent_process() is None:
        return
    settings = TensorFlowSettings.model_validate_json(os.environ[WORKER_SETTINGS_ENV])
    apply_tensorflow_settings(settings, importlib.import_module("tensorflow"))
