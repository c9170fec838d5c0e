"""Reproducible runs of a lesson pipeline (vanishing_gradient, numpy only, seconds to run).

- The same seed from scratch gives the same metrics (and the same arrays, byte for byte).
- A re-run from a stored input version (`from_nodes` + `load_versions`) gives the metrics of
  the run that saved those inputs, even after a later run with another seed.
- A pinned version that does not exist stops the run before any node, naming the dataset,
  the version and the versions that exist.
- Every command of the docs page docs/reproducing.md runs here verbatim, with `kedro` and `python`
  from this virtualenv, in a throwaway copy of the project on its default env.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kedro.io.core import DatasetNotFoundError, VersionNotFoundError

from dnn_pipelines.tracking.store import MANIFEST_DIR, MANIFEST_NAME
from tests.conftest import KedroProject, copy_project

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "reproducing.md"
BIN = Path(sys.executable).parent

TOPIC = "vanishing_gradient"
METRICS = f"data/08_reporting/{TOPIC}/{TOPIC}_metrics.json"
PATTERN = f"data/01_raw/{TOPIC}/pattern.npz"
FIRST_NODE_AFTER_INPUTS = f"{TOPIC}.forward_pass"
STORED_INPUTS = (f"{TOPIC}.pattern", f"{TOPIC}.weights")
MISSING = "2001-01-01T00.00.00.000Z"


def manifest(project: KedroProject, version: str) -> dict[str, Any]:
    return json.loads((project.path / MANIFEST_DIR / version / MANIFEST_NAME).read_text())


def metrics(project: KedroProject, version: str) -> dict[str, Any]:
    return json.loads((project.path / METRICS / version / Path(METRICS).name).read_text())


def run(project: KedroProject, **run_args: Any) -> str:
    """The lesson's part of vanishing_gradient (up to its metrics) on conf/test.

    Returns the run's save version. The grid and the plots are left out: they add time,
    not evidence.
    """
    before = set(versions(project, MANIFEST_DIR.as_posix()))
    project.run([TOPIC], to_outputs=[f"{TOPIC}_metrics"], **run_args)
    (new,) = set(versions(project, MANIFEST_DIR.as_posix())) - before
    return new


def versions(project: KedroProject, relative: str) -> list[str]:
    folder = project.path / relative
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture(scope="module")
def lesson(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Seed 123 twice from scratch, seed 7, then a re-run from the first run's inputs."""
    project = copy_project(tmp_path_factory.mktemp("reproduce") / "project")
    first = run(project)
    second = run(project)
    other_seed = run(project, params={"seed": 7})
    rerun = run(
        project,
        from_nodes=[FIRST_NODE_AFTER_INPUTS],
        load_versions=dict.fromkeys(STORED_INPUTS, first),
    )
    return {
        "project": project,
        "first": first,
        "second": second,
        "other_seed": other_seed,
        "rerun": rerun,
    }


def test_two_runs_from_scratch_with_the_same_seed_give_identical_metrics(lesson):
    project = lesson["project"]
    first, second = metrics(project, lesson["first"]), metrics(project, lesson["second"])
    assert first == second
    assert first["seed"] == 123
    # Not only the metrics: every array and table is the same file, byte for byte.
    outputs = manifest(project, lesson["first"])["outputs"]
    again = manifest(project, lesson["second"])["outputs"]
    assert set(outputs) == set(again)
    assert len(outputs) == 7  # pattern, weights, activations, deltas, gradients, norms, metrics
    for name, entry in outputs.items():
        assert entry["sha256"] == again[name]["sha256"], name


def test_another_seed_gives_other_metrics(lesson):
    project = lesson["project"]
    other = metrics(project, lesson["other_seed"])
    assert other["seed"] == 7
    assert other["gradient_norms"] != metrics(project, lesson["first"])["gradient_norms"]


def test_rerun_from_the_first_runs_stored_inputs_gives_its_metrics(lesson):
    project = lesson["project"]
    # The latest inputs are seed 7's; the pinned ones are the first run's.
    assert metrics(project, lesson["rerun"]) == metrics(project, lesson["first"])
    rerun = manifest(project, lesson["rerun"])
    first = manifest(project, lesson["first"])
    assert rerun["load_versions"] == dict.fromkeys(STORED_INPUTS, lesson["first"])
    assert rerun["filters"]["from_nodes"] == [FIRST_NODE_AFTER_INPUTS]
    for name in STORED_INPUTS:
        assert rerun["inputs"][name] == first["outputs"][name]
    assert not set(STORED_INPUTS) & set(rerun["outputs"])  # the inputs were not regenerated
    assert (
        rerun["outputs"][f"{TOPIC}_metrics"]["sha256"]
        == (first["outputs"][f"{TOPIC}_metrics"]["sha256"])
    )


