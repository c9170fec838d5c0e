"""`kedro sweep`: points on a LocalCluster and on Dask's own scheduler and workers, a worker
killed mid-sweep, resume, the report's intervals, and bad sweep files.

The sweep is the lesson's vanishing_gradient on conf/test over four seeds; each point's
outputs must be bitwise those of the same `kedro run` done alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from dnn_pipelines.tracking.store import MANIFEST_DIR, manifest_versions, read_manifest
from tests.conftest import KedroProject, copy_project, stop_group

BIN = Path(sys.executable).parent
ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "250"}
SEEDS = [1, 2, 3, 4]
SWEEP = """
pipelines: [vanishing_gradient]
env: test
axes:
  seed: [1, 2, 3, 4]
  vanishing_gradient.n_units: [{units}]
metrics:
  orders: [vanishing_gradient_metrics, slowdown_orders_of_magnitude]
  loss: [vanishing_gradient_metrics, loss]
"""


def sweep_project(path: Path, units: int = 3, name: str = "tiny") -> KedroProject:
    project = copy_project(path)
    project.write_conf(f"test/sweeps/{name}.yml", SWEEP.format(units=units))
    return project


def kedro(project: KedroProject, *args: str, timeout: float = 600) -> tuple[int, str]:
    """`kedro sweep <args> --env test` (the test sweeps live in conf/test/sweeps)."""
    result = subprocess.run(
        [str(BIN / "kedro"), "sweep", *args, "--env", "test"],
        cwd=project.path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def manifests(project: KedroProject) -> list[dict]:
    """Every complete run manifest, as the project's own listing finds them."""
    return [read_manifest(project.path, v) for v in manifest_versions(project.path)]


def point_outputs(project: KedroProject) -> dict[int, dict[str, str]]:
    """seed -> {output: sha256} of every successful vanishing_gradient run."""
    return {
        m["runtime_params"]["seed"]: {n: e["sha256"] for n, e in m["outputs"].items()}
        for m in manifests(project)
        if m["status"] == "success" and m["pipelines"] == ["vanishing_gradient"]
    }


@pytest.fixture(scope="module")
def alone(tmp_path_factory) -> dict[int, dict[str, str]]:
    """Each point's outputs from a plain `kedro run`, one at a time."""
    project = copy_project(tmp_path_factory.mktemp("alone") / "project")
    for seed in SEEDS:
        project.run(
            ["vanishing_gradient"], params={"seed": seed, "vanishing_gradient": {"n_units": 3}}
        )
    outputs = point_outputs(project)
    assert len({json.dumps(o, sort_keys=True) for o in outputs.values()}) == len(SEEDS)
    return outputs


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory) -> tuple[KedroProject, str]:
    project = sweep_project(tmp_path_factory.mktemp("local") / "project")
    project.write_conf("test/mlflow.yml", "mlflow:\n  enabled: true\n")
    code, output = kedro(project, "run", "tiny", "--workers", "2")
    assert code == 0, output[-3000:]
    return project, output


def test_every_point_equals_the_same_run_done_alone(local_sweep, alone):
    project, output = local_sweep
    assert "Sweep tiny: 4 points, 0 completed earlier, 4 to run" in output
    assert "[4/4 done, 0 failed]" in output
    assert "Dask dashboard: http://127.0.0.1:" in output
    assert point_outputs(project) == alone


def test_the_terminal_shows_progress_not_dask_or_kedro_log_lines(local_sweep):
    _, output = local_sweep
    assert " INFO " not in output, output[:3000]  # e.g. "Start worker at", "Nanny ... closed"


def test_after_a_sweep_the_envs_page_shows_its_report(local_sweep):
    project, _ = local_sweep
    page = (project.data / "08_reporting/latest/test.html").read_text()
    [report] = [m for m in manifests(project) if m["pipelines"] == ["sweep_report"]]
    assert f"run {report['save_version']}" in page  # the sweep's summary figure
    assert page.count("<img") == 1 + 2  # summary.png, and the points' two figures (newest)


