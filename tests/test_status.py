"""`pcsm status`: each chapter current or stale on its published profile, naming what made it stale.

The runs here go through the runner with papermill replaced by a copy of the notebook (no kernel
starts): what is checked is what the runner records and what the status reads back.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from pcsm.__main__ import main
from pcsm.book import runner, status
from toy_plan import write_toy_plan

def fake_papermill(spec, executed_path, parameters, staging, *args, **kwargs) -> None:
    """Stand-in for ``runner.run_papermill``: the notebook copied as it is, its table written."""
    nbformat.write(nbformat.read(spec.path, as_version=4), executed_path)
    value = spec.record(parameters["profile"], parameters["overrides"]).value
    (staging / "answer.csv").write_text(f"value\n{value}\n")


@pytest.fixture
def chapter(monkeypatch, tmp_path: Path, write_tree) -> Path:
    """A repository under ``tmp_path``: a ``pcsm`` package (``used`` imports ``helper``, nothing imports
    ``unused``), a book of one chapter whose notebook imports ``used``, executed into ``out`` and
    ``results``."""
    files = {
        "pcsm/__init__.py": "",
        "pcsm/lib/__init__.py": "",
        "pcsm/lib/used.py": "from pcsm.lib.helper import X\n",
        "pcsm/lib/helper.py": '"""Helper."""\nX = 1\n',
        "pcsm/lib/unused.py": "Y = 1\n",
    }
    write_tree(tmp_path, files)
    write_plan(tmp_path, value=1)
    monkeypatch.setattr(runner, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(runner, "run_papermill", fake_papermill)
    assert runner.run([], output_dir=tmp_path / "out", results_target=tmp_path / "results",
                      plan_file=tmp_path / "_toc.yml") == 0
    return tmp_path


def write_plan(root: Path, value: int) -> None:
    """The chapter, its default profile's ``value`` set to ``value``."""
    write_toy_plan(root, "from pcsm.lib.used import X", "value = 1", {"default": f"value = {value}"})


def reasons(root: Path) -> tuple[str, ...]:
    """The reasons the one chapter is stale (empty: current)."""
    [row] = status.chapter_status(root / "_toc.yml", root / "out", root / "results")
    assert (row.name, row.profile) == ("toy", "default")
    return row.reasons


def test_the_executed_notebook_records_each_dependency(chapter):
    meta = nbformat.read(chapter / "out/toy.ipynb", as_version=4).metadata["pcsm"]
    assert sorted(meta["dependencies"]) == ["pcsm/__init__.py", "pcsm/lib/__init__.py", "pcsm/lib/helper.py",
                                            "pcsm/lib/used.py"]
    assert reasons(chapter) == ()


def test_a_code_edit_is_named_a_docstring_edit_is_not(chapter):
    (chapter / "pcsm/lib/helper.py").write_text('"""Helper, reworded."""\nX = 1  # one\n')
    assert reasons(chapter) == ()
    (chapter / "pcsm/lib/helper.py").write_text('"""Helper."""\nX = 2\n')
    assert reasons(chapter) == ("pcsm/lib/helper.py changed",)


def test_a_module_the_chapter_does_not_import_cannot_make_it_stale(chapter):
    (chapter / "pcsm/lib/unused.py").write_text("Y = 2\n")
    assert reasons(chapter) == ()


def test_a_new_import_names_the_added_file(chapter):
    (chapter / "pcsm/lib/used.py").write_text("from pcsm.lib.helper import X\nfrom pcsm.lib import unused\n")
    assert reasons(chapter) == ("pcsm/lib/used.py changed", "pcsm/lib/unused.py added to its dependencies")


def test_source_parameters_and_results_are_named(chapter):
    write_plan(chapter, value=2)
    nb = nbformat.read(chapter / "toy.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("print(X)"))
    nbformat.write(nb, chapter / "toy.ipynb")
    (chapter / "results/answer.csv").unlink()
    assert reasons(chapter) == (f"notebook source changed ({chapter / 'toy.ipynb'})",
                                "parameters changed: value", f"{chapter / 'results/answer.csv'} is missing")


def test_a_notebook_executed_before_dependency_tracking_reads_stale(chapter):
    nb = nbformat.read(chapter / "out/toy.ipynb", as_version=4)
    del nb.metadata["pcsm"]["dependencies"]
    nb.metadata["pcsm"]["cache_key"] = "a key of the bytes"
    nbformat.write(nb, chapter / "out/toy.ipynb")
    record = chapter / "results/toy.provenance.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "cache_key": "a key of the bytes"}))
    assert reasons(chapter) == (status.BEFORE_TRACKING,)


def test_the_command_prints_one_line_per_chapter(chapter, monkeypatch, capsys):
    (chapter / "pcsm/lib/helper.py").write_text("X = 3\n")
    rows = status.chapter_status(chapter / "_toc.yml", chapter / "out", chapter / "results")
    monkeypatch.setattr(status, "chapter_status", lambda: rows)
    assert main(["status"]) == 0
    assert capsys.readouterr().out == "toy  default  stale: pcsm/lib/helper.py changed\n"