def test_missing_load_version_stops_before_any_node_naming_what_exists(lesson):
    project = lesson["project"]
    before = versions(project, METRICS), versions(project, MANIFEST_DIR.as_posix())
    with pytest.raises(VersionNotFoundError) as error:
        project.run(
            [TOPIC],
            from_nodes=[FIRST_NODE_AFTER_INPUTS],
            load_versions={f"{TOPIC}.pattern": MISSING},
        )
    message = str(error.value)
    assert f"dataset '{TOPIC}.pattern' has no version '{MISSING}'" in message
    existing = sorted(
        {lesson["first"], lesson["second"], lesson["other_seed"]}, reverse=True
    )  # the re-run saved no pattern
    assert f"Existing versions, newest first: {', '.join(existing)}." in message
    assert (versions(project, METRICS), versions(project, MANIFEST_DIR.as_posix())) == before


def test_load_version_of_an_unknown_dataset_is_named(lesson):
    with pytest.raises(DatasetNotFoundError, match=r"'load_versions' keys \[no_such_data\]"):
        lesson["project"].run([TOPIC], load_versions={"no_such_data": MISSING})


# ---------------------------------------------------------------- the documented commands


def doc_commands() -> list[str]:
    """Every command line of the doc's ```bash blocks (comments and blank lines dropped)."""
    section = DOC.read_text(encoding="utf-8")
    section = section.split("<!-- reproducibility:start -->")[1].split(
        "<!-- reproducibility:end -->"
    )[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    return [re.sub(r"\s+", " ", line).strip() for line in lines if line.strip()[:1] not in "#"]


def first_full_run(manifests: dict[str, dict[str, Any]], pipeline: str | None) -> str:
    """The oldest run of `pipeline` from scratch (any pipeline when None): `<version>`."""
    return min(
        version
        for version, content in manifests.items()
        if pipeline in (None, *content["pipelines"]) and not content["filters"]["from_nodes"]
    )


@pytest.fixture(scope="module")
def documented(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the doc's commands in order on a fresh copy.

    `<version>` stands for the first full run of the pipeline the command names (of any
    pipeline for `versions` commands). For each command the test keeps its result and the
    run manifests that existed before it ran.
    """
    project = copy_project(tmp_path_factory.mktemp("documented") / "project")
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200"}
    results: dict[str, subprocess.CompletedProcess[str]] = {}
    before: dict[str, dict[str, dict[str, Any]]] = {}
    for command in doc_commands():
        manifests = {v: manifest(project, v) for v in versions(project, MANIFEST_DIR.as_posix())}
        before[command] = manifests
        if "<version>" in command:
            named = re.search(r"--pipelines (\w+)", command)
            version = first_full_run(manifests, named.group(1) if named else None)
            command_line = command.replace("<version>", version)
        else:
            command_line = command
        argv = command_line.split()
        argv[0] = {"kedro": str(BIN / "kedro"), "python": sys.executable}.get(argv[0], argv[0])
        results[command] = subprocess.run(
            argv, cwd=project.path, capture_output=True, text=True, env=env, check=False
        )
    prune = next(command for command in results if "prune" in command)
    return {"project": project, "results": results, "before": before, "manifests": before[prune]}


def of(manifests: dict[str, dict[str, Any]], pipeline: str) -> dict[str, dict[str, Any]]:
    return {v: m for v, m in manifests.items() if m["pipelines"] == [pipeline]}


def test_doc_commands_are_the_ones_tested_here():
    commands = doc_commands()
    assert len(commands) == len(set(commands))
    kinds = {
        "kedro run --pipelines vanishing_gradient",
        "kedro run --pipelines vanishing_gradient --params seed=7",
        "kedro run --pipelines activations",
        "kedro versions list vanishing_gradient.pattern",
        "kedro versions list",
        "kedro versions manifest",
        "kedro versions manifest <version>",
        "kedro versions verify",
        "kedro versions prune --keep 3",
        "kedro versions prune --keep 3 --apply",
    }
    assert kinds <= set(commands)
    reruns = [c for c in commands if "--load-versions" in c]
    assert len(reruns) == 4  # from stored inputs, up to a node, a training, a missing version
    assert sum(c.startswith("kedro run --pipelines vanishing_gradient ") for c in reruns) == 3
    assert sum(c.startswith("kedro run --pipelines activations ") for c in reruns) == 1
    assert set(commands) - kinds - set(reruns) == set(), "a doc command no test checks"


def test_doc_commands_all_succeed_but_the_missing_version(documented):
    for command, result in documented["results"].items():
        expected = 1 if MISSING in command else 0
        assert result.returncode == expected, f"{command}\n{result.stderr[-3000:]}"


def test_doc_rerun_from_stored_inputs_reproduces_the_metrics(documented):
    project, manifests = documented["project"], of(documented["manifests"], TOPIC)
    first = first_full_run(manifests, TOPIC)
    by_kind: dict[str, list[str]] = {"full": [], "rerun": [], "up_to": []}
    for version, content in sorted(manifests.items()):
        filters = content["filters"]
        kind = "up_to" if filters["to_nodes"] else "rerun" if filters["from_nodes"] else "full"
        by_kind[kind].append(version)
    assert by_kind["full"][0] == first and len(by_kind["full"]) == 2
    seed_7 = by_kind["full"][1]
    assert manifests[seed_7]["parameters"]["seed"] == 7
    assert metrics(project, seed_7) != metrics(project, first)
    (rerun,) = by_kind["rerun"]
    assert metrics(project, rerun) == metrics(project, first)
    assert manifests[rerun]["inputs"][f"{TOPIC}.pattern"]["version"] == first
    (up_to,) = by_kind["up_to"]
    saved = manifests[up_to]["outputs"]
    assert f"{TOPIC}_metrics" not in saved and f"{TOPIC}.gradient_norms" in saved
    assert manifests[up_to]["inputs"][f"{TOPIC}.weights"]["version"] == first


def test_doc_rerun_of_a_training_reproduces_its_metrics(documented):
    project, manifests = documented["project"], of(documented["manifests"], "activations")
    first = first_full_run(manifests, "activations")
    (rerun,) = [v for v, m in manifests.items() if m["filters"]["from_nodes"]]
    assert manifests[rerun]["filters"]["from_nodes"] == ["activations.relu.train_classifier"]
    assert set(manifests[rerun]["outputs"]) == {
        "activations.relu.model_arrays",
        "activations.relu.training",
        "activations.relu.metrics",
    }
    for name in ("activations.moons", "activations.held_out", "activations.relu.model_spec"):
        assert manifests[rerun]["inputs"][name]["version"] == first

    def relu_metrics(version: str) -> dict[str, Any]:
        path = project.path / "data/08_reporting/activations/relu/metrics.json"
        return json.loads((path / version / "metrics.json").read_text())

    trained, retrained = relu_metrics(first), relu_metrics(rerun)
    assert trained.pop("fit_seconds") > 0 and retrained.pop("fit_seconds") > 0  # wall time
    assert retrained == trained
    arrays = "activations.relu.model_arrays"
    assert (
        manifests[rerun]["outputs"][arrays]["sha256"]
        == (manifests[first]["outputs"][arrays]["sha256"])
    )


def test_doc_missing_version_error_names_dataset_version_and_existing(documented):
    (command,) = [c for c in documented["results"] if MISSING in c]
    result = documented["results"][command]
    text = " ".join((result.stdout + result.stderr).split())
    assert f"dataset '{TOPIC}.pattern' has no version '{MISSING}'" in text
    full = sorted(
        (
            v
            for v, m in of(documented["before"][command], TOPIC).items()
            if not m["filters"]["from_nodes"]
        ),
        reverse=True,
    )
    assert f"Existing versions, newest first: {', '.join(full)}." in text
    assert "Running node" not in text


def test_doc_listing_and_manifest_show_the_run(documented):
    results, before = documented["results"], documented["before"]
    listing = results["kedro versions list vanishing_gradient.pattern"].stdout
    first = first_full_run(documented["manifests"], TOPIC)
    assert listing.startswith(f"{TOPIC}.pattern  ({PATTERN})  2 versions")
    assert first in listing
    everything = results["kedro versions list"].stdout
    assert f"{TOPIC}_metrics  (" in everything and "run_manifest  (" in everything
    command = "kedro versions manifest"
    newest = json.loads(results[command].stdout)
    assert newest["save_version"] == max(before[command])
    shown = json.loads(results["kedro versions manifest <version>"].stdout)
    assert shown["save_version"] == first
    assert shown["pipelines"] == [TOPIC]
    assert shown["env"] == "local"  # `kedro run` without --env
    assert shown["command"].endswith("kedro run --pipelines vanishing_gradient")
    assert shown["parameters_used"]["seed"] == 123


def test_doc_verify_checks_the_newest_run(documented):
    command = "kedro versions verify"
    out = documented["results"][command].stdout
    newest = max(documented["before"][command])
    first = first_full_run(documented["manifests"], TOPIC)
    assert f"ok      {TOPIC}.pattern  (input {first})" in out
    assert f"ok      {TOPIC}.gradient_norms  (output {newest})" in out
    assert f"run {newest}: all 6 file(s) match the manifest" in out


def test_doc_prune_keeps_three_runs_and_what_they_loaded(documented):
    project, results, manifests = (
        documented["project"],
        documented["results"],
        documented["manifests"],
    )
    dry = results["kedro versions prune --keep 3"].stdout
    applied = results["kedro versions prune --keep 3 --apply"].stdout
    first = first_full_run(manifests, TOPIC)
    oldest_manifest = f"{MANIFEST_DIR.as_posix()}/{first}"
    assert f"would delete  {oldest_manifest}  " in dry
    assert "dry run: would free" in dry
    assert f"delete  {oldest_manifest}  " in applied
    assert "freed" in applied
    assert versions(project, MANIFEST_DIR.as_posix()) == sorted(manifests)[-3:]
    # The first run's inputs survive: a kept re-run loaded them.
    assert first in versions(project, PATTERN)
    assert (project.path / METRICS / first).is_dir()
