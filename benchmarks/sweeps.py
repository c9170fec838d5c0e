"""How a sweep scales: the same sweep on a LocalCluster of 1 and of 2 worker processes.

The sweep is one section over `--points` seeds on conf/base, each point a whole `kedro run`
in a Dask worker: `--pipeline activations` (four scikit-learn fits, about 4 s a point) or
`--pipeline dropout` (the lesson's five networks, 1 000 epochs each, about 25 s a point).
The fixed costs (cluster start, the report run) are included, so the cheaper the points,
the more of the wall time cannot be shared. Each side runs in a fresh throwaway project folder
(so no point is reused), interleaved 1, 2, 1, 2, ... `--repeat` times. Reported: points
per minute, the speed-up (wall time on 1 worker / on 2) and the scaling efficiency
(speed-up / 2).

    python benchmarks/sweeps.py --points 8 --repeat 2
    python benchmarks/sweeps.py --pipeline dropout --points 8 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from run import RESULTS, measure, project_copy, utc_stamp

SWEEPS = {
    "activations": """pipelines: [activations]
axes:
  seed: {{start: 0, stop: {points}}}
metrics:
  relu: [activations_metrics, relu, test_accuracy]
""",
    "dropout": """pipelines: [dropout]
axes:
  seed: {{start: 0, stop: {points}}}
metrics:
  rate_0.4: [dropout_metrics, "0.4", true_mse]
""",
}


def sweep_once(pipeline: str, points: int, workers: int) -> dict[str, float]:
    project = project_copy()
    sweep = SWEEPS[pipeline].format(points=points)
    (project / "conf" / "base" / "sweeps" / "bench.yml").write_text(sweep)
    kedro = str(Path(sys.executable).with_name("kedro"))
    return measure([kedro, "sweep", "run", "bench", "--workers", str(workers)], project)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", choices=sorted(SWEEPS), default="activations")
    parser.add_argument("--points", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    runs: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    for _ in range(args.repeat):
        for workers in (1, 2):
            runs[workers].append(sweep_once(args.pipeline, args.points, workers))
            print(f"{workers} worker(s): {runs[workers][-1]['wall_s']:.1f} s", flush=True)
    speedups = [a["wall_s"] / b["wall_s"] for a, b in zip(runs[1], runs[2], strict=True)]
    result = {
        "date": utc_stamp(),
        "command": "python benchmarks/sweeps.py " + " ".join(sys.argv[1:]),
        "pipeline": args.pipeline,
        "points": args.points,
        "wall_s": {str(w): statistics.median(r["wall_s"] for r in runs[w]) for w in runs},
        "points_per_minute": {
            str(w): 60 * args.points / statistics.median(r["wall_s"] for r in runs[w]) for w in runs
        },
        "peak_rss_mb": {str(w): max(r["peak_rss_mb"] for r in runs[w]) for w in runs},
        "speedups": speedups,
        "median_speedup": statistics.median(speedups),
        "scaling_efficiency": statistics.median(speedups) / 2,
        "runs": {str(w): runs[w] for w in runs},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"sweeps-{result['date']}.json").write_text(json.dumps(result, indent=2))
    print(
        f"{args.points} points: 1 worker {result['wall_s']['1']:.1f} s, 2 workers "
        f"{result['wall_s']['2']:.1f} s, speed-up {result['median_speedup']:.2f}x, "
        f"efficiency {result['scaling_efficiency']:.0%}"
    )


if __name__ == "__main__":
    main()
