"""The newest results of an env on one page, and the answers a run gives.

Versioned figures sit at paths like `data/08_reporting/dropout/loss.png/<version>/loss.png`.
After every run, `data/08_reporting/latest/<env>.html` shows, for each figure and each
lesson question, the newest version a successful run of that env wrote (the run
manifests say which run wrote what), so nobody needs to know a timestamp. The page links
the versioned files; it holds no copy of them.
"""

from __future__ import annotations

import html
import json
import logging
import os
from pathlib import Path
from typing import Any

from dnn_pipelines.answers import ANSWERS, Answer
from dnn_pipelines.files import write_atomically
from dnn_pipelines.tracking.store import (
    MANIFEST_DIR,
    MANIFEST_NAME,
    manifest_versions,
    output_file,
)

logger = logging.getLogger(__name__)

LATEST_DIR = Path("data/08_reporting/latest")
IN_SWEEP_ENV = "DNN_PIPELINES_SWEEP_POINT"
"""Set in a sweep's workers: the sweep's report run writes the page once, not every point."""
FIGURE_SUFFIX = ".png"


def answers_of(project_path: Path, outputs: dict[str, dict[str, Any]]) -> list[Answer]:
    """The lesson's answers from the metrics among `outputs`, in the lesson's order."""
    answers: list[Answer] = []
    for name, answer in ANSWERS.items():
        if name in outputs:
            path = output_file(project_path, outputs[name])
            answers += answer(json.loads(path.read_text(encoding="utf-8")))
    return answers


def newest_outputs(project_path: Path, env: str) -> dict[str, dict[str, Any]]:
    """For every output of a successful run of `env`, the entry of its newest file that is
    still on disk (a pruned version is skipped)."""
    found: dict[str, dict[str, Any]] = {}
    for version in manifest_versions(project_path):  # newest first
        path = project_path / MANIFEST_DIR / version / MANIFEST_NAME
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a damaged manifest is `kedro versions`' business, not this page's
        if manifest.get("env") != env or manifest.get("status") != "success":
            continue
        for name, entry in (manifest.get("outputs") or {}).items():
            if name not in found and output_file(project_path, entry).exists():
                found[name] = entry
    return found


def latest_page(project_path: Path, env: str) -> Path:
    return project_path / LATEST_DIR / f"{env}.html"


def write_latest_page(project_path: Path, env: str) -> Path:
    """Write `data/08_reporting/latest/<env>.html` from the manifests; return its path."""
    page = latest_page(project_path, env)
    outputs = newest_outputs(project_path, env)
    figures = sorted(  # by the section folder they live in: data/08_reporting/<section>/
        (Path(entry["filepath"]).parts[2], name, entry)
        for name, entry in outputs.items()
        if entry["filepath"].endswith(FIGURE_SUFFIX)
    )
    body = [f"<h1>Newest results of env <code>{html.escape(env)}</code></h1>"]
    answers = answers_of(project_path, outputs)
    if answers:
        body.append("<h2>The lesson's questions</h2><dl>")
        body += [
            f"<dt>{html.escape(question)}</dt><dd>{html.escape(answer)}</dd>"
            for question, answer in answers
        ]
        body.append("</dl>")
    section = None
    for folder, name, entry in figures:
        if folder != section:
            section = folder
            body.append(f"<h2>{html.escape(section)}</h2>")
        source = os.path.relpath(output_file(project_path, entry), page.parent)
        body.append(
            f'<figure><img src="{html.escape(source)}" alt="{html.escape(name)}">'
            f"<figcaption><code>{html.escape(name)}</code>, run "
            f"{html.escape(entry['version'])}</figcaption></figure>"
        )
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>dnn_pipelines: {html.escape(env)}</title><style>"
        "body{font-family:sans-serif;max-width:70em;margin:auto}img{max-width:100%}"
        "dt{font-weight:bold;margin-top:.6em}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )
    write_atomically(page, lambda partial: partial.write_text(document, encoding="utf-8"))
    return page


def refresh_latest_pages(project_path: Path) -> list[Path]:
    """Rewrite every env's existing page (after `kedro versions prune` deleted versions)."""
    folder = project_path / LATEST_DIR
    pages = sorted(folder.glob("*.html")) if folder.is_dir() else []
    return [write_latest_page(project_path, page.stem) for page in pages]
