"""The papermill runner: skipping, re-execution on change, atomic outputs, clear failures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from pcsm.book import publish, runner
from pcsm.book.dependencies import dependency_files

pytestmark = pytest.mark.slow

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
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(f"value = {value}\nfail = {fail}", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(NOTEBOOK),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "toy.ipynb")
    plan = folder / "profiles.toml"
    profiles = "".join(f"[notebooks.toy.{p}]\nvalue = {value}\nfail = {str(fail).lower()}\n{extra}\n"
                       for p in runner.PROFILES)
    plan.write_text(f'[notebooks.toy]\ntimeout = 60\nresults = ["answer"]\n\n{profiles}')
    return plan


def run(plan: Path, out: Path, results: Path, **kwargs) -> int:
    return runner.run([], "smoke", output_dir=out, results_target=results, plan_file=plan, **kwargs)


def test_executes_then_skips_then_reexecutes_on_change(tmp_path, capsys):
    plan = write_plan(tmp_path, value=1)
    out, results = tmp_path / "out", tmp_path / "results"
    assert run(plan, out, results) == 0
    assert "executed" in capsys.readouterr().out
    executed = nbformat.read(out / "toy.ipynb", as_version=4)
    assert executed.metadata["pcsm"]["profile"] == "smoke"
    assert "value is 1" in executed.cells[-2].outputs[0]["text"]
    assert executed.cells[-1].source.startswith("## Provenance")
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


def test_cache_key_tracks_parameters_and_inputs(monkeypatch, tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    params = {p: {"a": 1} for p in runner.PROFILES}
    spec = runner.NotebookSpec("toy", tmp_path / "toy.ipynb", 60, params)
    key = runner.cache_key(spec, nb, "smoke")
    assert key == runner.cache_key(spec, nb, "smoke")
    assert key != runner.cache_key(spec, nb, "default")
    changed = runner.NotebookSpec("toy", spec.path, 60, {**params, "smoke": {"a": 2}})
    assert key != runner.cache_key(changed, nb, "smoke")

    monkeypatch.setattr(runner, "REPO_ROOT", tmp_path)
    (tmp_path / "table.csv").write_text("a\n1\n")
    collector = runner.NotebookSpec("toy", spec.path, 60, params, inputs=("*.csv",))
    with_input = runner.cache_key(collector, nb, "smoke")
    assert with_input != runner.cache_key(spec, nb, "smoke")
    (tmp_path / "table.csv").write_text("a\n2\n")
    assert runner.cache_key(collector, nb, "smoke") != with_input


def write_package(root: Path) -> None:
    files = {
        "pcsm/__init__.py": "",
        "pcsm/lib/__init__.py": "from .used import f\n",
        "pcsm/lib/used.py": "import math\nfrom pcsm.lib import helper\ndef f():\n    return 1\n",
        "pcsm/lib/helper.py": "X = 1\n",
        "pcsm/lib/unused.py": "Y = 1\n",
        "pcsm/book.py": "def lazy():\n    from pcsm import lazy_dep\n",
        "pcsm/lazy_dep.py": "Z = 1\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_cache_key_follows_the_notebooks_pcsm_imports_transitively(monkeypatch, tmp_path):
    write_package(tmp_path)
    monkeypatch.setattr(runner, "REPO_ROOT", tmp_path)
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%matplotlib inline\nfrom pcsm.lib.used import f\nimport pcsm.book as b"),
    ])
    found = [str(p.relative_to(tmp_path)) for p in dependency_files(nb, tmp_path)]
    assert found == ["pcsm/__init__.py", "pcsm/book.py", "pcsm/lazy_dep.py", "pcsm/lib/__init__.py",
                     "pcsm/lib/helper.py", "pcsm/lib/used.py"]
    spec = runner.NotebookSpec("toy", tmp_path / "toy.ipynb", 60, {p: {} for p in runner.PROFILES})
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
