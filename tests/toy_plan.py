"""A one-notebook plan for the runner's tests: the toy notebook ``toy.ipynb`` (a ``parameters`` cell,
then one code cell) and its ``profiles.toml``, and a smoke-profile run of it into given folders."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import nbformat

from pcsm.book import runner


def write_toy_plan(folder: Path, body: str, defaults: str, profiles: Mapping[str, str] | None = None,
                   timeout: int = 60, check: str = "") -> Path:
    """Write ``toy.ipynb`` (parameters cell ``defaults``, then ``body``) and a plan declaring it, with
    the TOML lines ``profiles[p]`` under each profile p (none by default), the per-cell ``timeout``, the
    table ``answer`` as its result and the optional ``check`` line; return the plan's path."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(defaults, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "toy.ipynb")
    sections = "".join(f"[notebooks.toy.{p}]\n{(profiles or {}).get(p, '')}\n" for p in runner.PROFILES)
    plan = folder / "profiles.toml"
    plan.write_text(f'[notebooks.toy]\ntimeout = {timeout}\nresults = ["answer"]\n{check}\n{sections}')
    return plan


def run_toy(plan: Path, out: Path, results: Path, **kwargs) -> int:
    """``pcsm run`` of every notebook of ``plan`` on the smoke profile, into ``out`` and ``results``."""
    return runner.run([], "smoke", output_dir=out, results_target=results, plan_file=plan, **kwargs)