def test_the_report_gives_mean_and_t_interval_over_the_seeds(local_sweep):
    project, output = local_sweep
    [report] = [m for m in manifests(project) if m["pipelines"] == ["sweep_report"]]
    version = report["save_version"]
    summary_path = project.data / "08_reporting/sweeps/summary.json" / version / "summary.json"
    summary = json.loads(summary_path.read_text())
    points = {
        m["runtime_params"]["seed"]: m
        for m in manifests(project)
        if m["pipelines"] != ["sweep_report"]
    }
    orders = np.array(
        [
            json.loads(
                (
                    project.path
                    / points[seed]["outputs"]["vanishing_gradient_metrics"]["filepath"]
                    / points[seed]["save_version"]
                    / "vanishing_gradient_metrics.json"
                ).read_text()
            )["slowdown_orders_of_magnitude"]
            for seed in SEEDS
        ]
    )
    half = stats.t.ppf(0.975, 3) * orders.std(ddof=1) / 2  # n = 4, sqrt(4) = 2
    [group] = summary["groups"]
    assert group["group"] == {"vanishing_gradient.n_units": 3}
    shown = group["metrics"]["orders"]
    assert shown["n"] == 4
    assert shown["mean"] == pytest.approx(orders.mean(), rel=1e-12)
    assert shown["ci95_high"] - shown["mean"] == pytest.approx(half, rel=1e-9)
    assert f"orders: {orders.mean():.4g} ± {half:.2g} (95 %, n=4)" in output
    table = (project.data / "08_reporting/sweeps/points.csv" / version / "points.csv").read_text()
    assert table.count("\n") == 1 + len(SEEDS)


def test_the_sweep_is_an_mlflow_parent_run_of_its_points_and_report(local_sweep):
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    project, output = local_sweep
    client = MlflowClient(tracking_uri=f"sqlite:///{project.data / '09_tracking/mlflow.db'}")
    experiment = client.get_experiment_by_name("dnn_pipelines").experiment_id
    [parent] = client.search_runs([experiment], "tags.sweep = 'tiny'")
    assert f"MLflow: sweep run {parent.info.run_id}" in output
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    seeds = sorted(
        run.data.params["seed"] for run in children if run.data.tags["pipelines"] != "sweep_report"
    )
    assert seeds == ["1", "2", "3", "4"]
    assert sum(run.data.tags["pipelines"] == "sweep_report" for run in children) == 1


def test_a_second_invocation_runs_no_point(local_sweep):
    project, _ = local_sweep
    code, output = kedro(project, "run", "tiny", "--workers", "2")
    assert code == 0, output[-3000:]
    assert "Sweep tiny: 4 points, 4 completed earlier, 0 to run" in output
    assert "Dask dashboard" not in output  # no cluster was started


# ---------------------------------------------------------------- Dask's own processes


