"""Time each lesson section as a Kedro pipeline against two plain scripts of the same work.

For every section, A (the pipeline: `kedro run --pipelines NAME` on conf/base, a whole
process, in a throwaway copy of the project), B (benchmarks/baseline.py NAME, a
straightforward rewrite) and C (benchmarks/lesson_code.py NAME, the notebook's own cells),
each a fresh process, run interleaved, A B C A B C ..., `--repeat` times. Reported per
side: median wall time, CPU time and peak RSS; per round the ratios A/B and A/C, then their
medians. Ratios from one session are the figures to quote: the machine is shared and noisy.

    python benchmarks/run.py --repeat 3 --sections dropout transfer --update-docs

Every run writes benchmarks/results/<UTC stamp>.json; the table (printed, and written into the
docs/benchmarks.md with --update-docs) shows the newest result of every benchmark.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
DOC = REPO / "docs" / "benchmarks.md"
DOC_START, DOC_END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"

RANDOM_WEIGHTS = ["--params", "transfer.base_model.weights=random"]

# The plain-script sides, each `python benchmarks/<script> SECTION`; the pipeline's wall
# time is divided by each of theirs.
SCRIPTS = {"baseline": "baseline.py", "lesson_code": "lesson_code.py"}
SIDES = ("pipeline", *SCRIPTS)
MEASURES = ("wall_s", "cpu_s", "peak_rss_mb")

Verdict = Callable[[dict], bool | None]  # None: the result lacks what the goal needs


@dataclass(frozen=True)
class Benchmark:
    """`kedro run <kedro_args>` against each script run on `section`, and the goal."""

    kedro_args: tuple[str, ...]
    section: str
    target: str = "—"
    met: Verdict | None = None  # None: no goal


def _wall_at_most(seconds: float) -> Verdict:
    return lambda result: result["pipeline"]["wall_s"] <= seconds


def _ratio_at_most(ratio: float, peak_rss_mb: float = float("inf")) -> Verdict:
    """Pipeline / lesson code at most `ratio` (older results have no lesson-code side)."""

    def met(result: dict) -> bool | None:
        median = result["median_ratio"].get("lesson_code")
        if median is None:
            return None
        return median <= ratio and result["pipeline"]["peak_rss_mb"] <= peak_rss_mb

    return met


# ImageNet weights cannot be downloaded here, so transfer runs on random-init Xception
# (the same compute). `initialization_sklearn` is the section's scikit-learn part alone.
# Ratio goals are against the lesson's own code (issue #23).
BENCHMARKS = {
    "vanishing_gradient": Benchmark(
        ("--pipelines", "vanishing_gradient"), "vanishing_gradient", "≤ 2.0 s", _wall_at_most(2)
    ),
    "initialization": Benchmark(("--pipelines", "initialization"), "initialization"),
    "initialization_sklearn": Benchmark(
        ("--pipelines", "initialization", "--tags", "faithful"),
        "initialization",
        "≤ 3 s",
        _wall_at_most(3),
    ),
    "activations": Benchmark(
        ("--pipelines", "activations"), "activations", "≤ 3 s", _wall_at_most(3)
    ),
    "augmentation": Benchmark(("--pipelines", "augmentation"), "augmentation"),
    "transfer": Benchmark(
        ("--pipelines", "transfer", *RANDOM_WEIGHTS),
        "transfer",
        "≤ 0.35x lesson code",
        _ratio_at_most(0.35),
    ),
    "dropout": Benchmark(
        ("--pipelines", "dropout"), "dropout", "≤ 0.06x lesson code", _ratio_at_most(0.06)
    ),
    "lesson": Benchmark(
        tuple(RANDOM_WEIGHTS),
        "lesson",
        "≤ 0.25x lesson code, peak RSS ≤ 4 GB",
        _ratio_at_most(0.25, 4096),
    ),
}


# Creates conf/base's MLflow store (its tables) the way a project's first run does.
CREATE_TRACKING_STORE = """
from pathlib import Path
from mlflow.tracking import MlflowClient
from dnn_pipelines.tracking.experiments import load_mlflow_settings, tracking_uri
(Path("data") / "09_tracking").mkdir(parents=True)
MlflowClient(tracking_uri(load_mlflow_settings(Path.cwd(), None), Path.cwd())).search_experiments()
"""


def project_copy() -> Path:
    """A throwaway project folder so benchmark artifacts never land in the repo's data/.

    Its MLflow store exists already, as in any project that has run once: creating it (its
    schema migrations, about 4 s) is paid by a project's first run only, not by each run.
    """
    folder = Path(tempfile.mkdtemp(prefix="dnn-bench-"))
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy2(REPO / name, folder / name)
    shutil.copytree(REPO / "conf", folder / "conf", ignore=shutil.ignore_patterns("local"))
    (folder / "conf" / "local").mkdir()
    (folder / "src").mkdir()
    env = {**os.environ, "MLFLOW_LOGGING_LEVEL": "WARNING"}
    subprocess.run([sys.executable, "-c", CREATE_TRACKING_STORE], cwd=folder, env=env, check=True)
    return folder


def measure(command: list[str], cwd: Path) -> dict[str, float]:
    """Wall time, CPU time (user + system, children included) and peak RSS of one process."""
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: a full pipe would block the run
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=log)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            log.seek(0)
            error = log.read().decode(errors="replace")[-3000:]
            raise RuntimeError(f"{' '.join(command)} failed:\n{error}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def side_command(side: str, name: str) -> list[str]:
    """The process one side runs for benchmark `name`."""
    if side == "pipeline":
        kedro = str(Path(sys.executable).with_name("kedro"))
        return [kedro, "run", *BENCHMARKS[name].kedro_args]
    script = REPO / "benchmarks" / SCRIPTS[side]
    return [sys.executable, str(script), BENCHMARKS[name].section]


def measure_side(side: str, name: str) -> dict[str, float]:
    """One run of one side; the pipeline runs in a throwaway project copy, the scripts in REPO."""
    if side != "pipeline":
        return measure(side_command(side, name), REPO)
    project = project_copy()
    try:
        return measure(side_command(side, name), project)
    finally:
        shutil.rmtree(project, ignore_errors=True)


def benchmark(name: str, repeat: int) -> dict:
    """Interleaved rounds (pipeline, baseline, lesson code) of one benchmark, summarised."""
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in SIDES}
    for _ in range(repeat):
        for side in SIDES:
            runs[side].append(measure_side(side, name))
        print(f"{name}: " + " | ".join(f"{side} {runs[side][-1]}" for side in SIDES), flush=True)
    walls = {side: [run["wall_s"] for run in side_runs] for side, side_runs in runs.items()}
    ratios = {
        reference: [a / b for a, b in zip(walls["pipeline"], walls[reference], strict=True)]
        for reference in SCRIPTS
    }
    return {
        **{
            side: {key: statistics.median(run[key] for run in side_runs) for key in MEASURES}
            for side, side_runs in runs.items()
        },
        "ratios": ratios,
        "median_ratio": {reference: statistics.median(r) for reference, r in ratios.items()},
        "runs": runs,
    }


def _with_ratios_per_reference(result: dict) -> dict:
    """Results from before the lesson-code side hold one ratio list: pipeline / baseline."""
    if isinstance(result["ratios"], dict):
        return result
    return {
        **result,
        "ratios": {"baseline": result["ratios"]},
        "median_ratio": {"baseline": result["median_ratio"]},
    }


def latest_results() -> dict[str, dict]:
    """The newest measurement of every benchmark across benchmarks/results/*.json."""
    latest: dict[str, dict] = {}
    for path in sorted(RESULTS.glob("*.json")):  # names are UTC stamps: oldest first
        run = json.loads(path.read_text(encoding="utf-8"))
        for name, result in run.get("results", {}).items():
            if name in BENCHMARKS:
                latest[name] = {**_with_ratios_per_reference(result), "file": path.name}
    return {name: latest[name] for name in BENCHMARKS if name in latest}


def _verdict(benchmark: Benchmark, result: dict) -> str:
    if benchmark.met is None:
        return "—"
    met = benchmark.met(result)
    if met is None:
        return "not measured"
    return "yes" if met else "**no**"


def _per_side(result: dict, key: str, digits: int) -> str:
    """`key` of every side, comma-separated; — for a side the result does not have."""
    return ", ".join(f"{result[side][key]:.{digits}f}" if side in result else "—" for side in SIDES)


def _ratio(result: dict, reference: str) -> str:
    median = result["median_ratio"].get(reference)
    return "—" if median is None else f"**{median:.2f}**"


def markdown_table(results: dict[str, dict]) -> str:
    """One row per benchmark: medians per side, both median ratios, the goal and whether it is met."""
    lines = [
        "| benchmark | `kedro run` arguments | wall s (pipeline, baseline, lesson code) "
        "| pipeline / baseline | pipeline / lesson code "
        "| CPU s (pipeline, baseline, lesson code) "
        "| peak RSS MB (pipeline, baseline, lesson code) | goal | met | rounds, file |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        benchmark = BENCHMARKS[name]
        lines.append(
            f"| {name} | `{' '.join(benchmark.kedro_args)}` | {_per_side(result, 'wall_s', 1)} "
            f"| {_ratio(result, 'baseline')} | {_ratio(result, 'lesson_code')} "
            f"| {_per_side(result, 'cpu_s', 0)} | {_per_side(result, 'peak_rss_mb', 0)} "
            f"| {benchmark.target} | {_verdict(benchmark, result)} "
            f"| {len(result['ratios']['baseline'])}, `{result['file']}` |"
        )
    return "\n".join(lines)


def replace_doc_block(start: str, end: str, body: str) -> None:
    """Replace what stands between docs/benchmarks.md's `start` and `end` markers with `body`."""
    text = DOC.read_text(encoding="utf-8")
    if start not in text:
        raise SystemExit(f"{DOC} has no {start} marker: nothing to update")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    DOC.write_text(f"{head}{start}\n{body}\n{end}{tail}", encoding="utf-8")


def utc_stamp() -> str:
    """A result file's name: the UTC time, sortable, no colons."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H.%M.%SZ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sections", nargs="+", choices=list(BENCHMARKS), default=list(BENCHMARKS))
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help="rewrite the docs table from the newest result of every benchmark",
    )
    parser.add_argument(
        "--table-only", action="store_true", help="measure nothing: only rebuild the table"
    )
    args = parser.parse_args()

    if not args.table_only:
        results = {name: benchmark(name, args.repeat) for name in args.sections}
        stamp = utc_stamp()
        RESULTS.mkdir(parents=True, exist_ok=True)
        meta = {
            "date": stamp,
            "command": "python benchmarks/run.py " + " ".join(sys.argv[1:]),
            "machine": platform.platform(),
            "cpus": os.cpu_count(),
        }
        (RESULTS / f"{stamp}.json").write_text(json.dumps({**meta, "results": results}, indent=2))
    table = markdown_table(latest_results())
    print(table)
    if args.update_docs:
        replace_doc_block(DOC_START, DOC_END, table)


if __name__ == "__main__":
    main()
