"""Transfer in float32 against mixed_bfloat16: speed and accuracy, interleaved.

`tensorflow.mixed_precision` in tensorflow.yml sets the precision policy; each run gets a
throwaway project copy whose conf/<run env>/tensorflow.yml picks it. Two cases:
- Xception on conf/base with random weights: the lesson's compute, for the speed;
- the offline env (a small convnet pretrained on digits 0-4): real accuracies to compare.

    python benchmarks/precision.py --repeat 1 --update-docs
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

from run import RESULTS, measure, project_copy, replace_doc_block, utc_stamp

from dnn_pipelines.tensorflow_settings import BF16_CPU_FLAGS, cpu_flags

PRECISIONS = ("float32", "mixed_bfloat16")
CASES = {
    "Xception, conf/base, random weights": (
        "--pipelines",
        "transfer",
        "--params",
        "transfer.base_model.weights=random",
    ),
    "small convnet, --env offline": ("--env", "offline", "--pipelines", "transfer"),
}
START, END = "<!-- precision:start -->", "<!-- precision:end -->"
FOLDER = RESULTS / "precision"


def run_once(args: tuple[str, ...], precision: str) -> dict[str, float]:
    """One `kedro run` under `precision`: time, CPU, peak RSS and the validation accuracies."""
    project = project_copy()
    env = args[args.index("--env") + 1] if "--env" in args else "local"  # the run's own env
    try:
        (project / "conf" / env / "tensorflow.yml").write_text(
            f"tensorflow:\n  mixed_precision: {precision}\n", encoding="utf-8"
        )
        timing = measure([str(Path(sys.executable).with_name("kedro")), "run", *args], project)
        folder = project / "data" / "08_reporting" / "transfer" / "transfer_metrics.json"
        metrics = json.loads(max(folder.glob("*/transfer_metrics.json")).read_text())
    finally:
        shutil.rmtree(project, ignore_errors=True)
    return {
        **timing,
        "frozen_val_accuracy": metrics["frozen"]["val_accuracy"],
        "fine_tuned_val_accuracy": metrics["fine_tuned"]["val_accuracy"],
        "fine_tuned_val_loss": metrics["fine_tuned"]["val_loss"],
    }


def markdown_table(results: dict[str, dict[str, list[dict[str, float]]]]) -> str:
    """Medians per case and precision, and bf16's wall time relative to float32."""
    lines = [
        "| case | precision | wall s | CPU s | peak RSS MB | frozen val acc | fine-tuned val acc "
        "| fine-tuned val loss | wall / float32 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for case, by_precision in results.items():
        medians = {
            precision: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            for precision, runs in by_precision.items()
        }
        for precision, m in medians.items():
            lines.append(
                f"| {case} | `{precision}` | {m['wall_s']:.0f} | {m['cpu_s']:.0f} "
                f"| {m['peak_rss_mb']:.0f} | {m['frozen_val_accuracy']:.3f} "
                f"| {m['fine_tuned_val_accuracy']:.3f} | {m['fine_tuned_val_loss']:.3f} "
                f"| {m['wall_s'] / medians['float32']['wall_s']:.2f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--update-docs", action="store_true")
    parser.add_argument(
        "--table-only", action="store_true", help="measure nothing: table of the newest result"
    )
    args = parser.parse_args()

    if args.table_only:
        path = max(FOLDER.glob("*.json"))  # names are UTC stamps
        results = json.loads(path.read_text(encoding="utf-8"))["results"]
    else:
        results = {case: {precision: [] for precision in PRECISIONS} for case in args.cases}
        for _ in range(args.repeat):
            for case in args.cases:
                for precision in PRECISIONS:  # interleaved: float32, bf16, float32, bf16 ...
                    results[case][precision].append(run_once(CASES[case], precision))
                    print(case, precision, results[case][precision][-1], flush=True)
        FOLDER.mkdir(parents=True, exist_ok=True)
        path = FOLDER / f"{utc_stamp()}.json"
        bf16_units = sorted(cpu_flags() & set(BF16_CPU_FLAGS))  # what `auto` looks for
        path.write_text(
            json.dumps(
                {"date": path.stem, "cpu_bf16_flags": bf16_units, "results": results}, indent=2
            )
        )
    table = markdown_table(results)
    print(table)
    if args.update_docs:
        measured = f"Measured {path.stem} (`benchmarks/results/precision/{path.name}`):"
        replace_doc_block(START, END, f"{measured}\n\n{table}")


if __name__ == "__main__":
    main()
