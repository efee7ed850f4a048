"""A one-chapter book for the runner's tests, declared as a real chapter is: the toy notebook
``toy.ipynb`` (its ``parameters`` cell names the profile and overrides, then one code cell), the module
that declares it (a parameter record with profiles and a ``CHAPTER``) and a table of contents; and a
smoke-profile run of it into given folders."""

from __future__ import annotations

import ast
import hashlib
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Mapping

import nbformat

from pcsm.book import runner

MODULE = '''
from dataclasses import dataclass

from pcsm.experiments.config import Chapter, ChapterConfig, Metric


@dataclass(frozen=True)
class ToyConfig(ChapterConfig):
    PROFILES = {profiles!r}
{fields}

    def __post_init__(self):
        for name, default in {defaults!r}.items():
            value = getattr(self, name)
            if isinstance(default, bool) != isinstance(value, bool) or not isinstance(value, type(default)):
                raise ValueError(f"{{name}}: expected {{type(default).__name__}}, got {{value!r}}")
        {check}


CHAPTER = Chapter(config=ToyConfig, results=("answer",), timeout={timeout}, published={published!r},
                  inputs={inputs!r}, validate={validate!r}, metrics=({metrics}))
'''


def _literals(source: str) -> dict:
    """The ``name = literal`` assignments of ``source``, in order."""
    return {node.targets[0].id: ast.literal_eval(node.value) for node in ast.parse(source).body}


def _check_line(check: str) -> str:
    """The record's call of a ``check = "module:function"`` line: the function gets every parameter."""
    if not check:
        return ""
    module, function = tomllib.loads(check)["check"].split(":")
    return (f"import importlib; importlib.import_module({module!r}).{function}"
            "(**{n: getattr(self, n) for n in self.fields()})")


def write_toy_plan(folder: Path, body: str, defaults: str, profiles: Mapping[str, str] | None = None,
                   timeout: int = 60, check: str = "", published: str = "default", inputs: tuple = (),
                   validate: Mapping | None = None, metrics: str = "", name: str = "toy") -> Path:
    """Write the notebook ``NAME.ipynb`` (its parameters cell, a cell that builds the record and binds
    its fields as names, then ``body``), its chapter module (fields and defaults: the Python assignments
    ``defaults``; profile p: the TOML lines ``profiles[p]``), the per-cell ``timeout``, the table ``answer``
    as its result, an optional ``check = "module:function"`` line called with every parameter, the
    ``metrics`` as Python source of Metric records) and ``_toc.yml``; return the table of contents."""
    values = _literals(defaults)
    module = f"toy_chapter_{hashlib.sha256(f'{folder.resolve()}/{name}'.encode()).hexdigest()[:12]}"
    fields = "\n".join(f"    {key}: {type(value).__name__} = {value!r}" for key, value in values.items())
    source = MODULE.format(profiles={p: tomllib.loads(text) for p, text in (profiles or {}).items() if text.strip()},
                           fields=fields, defaults=values, check=_check_line(check), timeout=timeout,
                           published=published, inputs=tuple(inputs), validate=dict(validate or {}),
                           metrics=metrics + ("," if metrics and not metrics.rstrip().endswith(",") else ""))
    (folder / f"{module}.py").write_text(source)
    shutil.rmtree(folder / "__pycache__", ignore_errors=True)
    sys.modules.pop(module, None)
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    nb = nbformat.v4.new_notebook()
    build = (f"from {module} import ToyConfig\n"
             "globals().update(ToyConfig.for_profile(profile, **overrides).parameters())")
    nb.cells = [nbformat.v4.new_code_cell('profile = "default"\noverrides = {}', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(build), nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["pcsm"] = {"chapter": module}
    nbformat.write(nb, folder / f"{name}.ipynb")
    toc = folder / "_toc.yml"
    if not (folder / "intro.md").is_file():
        (folder / "intro.md").write_text("# A toy book\n")
    listed = toc.read_text().splitlines() if toc.is_file() else ["format: jb-book", "root: intro", "chapters:"]
    if f"  - file: {name}" not in listed:
        listed.append(f"  - file: {name}")
    toc.write_text("\n".join(listed) + "\n")
    return toc


def run_toy(plan: Path, out: Path, results: Path, **kwargs) -> int:
    """``pcsm run`` of every notebook of ``plan`` on the smoke profile, into ``out`` and ``results``."""
    return runner.run([], "smoke", output_dir=out, results_target=results, plan_file=plan, **kwargs)
