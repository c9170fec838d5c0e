"""Time each lesson section as a Kedro pipeline against a plain script of the same work.

For every section, A (the pipeline: `kedro run --pipelines NAME` on conf/base, a whole
process, in a throwaway copy of the project) and B (benchmarks/baseline.py NAME, a fresh
process) run interleaved, A B A B ..., `--repeat` times. Reported per side: median wall
time, CPU time and peak RSS; per pair the ratio A/B, then its median. Ratios from one
session are the figures to quote: the machine is shared and noisy.

    python benchmarks/run.py --repeat 3 --sections dropout transfer
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
README = REPO / "README.md"
README_START, README_END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"

# Extra `kedro run` arguments per section: ImageNet weights cannot be downloaded here,
# so transfer runs on random-init Xception (the same compute).
PIPELINE_ARGS = {
    "transfer": ["--params", "transfer.base_model.weights=random"],
    "lesson": ["--params", "transfer.base_model.weights=random"],
}
SECTIONS = (
    "vanishing_gradient",
    "initialization",
    "activations",
    "augmentation",
    "transfer",
    "dropout",
    "lesson",
)


def _project_copy() -> Path:
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
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        error = process.stderr.read().decode(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(command)} failed:\n{error}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def pipeline_command(section: str) -> list[str]:
    kedro = str(Path(sys.executable).with_name("kedro"))
    names = [] if section == "lesson" else ["--pipelines", section]
    return [kedro, "run", *names, *PIPELINE_ARGS.get(section, [])]


def baseline_command(section: str) -> list[str]:
    return [sys.executable, str(REPO / "benchmarks" / "baseline.py"), section]


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def benchmark(section: str, repeat: int) -> dict:
    """Interleaved pipeline/baseline runs of one section, summarised."""
    pipeline_runs, baseline_runs = [], []
    for _ in range(repeat):
        project = _project_copy()
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


def markdown_table(results: dict[str, dict]) -> str:
    lines = [
        "| section | pipeline wall s | baseline wall s | pipeline / baseline (median of pairs) "
        "| pipeline CPU s | baseline CPU s | pipeline peak RSS MB | baseline peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for section, result in results.items():
        a, b = result["pipeline"], result["baseline"]
        lines.append(
            f"| {section} | {a['wall_s']:.1f} | {b['wall_s']:.1f} | **{result['median_ratio']:.2f}** "
            f"| {a['cpu_s']:.1f} | {b['cpu_s']:.1f} | {a['peak_rss_mb']:.0f} | {b['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def update_readme(table: str, stamp: str, command: str) -> None:
    text = README.read_text(encoding="utf-8")
    if README_START not in text:
        return
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    block = f"{README_START}\nMeasured {stamp} with `{command}`:\n\n{table}\n{README_END}"
    README.write_text(head + block + tail, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args()

    results = {section: benchmark(section, args.repeat) for section in args.sections}
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H.%M.%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"date": stamp, "machine": platform.platform(), "cpus": os.cpu_count()}
    (RESULTS / f"{stamp}.json").write_text(json.dumps({**meta, "results": results}, indent=2))
    table = markdown_table(results)
    print(table)
    if args.update_readme:
        command = "python benchmarks/run.py " + " ".join(sys.argv[1:])
        update_readme(table, stamp, command)


if __name__ == "__main__":
    main()
