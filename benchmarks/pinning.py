"""What run isolation costs: `kedro run --pipelines vanishing_gradient` with and without it.

A (this work tree) and B (the code at `--baseline`, a git revision from before pinned
reads, checked out in a temporary worktree and put first on PYTHONPATH) run interleaved,
A B A B ..., `--repeat` times, each in a fresh throwaway project folder that already
holds `--history` earlier runs (pinning reads their manifests). Reported: median wall
time of each side and the median of the per-pair ratios A/B.

    python benchmarks/pinning.py --repeat 5 --history 20
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from run import REPO, RESULTS, measure, project_copy, utc_stamp

BEFORE_PINNING = "56e2b6c"  # the last commit whose runs read "latest"


def kedro_run(project: Path, pythonpath: str | None) -> dict[str, float]:
    command = [str(Path(sys.executable).with_name("kedro")), "run"]
    command += ["--pipelines", "vanishing_gradient"]
    if pythonpath is None:
        return measure(command, project)
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = pythonpath
    try:
        return measure(command, project)
    finally:
        if previous is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = previous


def with_history(runs: int) -> Path:
    """A project copy that `runs` earlier runs of the pipeline have written into."""
    project = project_copy()
    for _ in range(runs):
        kedro_run(project, None)
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--history", type=int, default=20, help="earlier runs in the folder")
    parser.add_argument("--baseline", default=BEFORE_PINNING, help="git revision without pins")
    args = parser.parse_args()

    worktree = Path(tempfile.mkdtemp(prefix="dnn-bench-before-")) / "checkout"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(worktree), args.baseline],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    template = with_history(args.history)
    pinned, unpinned = [], []
    try:
        for _ in range(args.repeat):
            for side, pythonpath in ((pinned, None), (unpinned, str(worktree / "src"))):
                project = Path(tempfile.mkdtemp(prefix="dnn-bench-")) / "project"
                shutil.copytree(template, project, symlinks=True)
                try:
                    side.append(kedro_run(project, pythonpath))
                finally:
                    shutil.rmtree(project.parent, ignore_errors=True)
            print(f"pinned {pinned[-1]['wall_s']:.2f} s | before {unpinned[-1]['wall_s']:.2f} s")
    finally:
        shutil.rmtree(template, ignore_errors=True)
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(worktree)], cwd=REPO, check=False
        )
    ratios = [a["wall_s"] / b["wall_s"] for a, b in zip(pinned, unpinned, strict=True)]
    result = {
        "date": utc_stamp(),
        "command": "python benchmarks/pinning.py " + " ".join(sys.argv[1:]),
        "baseline": args.baseline,
        "history_runs": args.history,
        "pinned_wall_s": statistics.median(run["wall_s"] for run in pinned),
        "before_wall_s": statistics.median(run["wall_s"] for run in unpinned),
        "ratios": ratios,
        "median_ratio": statistics.median(ratios),
        "runs": {"pinned": pinned, "before": unpinned},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"pinning-{result['date']}.json").write_text(json.dumps(result, indent=2))
    print(
        f"vanishing_gradient end to end, {args.history} earlier runs in the folder: "
        f"pinned {result['pinned_wall_s']:.2f} s, before {result['before_wall_s']:.2f} s, "
        f"median ratio {result['median_ratio']:.3f} over {args.repeat} pairs"
    )


if __name__ == "__main__":
    main()
