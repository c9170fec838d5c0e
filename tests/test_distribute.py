"""tensorflow.yml's `distribute`: mirrored over 2 logical CPUs, and two real workers.

Mirrored training is not bitwise the one-device training, for two reasons measured here:
- every replica reduces its half of a batch, and the gradients are summed across replicas,
  so float32 sums run in another order (relative 1e-7 per step, grown to about 0.5 % of the
  metrics over the lesson's 2 000 dropout steps);
- a Dropout layer draws its mask per replica, for half the batch, from the same seed state:
  with a rate above 0 the masks are another draw, so training takes another random path
  (train MSE within 5 %, the Monte-Carlo band within 4 %, measured with the seed 42).
The tolerances below are about three times those measured differences.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import KedroProject, copy_project

KEDRO = str(Path(sys.executable).with_name("kedro"))
MIRRORED = """tensorflow:
  cpu_logical_devices: 2
  distribute:
    strategy: mirrored
"""
RATES = ("rate_00", "rate_20", "rate_40", "rate_60", "rate_80")
LESSON_EPOCHS = "dropout.training.epochs=1000"


def start_run(project: KedroProject, *args: str) -> subprocess.Popen:
    """`kedro run --env test ...` in a fresh process (devices are fixed at TF start-up)."""
    return subprocess.Popen(
        [KEDRO, "run", "--env", "test", *args],
        cwd=project.path,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 600) -> None:
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    assert process.returncode == 0, output[-3000:]


def run(project: KedroProject, *args: str) -> None:
    finish(start_run(project, *args))


def latest(project: KedroProject, pattern: str) -> Path:
    return sorted(project.data.glob(pattern))[-1]


def dropout_metrics(project: KedroProject) -> dict[str, dict[str, float]]:
    return {
        rate: json.loads(
            latest(project, f"08_reporting/dropout/{rate}/metrics.json/*/*").read_text()
        )
        for rate in RATES
    }


def first_epoch_loss(project: KedroProject, rate: str) -> float:
    pattern = f"07_model_output/dropout/{rate}/loss_history.csv/*/*"
    return float(pd.read_csv(latest(project, pattern))["loss"].iloc[0])


def manifest(project: KedroProject) -> dict:
    return json.loads(latest(project, "09_tracking/run_manifest.json/*/*").read_text())


@pytest.fixture(scope="module")
def one_and_two_devices(tmp_path_factory) -> tuple[KedroProject, KedroProject]:
    """The dropout lesson (1 000 epochs) and transfer, on one device and mirrored on two."""
    one = copy_project(tmp_path_factory.mktemp("one") / "project")
    two = copy_project(tmp_path_factory.mktemp("two") / "project")
    two.write_conf("test/tensorflow.yml", MIRRORED)
    for project in (one, two):
        run(project, "--pipelines", "dropout,transfer", "--params", LESSON_EPOCHS)
    return one, two


def test_the_manifest_records_the_strategy_and_its_replicas(one_and_two_devices):
    one, two = one_and_two_devices
    applied = manifest(two)["tensorflow_applied"]
    assert applied["distribute"] == "mirrored"
    assert [device.rsplit("/", 1)[-1] for device in applied["replicas"]] == [
        "device:CPU:0",
        "device:CPU:1",
    ]
    assert manifest(one)["tensorflow_applied"]["distribute"] == "none"


def test_without_dropout_mirrored_training_differs_only_in_summation_order(one_and_two_devices):
    one, two = one_and_two_devices
    # The first epoch's 2 steps start from the same weights: only the order of sums differs.
    assert first_epoch_loss(two, "rate_00") == pytest.approx(
        first_epoch_loss(one, "rate_00"), rel=1e-5
    )
    single, mirrored = dropout_metrics(one)["rate_00"], dropout_metrics(two)["rate_00"]
    for metric in ("train_mse", "true_mse", "final_loss"):
        assert mirrored[metric] == pytest.approx(single[metric], rel=0.02), metric


def test_with_dropout_mirrored_training_is_another_draw_of_the_same_training(
    one_and_two_devices,
):
    one, two = one_and_two_devices
    single, mirrored = dropout_metrics(one), dropout_metrics(two)
    for rate in RATES[1:]:
        assert mirrored[rate]["train_mse"] == pytest.approx(single[rate]["train_mse"], rel=0.15)
        assert mirrored[rate]["mc_band_width"] == pytest.approx(
            single[rate]["mc_band_width"], rel=0.12
        )
    # Not bitwise: the masks are drawn per replica (the module docstring says why).
    assert mirrored["rate_20"]["train_mse"] != single["rate_20"]["train_mse"]


def test_mirrored_transfer_reports_the_loss_over_all_validation_images(one_and_two_devices):
    """Keras scales a loss by 1/replicas even outside the replicas; the report must not."""
    one, two = one_and_two_devices
    single, mirrored = (
        json.loads(latest(project, "08_reporting/transfer/transfer_metrics.json/*/*").read_text())
        for project in (one, two)
    )
    for phase in ("frozen", "fine_tuned"):
        assert mirrored[phase]["val_loss"] == pytest.approx(single[phase]["val_loss"], rel=1e-3)
        assert mirrored[phase]["val_accuracy"] == single[phase]["val_accuracy"]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for listener in sockets:
        listener.bind(("127.0.0.1", 0))
    ports = [listener.getsockname()[1] for listener in sockets]
    for listener in sockets:
        listener.close()
    return ports


def test_two_multi_worker_mirrored_processes_train_in_lockstep(tmp_path):
    """Two real workers on loopback, each with its own data/: one synchronous training."""
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    projects = []
    for index in range(2):
        project = copy_project(tmp_path / f"worker_{index}")
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        project.write_conf(
            "test/tensorflow.yml",
            "tensorflow:\n  distribute:\n    strategy: multi_worker_mirrored\n"
            f"    tf_config: {json.dumps(tf_config)}\n",
        )
        projects.append(project)
    processes = [start_run(project, "--pipelines", "dropout") for project in projects]
    try:
        for process in processes:
            finish(process, timeout=300)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    first, second = (dropout_metrics(project) for project in projects)
    assert first == second  # the same weights on both workers, step after step
    assert len(manifest(projects[0])["tensorflow_applied"]["replicas"]) == 1  # one per worker
    assert manifest(projects[1])["tensorflow_applied"]["distribute"] == "multi_worker_mirrored"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--runner", "ThreadRunner"),
            "TensorFlowSettingsError: tensorflow.distribute.strategy = mirrored cannot run under "
            "ThreadRunner",
        ),
        (
            ("--params", "dropout.training.batch_size=31"),
            "TensorFlowSettingsError: dropout.training.batch_size = 31 (last batch 2) cannot be "
            "split evenly over the 2 devices",
        ),
    ],
)
def test_a_run_the_strategy_cannot_serve_is_one_message(tmp_path, args, message):
    project = copy_project(tmp_path / "project")
    project.write_conf("test/tensorflow.yml", MIRRORED)
    process = start_run(project, "--pipelines", "dropout", *args)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 1
    assert message in " ".join(output.split())
    assert "Traceback" not in output
