"""A chapter's cache key follows the code of the pcsm modules it imports, not their comments or docstrings."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from pcsm.book import runner
from pcsm.book.dependencies import code_text, dependency_files, module_digests
from pcsm.experiments.config import Chapter, ChapterConfig
from pcsm.experiments.results import REPO_ROOT

HELPER = '''"""The helper module."""

X = 1  # the value


class Thing:
    """A thing."""

    def size(self):
        """Its size."""
        return X
'''


@pytest.fixture
def package(monkeypatch, tmp_path: Path, write_tree) -> Path:
    """A ``pcsm`` package under ``tmp_path``, which the runner takes for the repository: ``used`` imports
    ``helper``; nothing imports ``unused``."""
    files = {
        "pcsm/__init__.py": "",
        "pcsm/lib/__init__.py": "",
        "pcsm/lib/used.py": "from pcsm.lib import helper\n",
        "pcsm/lib/helper.py": HELPER,
        "pcsm/lib/unused.py": "Y = 1\n",
    }
    write_tree(tmp_path, files)
    monkeypatch.setattr(runner, "REPO_ROOT", tmp_path)
    return tmp_path


@dataclass(frozen=True)
class Toy(ChapterConfig):
    a: int = 1


def key(root: Path) -> str:
    """The cache key of a notebook importing ``pcsm.lib.used``, with ``root`` as the repository."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("from pcsm.lib.used import helper")])
    spec = runner.NotebookSpec("toy", root / "toy.ipynb", "toy", Chapter(config=Toy, results=(), timeout=60))
    return runner.cache_key(spec, nb, "smoke")


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of ``old`` in the file."""
    text = path.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))


@pytest.mark.parametrize("old, new", [
    ('"""The helper module."""', '"""The helper module, reworded."""'),
    ('        """Its size."""', '        """Its size,\n        over two lines."""'),
    ("# the value", "# the value, commented at length"),
    ("X = 1  # the value\n", "\n\nX = (\n    1\n)\n"),
], ids=["module docstring", "method docstring", "comment", "layout"])
def test_a_comment_docstring_or_layout_edit_keeps_the_key(package, old, new):
    before = key(package)
    edit(package / "pcsm/lib/helper.py", old, new)
    assert key(package) == before


def test_a_code_edit_changes_the_key(package):
    before = key(package)
    edit(package / "pcsm/lib/helper.py", "X = 1", "X = 2")
    assert key(package) != before


def test_a_module_the_notebook_does_not_import_keeps_the_key(package):
    before = key(package)
    (package / "pcsm/lib/unused.py").write_text("Y = 2\n")
    assert key(package) == before


def test_declared_inputs_are_hashed_by_their_bytes(package):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    spec = runner.NotebookSpec("toy", package / "toy.ipynb", "toy",
                               Chapter(config=Toy, results=(), timeout=60, inputs=("data/*.py",)))
    (package / "data").mkdir()
    (package / "data/table.py").write_text("# a comment\n")
    before = runner.cache_key(spec, nb, "smoke")
    (package / "data/table.py").write_text("# another comment\n")
    assert runner.cache_key(spec, nb, "smoke") != before


def test_code_text_leaves_out_docstrings_only(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('"""Module."""\n\ndef f():\n    """Doc."""\n\n\nclass G:\n    """Doc."""\n'
                    '    x = "a string"  # a comment\n')
    assert code_text(path) == "def f():\n    pass\n\nclass G:\n    x = 'a string'"


def test_module_digests_name_each_file_relative_to_the_root(package):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import pcsm.lib.used")])
    digests = module_digests(nb, package)
    assert sorted(digests) == ["pcsm/__init__.py", "pcsm/lib/__init__.py", "pcsm/lib/helper.py",
                               "pcsm/lib/used.py"]
    assert all(len(digest) == 64 for digest in digests.values())


LAZY_INIT = '''import importlib

LAZY = {"thing": "pcsm.heavy"}


def __getattr__(name):
    return getattr(importlib.import_module(LAZY[name]), name)
'''


@pytest.mark.parametrize("source, uses_heavy", [
    ("import pcsm.light", False),
    ("from pcsm.light import X", False),
    ("from pcsm import thing", True),
    ("import pcsm\npcsm.thing()", True),
    ("import pcsm as p\nvalue = p.thing", True),
    ("import pcsm.light\nvalue = pcsm.light.X", False),
])
def test_a_lazily_exported_module_is_a_dependency_of_whoever_uses_its_name(tmp_path, write_tree, source,
                                                                           uses_heavy):
    """A package that exports a name lazily (PEP 562, its ``LAZY`` table) does not make every importer
    depend on the module behind the name; a notebook that uses the name, in any spelling, does."""
    write_tree(tmp_path, {"pcsm/__init__.py": LAZY_INIT, "pcsm/heavy.py": "def thing():\n    return 1\n",
                          "pcsm/light.py": "X = 1\n"})
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    found = {str(p.relative_to(tmp_path)) for p in dependency_files(nb, tmp_path)}
    assert ("pcsm/heavy.py" in found) is uses_heavy
    assert "pcsm/__init__.py" in found


def test_the_package_exports_the_estimator_lazily_and_chapters_that_never_use_it_do_not_depend_on_it():
    """``import pcsm.<anything>`` runs ``pcsm/__init__``, so an eager ``from pcsm.core.mi import ...``
    there made every chapter depend on the estimator (an edit to ``mi.py`` re-executed MNIST and CUB)."""
    import pcsm

    for name, module in pcsm.LAZY.items():
        assert getattr(pcsm, name) is getattr(importlib.import_module(module), name)
        assert name in dir(pcsm)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        pcsm.nothing  # noqa: B018
    for chapter, uses_estimator in (("03-mnist", False), ("04-cub", False), ("02-gaussian-mi", True)):
        nb = nbformat.read(REPO_ROOT / "notebooks" / f"{chapter}.ipynb", as_version=4)
        found = {str(p.relative_to(REPO_ROOT)) for p in dependency_files(nb)}
        assert ("pcsm/core/mi.py" in found) is uses_estimator, chapter


def test_code_text_leaves_out_the_chapter_declaration(tmp_path):
    """``CHAPTER`` declares tables, timeout and validation: rewording a metric's reason re-executes
    nothing. A record's profiles are code (and its run's parameters are in the cache key)."""
    path = tmp_path / "m.py"
    declared = "PROFILES = {'smoke': {'a': 2}}\nCHAPTER = Chapter(config=C, metrics=(Metric(reason=REASON),))\n"
    path.write_text(declared.replace("REASON", repr("why")))
    before = code_text(path)
    path.write_text(declared.replace("REASON", repr("why, reworded")))
    assert code_text(path) == before == "PROFILES = {'smoke': {'a': 2}}"
