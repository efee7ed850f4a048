"""Where a result came from: code version, machine, packages, profile and wall time.

The runner records this for every executed notebook, appends it to the page as a final section and
writes it beside the result tables as ``results/<notebook>.provenance.json``.
"""

from __future__ import annotations

import platform
import subprocess
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import nbformat

from pcsm.book.dependencies import source_digest
from pcsm.core.training import describe_training_path
from pcsm.experiments.results import REPO_ROOT

PACKAGES = ("torch", "torchvision", "numpy", "scipy", "pandas", "scikit-learn", "papermill", "myst-nb")
CODE_PATHS = ("pcsm", "_toc.yml")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def git_commit(repo: Path = REPO_ROOT) -> str:
    """HEAD's commit hash; ``unknown`` without git."""
    try:
        return _git(repo, "rev-parse", "HEAD").strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def code_changes(repo: Path = REPO_ROOT) -> list[str] | None:
    """Code that differs from HEAD: files of ``pcsm/`` and the table of contents (tracked or not), and
    notebooks whose cells' sources differ (their outputs, which the runner rewrites, do not count).
    None without git."""
    try:
        changed = [line[3:] for line in _git(repo, "status", "--porcelain", "--", *CODE_PATHS).splitlines()]
        notebooks = _git(repo, "status", "--porcelain", "--untracked-files=no", "--", "notebooks/*.ipynb")
        for name in (line[3:] for line in notebooks.splitlines()):
            path = repo / name
            committed = _git(repo, "show", f"HEAD:{name}")
            if not path.exists() or source_digest(nbformat.reads(committed, as_version=4)) != source_digest(
                    nbformat.read(path, as_version=4)):
                changed.append(name)
    except (OSError, subprocess.CalledProcessError):
        return None
    return sorted(changed)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description() -> str:
    """The accelerator torch would use, or "CPU only"."""
    import torch

    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    return "CPU only"


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the numbers."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def collect(notebook: str, profile: str, parameters: dict[str, Any], wall_time_s: float,
            code_digest: str, changes: list[str] | None = None) -> dict[str, Any]:
    """Everything a reader needs to know about one execution of a notebook. ``changes``: the code
    that differed from the commit when the run started (``code_changes()``, taken before any output
    was written)."""
    return {
        "notebook": notebook,
        "profile": profile,
        "parameters": parameters,
        "wall_time_s": round(wall_time_s, 1),
        "executed_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "git_commit": git_commit(),
        "code_changes": code_changes() if changes is None else changes,
        "pcsm_code_sha256": code_digest,
        "cpu": cpu_model(),
        "device": device_description(),
        "training": describe_training_path(),  # the kernel inherits PCSM_PRECISION from this process
        "packages": package_versions(),
    }


def _changes_text(changes: list[str] | None) -> str:
    if changes is None:
        return "no git: changes unknown"
    if not changes:
        return "code as committed"
    return "code changed since: " + ", ".join(f"`{c}`" for c in changes)


def as_markdown(record: dict[str, Any]) -> str:
    """A 'Provenance' section for the end of an executed notebook."""
    packages = ", ".join(f"{k} {v}" for k, v in record["packages"].items())
    rows = [
        ("Profile", f"`{record['profile']}`"),
        ("Wall time", f"{record['wall_time_s']:.1f} s"),
        ("Executed", record["executed_at"]),
        ("Code", f"git `{record['git_commit']}` ({_changes_text(record.get('code_changes'))}), "
                 f"pcsm sha256 `{record['pcsm_code_sha256'][:16]}`"),
        ("Machine", f"{record['cpu']}; {record['device']}"),
        *([("Training", record["training"])] if "training" in record else []),
        ("Packages", packages),
    ]
    table = "\n".join(f"| {k} | {v} |" for k, v in rows)
    parameters = "\n".join(f"| `{name}` | `{value!r}` |" for name, value in record["parameters"].items())
    return (
        "## Provenance\n\n"
        "Recorded by `pcsm run` when this page was executed: the profile, every parameter of the chapter's "
        "record it built, and where it ran (a chapter that loads data shows their checksums where it loads "
        "them).\n\n"
        f"| recorded | value |\n|---|---|\n{table}\n\n"
        ":::{admonition} Parameters of this run\n:class: dropdown\n\n"
        f"| parameter | value |\n|---|---|\n{parameters}\n:::\n"
    )
