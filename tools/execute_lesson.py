"""Execute notebooks/lesson.ipynb on a project's results and keep it for the docs site.

The docs site shows the lesson executed, with its figures and answers. A run of the whole
lesson comes first, in any project folder (a copy is fine); then:

    kedro run --env offline && kedro run --env offline --pipelines transfer_from_scratch
    python tools/execute_lesson.py PROJECT_FOLDER --env offline

writes docs/lesson.ipynb. The run log (stderr) is dropped from the outputs: it holds the
folder's absolute paths and no answer.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
MAX_WIDTH = 800
MAX_PNG_BYTES = 200_000


def execute(project: Path, env: str) -> nbformat.NotebookNode:
    """The lesson notebook, run in `project`/notebooks against env `env`'s results."""
    folder = project / "notebooks"
    folder.mkdir(exist_ok=True)
    shutil.copy2(REPO / "notebooks" / "lesson.ipynb", folder / "lesson.ipynb")
    os.environ |= {"KEDRO_ENV": env, "KEDRO_DISABLE_TELEMETRY": "1"}
    notebook = nbformat.read(folder / "lesson.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if cell.source.startswith("%load_ext"):  # Kedro's start-up log, with local paths
            cell["outputs"] = []
        cell["outputs"] = [
            _smaller(output)
            for output in cell.get("outputs", [])
            if not (output.get("output_type") == "stream" and output.get("name") == "stderr")
        ]
    return notebook


def _smaller(output: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A figure scaled to MAX_WIDTH pixels, and one still large as PNG (the augmentation
    photos, 2.7 MB each) stored as JPEG, so the executed notebook stays under 2 MB."""
    data = output.get("data", {})
    if "image/png" not in data:
        return output
    image = Image.open(io.BytesIO(base64.b64decode(data["image/png"])))
    if image.width > MAX_WIDTH:
        image = image.resize((MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)))
    png = io.BytesIO()
    image.save(png, format="PNG", optimize=True)
    if png.tell() <= MAX_PNG_BYTES:
        data["image/png"] = base64.b64encode(png.getvalue()).decode()
        return output
    jpeg = io.BytesIO()
    image.convert("RGB").save(jpeg, format="JPEG", quality=85)
    del data["image/png"]
    data["image/jpeg"] = base64.b64encode(jpeg.getvalue()).decode()
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", type=Path, help="a project folder holding the runs' data/")
    parser.add_argument("--env", default="local", help="the env whose newest results to show")
    parser.add_argument("--output", type=Path, default=REPO / "docs" / "lesson.ipynb")
    args = parser.parse_args()
    nbformat.write(execute(args.project.resolve(), args.env), args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
