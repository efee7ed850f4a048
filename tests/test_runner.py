"""The papermill runner: skipping, re-execution on change, atomic outputs, clear failures."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from pcsm.book import publish, runner
from pcsm.book.dependencies import dependency_files
from pcsm.experiments.config import Chapter, ChapterConfig
from toy_plan import run_toy as run, write_toy_plan

NOTEBOOK = """\
import json, os
from pathlib import Path
from pcsm.experiments.results import results_dir
if fail:
    raise RuntimeError("boom from the notebook")
(results_dir() / "answer.csv").write_text(f"value\\n{value}\\n")
print("value is", value)
"""


def write_plan(folder: Path, value: int, fail: bool = False, extra: str = "") -> Path:
    """The toy plan with ``value`` and ``fail`` as defaults and in every profile (plus ``extra``)."""
    every = f"value = {value}\nfail = {str(fail).lower()}\n{extra}"
    return write_toy_plan(folder, NOTEBOOK, f"value = {value}\nfail = {fail}",
                          {p: every for p in runner.PROFILES})



@pytest.mark.slow  # starts a kernel
def test_executes_then_skips_then_reexecutes_on_change(tmp_path, capsys):
    plan = write_plan(tmp_path, value=1)
    out, results = tmp_path / "out", tmp_path / "results"
    assert run(plan, out, results) == 0
    assert "executed" in capsys.readouterr().out
    executed = nbformat.read(out / "toy.ipynb", as_version=4)
    assert executed.metadata["pcsm"]["profile"] == "smoke"
    assert "value is 1" in executed.cells[-2].outputs[0]["text"]
    assert executed.cells[-1].source.startswith("## Provenance")
    tags = [c.metadata["tags"] for c in executed.cells if c.metadata.get("tags")]
    assert tags[:2] == [["parameters", "remove-cell"], ["injected-parameters", "hide-cell"]]
    assert "`smoke`" in executed.cells[-1].source
    assert (results / "answer.csv").read_text() == "value\n1\n"
    record = json.loads((results / "toy.provenance.json").read_text())
    assert record["profile"] == "smoke" and record["parameters"] == {"value": 1, "fail": False}
    assert record["git_commit"] and record["packages"]["torch"]

    assert run(plan, out, results) == 0
    assert "up to date" in capsys.readouterr().out

    write_plan(tmp_path, value=2)  # new parameters
    assert run(plan, out, results) == 0
    assert "executed" in capsys.readouterr().out
    assert (results / "answer.csv").read_text() == "value\n2\n"
    cells = nbformat.read(out / "toy.ipynb", as_version=4).cells
    assert sum(c.source.startswith("## Provenance") for c in cells) == 1

    assert run(plan, out, results, force=True) == 0
    assert "executed" in capsys.readouterr().out


@pytest.mark.slow  # starts a kernel
def test_failure_names_the_cell_and_leaves_previous_outputs(tmp_path, capsys):
    plan = write_plan(tmp_path, value=1)
    out, results = tmp_path / "out", tmp_path / "results"
    assert run(plan, out, results) == 0
    before = (out / "toy.ipynb").read_bytes()

    write_plan(tmp_path, value=3, fail=True)
    assert run(plan, out, results) == 1
    captured = capsys.readouterr()
    assert "FAILED" in captured.out
    assert "RuntimeError: boom from the notebook" in captured.err
    assert (out / "toy.ipynb").read_bytes() == before
    assert (results / "answer.csv").read_text() == "value\n1\n"
    assert sorted(p.name for p in out.iterdir()) == ["toy.ipynb"]
    assert sorted(p.name for p in results.iterdir()) == ["answer.csv", "toy.provenance.json"]


@dataclass(frozen=True)
class KeyConfig(ChapterConfig):
    PROFILES = {"smoke": {"a": 2}}

    a: int = 1


def key_spec(path: Path, inputs=(), config=KeyConfig) -> runner.NotebookSpec:
    """A chapter declared with ``config`` and ``inputs``, for cache-key tests."""
    return runner.NotebookSpec("toy", path, "toy_module", Chapter(config=config, results=(), timeout=60,
                                                                 inputs=inputs))


def test_cache_key_tracks_parameters_and_inputs(monkeypatch, tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    spec = key_spec(tmp_path / "toy.ipynb")
    key = runner.cache_key(spec, nb, "smoke")
    assert key == runner.cache_key(spec, nb, "smoke")
    assert key != runner.cache_key(spec, nb, "default")

    @dataclass(frozen=True)
    class Changed(ChapterConfig):
        PROFILES = {"smoke": {"a": 3}}

        a: int = 1

    assert key != runner.cache_key(key_spec(spec.path, config=Changed), nb, "smoke")

    monkeypatch.setattr(runner, "REPO_ROOT", tmp_path)
    (tmp_path / "table.csv").write_text("a\n1\n")
    collector = key_spec(spec.path, inputs=("*.csv",))
    with_input = runner.cache_key(collector, nb, "smoke")
    assert with_input != runner.cache_key(spec, nb, "smoke")
    (tmp_path / "table.csv").write_text("a\n2\n")
    assert runner.cache_key(collector, nb, "smoke") != with_input


def test_a_summary_source_added_or_changed_makes_the_summary_stale(monkeypatch, tmp_path):
    """05-results declares its inputs through summary.input_files: a table added to SOURCES, or a
    change in one it lists, changes its cache key, so `pcsm run` re-executes it."""
    from pcsm.book import summary

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    spec = key_spec(tmp_path / "toy.ipynb", inputs=summary.input_files)
    monkeypatch.setattr(runner, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(summary, "SOURCES", {"Table 1": ("02-gaussian-mi", "one.csv")})
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "one.csv").write_text("a\n1\n")
    (tmp_path / "results" / "two.csv").write_text("a\n1\n")
    key = runner.cache_key(spec, nb, "smoke")
    (tmp_path / "results" / "one.csv").write_text("a\n2\n")
    changed = runner.cache_key(spec, nb, "smoke")
    assert changed != key
    monkeypatch.setitem(summary.SOURCES, "Table 2", ("03-mnist", "two.csv"))
    assert runner.cache_key(spec, nb, "smoke") != changed


def package_files() -> dict[str, str]:
    return {
        "pcsm/__init__.py": "",
        "pcsm/lib/__init__.py": "from .used import f\n",
        "pcsm/lib/used.py": "import math\nfrom pcsm.lib import helper\ndef f():\n    return 1\n",
        "pcsm/lib/helper.py": "X = 1\n",
        "pcsm/lib/unused.py": "Y = 1\n",
        "pcsm/book.py": "def lazy():\n    from pcsm import lazy_dep\n",
        "pcsm/lazy_dep.py": "Z = 1\n",
    }


def test_cache_key_follows_the_notebooks_pcsm_imports_transitively(monkeypatch, tmp_path, write_tree):
    write_tree(tmp_path, package_files())
    monkeypatch.setattr(runner, "REPO_ROOT", tmp_path)
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%matplotlib inline\nfrom pcsm.lib.used import f\nimport pcsm.book as b"),
    ])
    found = [str(p.relative_to(tmp_path)) for p in dependency_files(nb, tmp_path)]
    assert found == ["pcsm/__init__.py", "pcsm/book.py", "pcsm/lazy_dep.py", "pcsm/lib/__init__.py",
                     "pcsm/lib/helper.py", "pcsm/lib/used.py"]
    spec = key_spec(tmp_path / "toy.ipynb")
    key = runner.cache_key(spec, nb, "smoke")
    (tmp_path / "pcsm/lib/unused.py").write_text("Y = 2\n")  # not imported: still up to date
    assert runner.cache_key(spec, nb, "smoke") == key
    (tmp_path / "pcsm/lib/helper.py").write_text("X = 2\n")  # imported through used.py: stale
    assert runner.cache_key(spec, nb, "smoke") != key


def test_injected_parameters_do_not_change_the_source_digest():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    injected = nbformat.v4.new_code_cell("x = 2", metadata={"tags": ["injected-parameters"]})
    with_injection = nbformat.v4.new_notebook(cells=[nb.cells[0], injected])
    assert runner.source_digest(nb) == runner.source_digest(with_injection)


def test_cli_rejects_unknown_notebook_and_profile():
    for args, message in [
        (["run", "no-such-notebook"], "notebook: unknown no-such-notebook"),
        (["run", "--profile", "huge"], "invalid choice: 'huge'"),
    ]:
        proc = subprocess.run([sys.executable, "-m", "pcsm", *args], capture_output=True, text=True)
        assert proc.returncode == 2
        assert message in proc.stderr


def test_progress_bars_collapse_to_their_final_state():
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="\rbar 0/2"),
        nbformat.v4.new_output("stream", name="stderr", text="\rbar 1/2"),
        nbformat.v4.new_output("stream", name="stderr", text="\rbar 2/2\n"),
        nbformat.v4.new_output("stream", name="stdout", text="done\n"),
        nbformat.v4.new_output("stream", name="stdout", text="epoch 1\repoch 2\nnext\n"),
    ]
    nb = nbformat.v4.new_notebook(cells=[cell])
    runner.tidy_streams(nb)
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [
        ("stderr", "bar 2/2\n"),
        ("stdout", "done\nepoch 2\nnext\n"),
    ]


@pytest.mark.parametrize("smoke, message", [
    ("sead = 5", r"toy_chapter_\w+\.CHAPTER: ToyConfig\.PROFILES\['smoke'\]: sead: unknown parameter"),
    ('value = "ten"', r"toy \(ToyConfig\): value: expected int, got 'ten'"),
])
def test_bad_profile_parameters_are_refused_before_executing(tmp_path, smoke, message):
    plan = write_toy_plan(tmp_path, NOTEBOOK, "value = 1\nfail = False", {"smoke": smoke})
    out, results = tmp_path / "out", tmp_path / "results"
    with pytest.raises(ValueError, match=message):
        run(plan, out, results)
    assert not out.exists() and not results.exists()


@pytest.mark.parametrize("timeout, message", [
    ("-5", "timeout: expected a positive integer"),
    ('"ten minutes"', "timeout: expected a positive integer"),
])
def test_a_bad_declaration_names_its_module(tmp_path, timeout, message):
    plan = write_plan(tmp_path, value=1)
    [module] = tmp_path.glob("toy_chapter_*.py")
    module.write_text(module.read_text().replace("timeout=60", f"timeout={timeout}"))
    sys.modules.pop(module.stem, None)
    with pytest.raises(ValueError, match=f"{module.stem}.CHAPTER: {message}"):
        runner.load_plan(plan)


@pytest.mark.parametrize("toc, message", [
    ("chapters: [", "not valid YAML"),
    ("format: jb-book\nroot: intro\nchapters:\n  - file: missing\n", "missing.ipynb: no such notebook"),
    ("format: jb-book\nroot: intro\n", "lists no notebook"),
])
def test_a_bad_table_of_contents_names_the_file(tmp_path, toc, message):
    plan = write_plan(tmp_path, value=1)
    plan.write_text(toc)
    with pytest.raises(ValueError, match=message):
        runner.load_plan(plan)


def test_output_folders_are_checked_before_the_run(tmp_path):
    plan = write_plan(tmp_path, value=1)
    out, results = tmp_path / "out", tmp_path / "results"
    results.write_text("a file, not a folder")
    with pytest.raises(ValueError, match="--results-dir .*results: is not a folder"):
        run(plan, out, results)
    assert not out.exists()
    results.unlink()
    (results / "answer.csv").mkdir(parents=True)
    with pytest.raises(ValueError, match="answer.csv: exists and is not a file"):
        run(plan, out, results)
    assert not out.exists() and sorted(p.name for p in results.iterdir()) == ["answer.csv"]


def test_publishing_is_all_or_nothing(tmp_path, monkeypatch):
    staged, target = tmp_path / "staged", tmp_path / "target"
    staged.mkdir()
    target.mkdir()
    for name in ("a", "b", "c"):
        (staged / name).write_text(f"new {name}")
        (target / name).write_text(f"old {name}")
    real_replace, calls = publish.os.replace, []

    def failing_replace(src, dst):
        calls.append(dst)
        if len(calls) == 4:  # after a's swap, while swapping b in
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(publish.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        publish.publish({staged / n: target / n for n in ("a", "b", "c")})
    assert {p.name: p.read_text() for p in target.iterdir()} == {"a": "old a", "b": "old b", "c": "old c"}
    monkeypatch.setattr(publish.os, "replace", real_replace)
    publish.publish({staged / n: target / n for n in ("a", "b", "c")})
    assert {p.name: p.read_text() for p in target.iterdir()} == {"a": "new a", "b": "new b", "c": "new c"}


def test_temporary_publishing_files_are_ignored_by_git(tmp_path):
    names = [f"results/.x.csv{publish.INCOMING}", f"notebooks/.x.ipynb{publish.PREVIOUS}",
             f"results/.x.provenance.json{runner.LOCK_SUFFIX}"]
    proc = subprocess.run(["git", "check-ignore", *names], cwd=runner.REPO_ROOT, capture_output=True,
                          text=True)
    assert proc.stdout.split() == names


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                   capture_output=True)


def test_provenance_records_code_changes_not_rewritten_outputs(tmp_path):
    from pcsm.book import provenance

    (tmp_path / "pcsm").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "pcsm" / "lib.py").write_text("X = 1\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, tmp_path / "notebooks" / "a.ipynb")
    (tmp_path / "results" / "t.csv").write_text("a\n1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "init")
    assert provenance.code_changes(tmp_path) == []
    (tmp_path / "results" / "t.csv").write_text("a\n2\n")  # outputs the run rewrites
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nb.metadata["pcsm"] = {"cache_key": "new"}
    nbformat.write(nb, tmp_path / "notebooks" / "a.ipynb")
    assert provenance.code_changes(tmp_path) == []
    nb.cells[0].source = "x = 2"
    nbformat.write(nb, tmp_path / "notebooks" / "a.ipynb")
    (tmp_path / "pcsm" / "lib.py").write_text("X = 2\n")
    (tmp_path / "pcsm" / "new.py").write_text("")
    assert provenance.code_changes(tmp_path) == ["notebooks/a.ipynb", "pcsm/lib.py", "pcsm/new.py"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout
    assert provenance.git_commit(tmp_path) == head.strip()
