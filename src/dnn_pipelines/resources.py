"""What a run will need, checked against a budget before any node runs.

Some parameters decide memory and disk in advance: a stray zero in
`vanishing_gradient.n_units` asks for terabytes. A section's `params.py` may declare
`resource_needs(parameters) -> (memory bytes, disk bytes)`; the run is refused, naming
the estimate and the budget, when a section in it needs more than `conf/*/resources.yml`
allows (by default what the machine has free).
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path
from typing import Any

from pydantic import Field

from dnn_pipelines.errors import UserInputError
from dnn_pipelines.parameters import PIPELINES_PACKAGE, Strict, parse_settings_file

MB = 1 << 20
DEFAULT_SHARE = 0.5
"""Without a budget in conf, one run may take half the memory available and half the free
disk: a stray zero is refused long before the machine is full."""


class ResourceBudget(Strict):
    """The `resources:` block of resources.yml; null means what the machine has free."""

    memory_mb: float | None = Field(default=None, gt=0)
    disk_mb: float | None = Field(default=None, gt=0)


class ResourceBudgetError(UserInputError, MemoryError):
    """A run whose parameters need more memory or disk than the budget allows."""


def parse_budget(config: dict[str, Any]) -> ResourceBudget:
    """Validate resources.yml, naming every bad key."""
    return parse_settings_file(
        ResourceBudget, config, "resources", ResourceBudgetError, "Invalid conf/<env>/resources.yml"
    )


def available_memory() -> int:
    """Bytes of memory available now (Linux MemAvailable; elsewhere, the free pages)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def free_disk(folder: Path) -> int:
    """Bytes free on the disk that holds `folder` (or its nearest existing parent)."""
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


def section_needs(section: str, parameters: dict[str, Any]) -> tuple[int, int] | None:
    """(memory, disk) bytes a section's run needs, if its params module can say."""
    try:
        params = importlib.import_module(f"{PIPELINES_PACKAGE}.{section}.params")
    except ModuleNotFoundError:
        return None
    estimate = getattr(params, "resource_needs", None)
    return None if estimate is None else estimate(parameters)


def check_budget(
    sections: set[str], parameters: dict[str, Any], budget: ResourceBudget, data_dir: Path
) -> None:
    """Refuse the run when any of its sections needs more memory or disk than allowed."""
    memory = budget.memory_mb * MB if budget.memory_mb else DEFAULT_SHARE * available_memory()
    disk = budget.disk_mb * MB if budget.disk_mb else DEFAULT_SHARE * free_disk(data_dir)
    total_disk = 0
    problems = []
    for section in sorted(sections):
        needs = section_needs(section, parameters)
        if needs is None:
            continue
        need_memory, need_disk = needs
        total_disk += need_disk
        if need_memory > memory:
            problems.append(
                f"  - {section} needs about {need_memory / MB:,.0f} MB of memory; "
                f"{memory / MB:,.0f} MB are allowed"
            )
    if total_disk > disk:
        problems.append(
            f"  - the run writes about {total_disk / MB:,.0f} MB under {data_dir}; "
            f"{disk / MB:,.0f} MB are allowed"
        )
    if problems:
        raise ResourceBudgetError(
            "Refused before any node ran: the parameters ask for more than the budget.\n"
            + "\n".join(problems)
            + "\nCheck the sizes in the parameters (a stray zero?), or raise the budget in "
            "conf/local/resources.yml (memory_mb, disk_mb)."
        )