class DaskCluster:
    """`dask scheduler` and `dask worker` processes on 127.0.0.1, stopped by process id."""

    def __init__(self, folder: Path, workers: int) -> None:
        self.file = folder / "scheduler.json"
        common = {"env": ENV, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.scheduler = subprocess.Popen(
            [
                str(BIN / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(self.file),
            ],
            start_new_session=True,
            **common,
        )
        deadline = time.monotonic() + 60
        while not self.file.exists():
            assert time.monotonic() < deadline, "the scheduler never wrote its file"
            time.sleep(0.2)
        self.workers = [
            subprocess.Popen(
                [
                    str(BIN / "dask"),
                    "worker",
                    "--scheduler-file",
                    str(self.file),
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                ],
                start_new_session=True,
                **common,
            )
            for _ in range(workers)
        ]

    @property
    def address(self) -> str:
        return json.loads(self.file.read_text())["address"]

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            stop_group(process)


@pytest.fixture
def dask_cluster(tmp_path):
    cluster = DaskCluster(tmp_path, workers=2)
    yield cluster
    cluster.stop()


def test_a_real_scheduler_and_workers_run_the_sweep(tmp_path, dask_cluster, alone):
    project = sweep_project(tmp_path / "project")
    code, output = kedro(project, "run", "tiny", "--scheduler", dask_cluster.address)
    assert code == 0, output[-3000:]
    assert "[4/4 done, 0 failed]" in output
    assert point_outputs(project) == alone


def test_a_worker_killed_mid_sweep_loses_and_mixes_nothing(tmp_path, dask_cluster):
    """Slower points (n_units=150) so the kill lands while both workers compute."""
    project = sweep_project(tmp_path / "project", units=150)
    sweep = subprocess.Popen(
        [
            str(BIN / "kedro"),
            "sweep",
            "run",
            "tiny",
            "--env",
            "test",
            "--scheduler",
            dask_cluster.address,
        ],
        cwd=project.path,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    folder = project.path / MANIFEST_DIR
    deadline = time.monotonic() + 300
    while not (folder.exists() and len(list(folder.iterdir())) >= 2):
        assert sweep.poll() is None and time.monotonic() < deadline, "no point started"
        time.sleep(0.1)
    victim = dask_cluster.workers[0]
    os.killpg(victim.pid, signal.SIGKILL)
    output, _ = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, output[-3000:]
    assert "[4/4 done, 0 failed]" in output
    done = point_outputs(project)
    assert sorted(done) == SEEDS
    # A worker killed while its run claimed its version leaves a folder without a manifest.
    claimed = {p.name for p in (project.path / MANIFEST_DIR).iterdir()}
    unwritten = claimed - set(manifest_versions(project.path))
    killed = [m for m in manifests(project) if m["status"] == "running"]
    assert len(killed) + len(unwritten) == 1, "the kill should land inside one point"
    # Dask's nanny starts workers with one BLAS thread; at 150 units the matrix products
    # of a multi-threaded BLAS sum in another order, so the references use one thread too.
    again = copy_project(tmp_path / "again")
    one_thread = {
        name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    }
    for seed in SEEDS:
        subprocess.run(
            [
                str(BIN / "kedro"),
                "run",
                "--env",
                "test",
                "--pipelines",
                "vanishing_gradient",
                "--params",
                f"seed={seed},vanishing_gradient.n_units=150",
            ],
            cwd=again.path,
            env={**ENV, **one_thread},
            capture_output=True,
            check=True,
        )
    assert done == point_outputs(again)


# ---------------------------------------------------------------- bad sweeps


@pytest.mark.parametrize(
    ("sweep", "args", "expected"),
    [
        (
            SWEEP.format(units=3).replace(
                "vanishing_gradient.n_units", "vanishing_gradient.n_unit"
            ),
            [],
            "vanishing_gradient.n_unit: unknown key; did you mean `n_units`?",
        ),
        (SWEEP.format(units=3).replace("[1, 2, 3, 4]", "[]"), [], "Axis 'seed' has no values"),
        (
            SWEEP.format(units=3).replace("[vanishing_gradient]", "[vanishing_gradiant]"),
            [],
            "No pipeline named 'vanishing_gradiant'. Did you mean 'vanishing_gradient'?",
        ),
        (
            SWEEP.format(units=3),
            ["--scheduler", "tcp://127.0.0.1:9"],
            "Cannot reach the Dask scheduler at tcp://127.0.0.1:9",
        ),
        (SWEEP.format(units=3), ["--name-typo"], "No such option '--name-typo'"),
    ],
)
def test_a_bad_sweep_fails_before_any_point_with_one_message(tmp_path, sweep, args, expected):
    project = copy_project(tmp_path / "project")
    project.write_conf("test/sweeps/tiny.yml", sweep)
    code, output = kedro(project, "run", "tiny", *args, timeout=120)
    assert code != 0
    assert expected in output
    assert "Traceback" not in output
    assert not (project.path / MANIFEST_DIR).exists()


def test_an_unknown_sweep_lists_the_sweeps(tmp_path):
    project = sweep_project(tmp_path / "project")
    code, output = kedro(project, "run", "tinyy")
    assert code == 1
    assert "No sweep named 'tinyy'. Did you mean 'tiny'?" in output
    assert "activations_seeds" in output


def test_the_shipped_sweeps_are_valid_and_large_enough(tmp_path):
    project = copy_project(tmp_path / "project")
    code, output = kedro(project, "list")
    assert code == 0, output
    counts = {
        line.split()[0]: int(line.split()[1]) for line in output.splitlines() if "points" in line
    }
    assert counts["activations_seeds"] >= 10
    assert counts["dropout_rates"] == 10  # 5 seeds x two sets of five rates: 0.0 .. 0.9
    assert counts["transfer_offline"] >= 5
    assert counts["vanishing_gradient_seeds"] >= 100
    assert counts["initialization_ks"] >= 10
    for name, count in counts.items():
        code, output = kedro(project, "run", name, "--dry-run")
        assert code == 0 and f"Sweep {name}: {count} points" in output, output[-2000:]


def test_local_workers_share_the_cores_between_their_thread_pools():
    """Two points side by side must not each start thread pools as wide as the machine."""
    from dnn_pipelines.sweeps.runner import connect  # noqa: PLC0415
    from dnn_pipelines.sweeps.spec import SweepSpec  # noqa: PLC0415

    spec = SweepSpec.model_validate(
        {
            "pipelines": ["activations"],
            "axes": {"seed": [0, 1]},
            "metrics": {"relu": ["activations_metrics", "relu", "test_accuracy"]},
        }
    )
    client, cluster = connect(spec, workers=2, scheduler=None)
    try:
        seen = client.run(
            lambda: {
                key: os.environ.get(key) for key in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS")
            }
        )
    finally:
        client.close()
        cluster.close()
    share = str(max(1, (os.cpu_count() or 1) // 2))
    assert list(seen.values()) == [{"TF_NUM_INTRAOP_THREADS": share, "OMP_NUM_THREADS": share}] * 2
