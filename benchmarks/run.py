"""Time each lesson section as a Kedro pipeline against a plain script of the same work.

For every section, A (the pipeline: `kedro run --pipelines NAME` on conf/base, a whole
process, in a throwaway copy of the project) and B (benchmarks/baseline.py NAME, a fresh
process) run interleaved, A B A B ..., `--repeat` times. Reported per side: median wall
time, CPU time and peak RSS; per pair the ratio A/B, then its median. Ratios from one
session are the figures to quote: the machine is shared and noisy.

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


@dataclass(frozen=True)
class Benchmark:
    """One pair: `kedro run <kedro_args>` against `baseline.py <baseline>`, and its target."""

    kedro_args: tuple[str, ...]
    baseline: str
    target: str = "—"
    met: Callable[[dict], bool] | None = None  # None: no target


def _wall_at_most(seconds: float) -> Callable[[dict], bool]:
    return lambda result: result["pipeline"]["wall_s"] <= seconds


def _ratio_at_most(ratio: float, peak_rss_mb: float = float("inf")) -> Callable[[dict], bool]:
    return lambda result: (
        result["median_ratio"] <= ratio and result["pipeline"]["peak_rss_mb"] <= peak_rss_mb
    )


# ImageNet weights cannot be downloaded here, so transfer runs on random-init Xception
# (the same compute). `initialization_sklearn` is the section's scikit-learn part alone.
BENCHMARKS = {
    "vanishing_gradient": Benchmark(
        ("--pipelines", "vanishing_gradient"), "vanishing_gradient", "≤ 3 s", _wall_at_most(3)
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
        ("--pipelines", "transfer", *RANDOM_WEIGHTS), "transfer", "≤ 0.5x", _ratio_at_most(0.5)
    ),
    "dropout": Benchmark(("--pipelines", "dropout"), "dropout", "≤ 0.15x", _ratio_at_most(0.15)),
    "lesson": Benchmark(
        tuple(RANDOM_WEIGHTS), "lesson", "≤ 0.4x, peak RSS ≤ 4 GB", _ratio_at_most(0.4, 4096)
    ),
}


def project_copy() -> Path:
    """A throwaway project folder so benchmark artifacts never land in the repo's data/."""
    folder = Path(tempfile.mkdtemp(prefix="dnn-bench-"))
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy2(REPO / name, folder / name)
    shutil.copytree(REPO / "conf", folder / "conf", ignore=shutil.ignore_patterns("local"))
    (folder / "conf" / "local").mkdir()
    (folder / "src").mkdir()
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


def pipeline_command(name: str) -> list[str]:
    kedro = str(Path(sys.executable).with_name("kedro"))
    return [kedro, "run", *BENCHMARKS[name].kedro_args]


def baseline_command(name: str) -> list[str]:
    return [sys.executable, str(REPO / "benchmarks" / "baseline.py"), BENCHMARKS[name].baseline]


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def benchmark(section: str, repeat: int) -> dict:
    """Interleaved pipeline/baseline runs of one benchmark, summarised."""
    pipeline_runs, baseline_runs = [], []
    for _ in range(repeat):
        project = project_copy()
        try:
            pipeline_runs.append(measure(pipeline_command(section), project))
        finally:
            shutil.rmtree(project, ignore_errors=True)
        baseline_runs.append(measure(baseline_command(section), REPO))
        print(f"{section}: pipeline {pipeline_runs[-1]} | baseline {baseline_runs[-1]}", flush=True)
    ratios = [a["wall_s"] / b["wall_s"] for a, b in zip(pipeline_runs, baseline_runs, strict=True)]
    summary = {
        side: {key: _median(runs, key) for key in ("wall_s", "cpu_s", "peak_rss_mb")}
        for side, runs in (("pipeline", pipeline_runs), ("baseline", baseline_runs))
    }
    return {
        **summary,
        "ratios": ratios,
        "median_ratio": statistics.median(ratios),
        "runs": {"pipeline": pipeline_runs, "baseline": baseline_runs},
    }


def latest_results() -> dict[str, dict]:
    """The newest measurement of every benchmark across benchmarks/results/*.json."""
    latest: dict[str, dict] = {}
    for path in sorted(RESULTS.glob("*.json")):  # names are UTC stamps: oldest first
        run = json.loads(path.read_text(encoding="utf-8"))
        for name, result in run.get("results", {}).items():
            if name in BENCHMARKS:
                latest[name] = {**result, "file": path.name}
    return {name: latest[name] for name in BENCHMARKS if name in latest}


def _verdict(benchmark: Benchmark, result: dict) -> str:
    if benchmark.met is None:
        return "—"
    return "yes" if benchmark.met(result) else "**no**"


def markdown_table(results: dict[str, dict]) -> str:
    """One row per benchmark: medians, the median ratio, the target and whether it is met."""
    lines = [
        "| benchmark | `kedro run` arguments | pipeline wall s | baseline wall s "
        "| pipeline / baseline | CPU s (pipeline, baseline) | peak RSS MB (pipeline, baseline) "
        "| target | met | pairs, file |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        a, b = result["pipeline"], result["baseline"]
        benchmark = BENCHMARKS[name]
        lines.append(
            f"| {name} | `{' '.join(benchmark.kedro_args)}` | {a['wall_s']:.1f} "
            f"| {b['wall_s']:.1f} | **{result['median_ratio']:.2f}** "
            f"| {a['cpu_s']:.0f}, {b['cpu_s']:.0f} "
            f"| {a['peak_rss_mb']:.0f}, {b['peak_rss_mb']:.0f} | {benchmark.target} "
            f"| {_verdict(benchmark, result)} "
            f"| {len(result['ratios'])}, `{result['file']}` |"
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
