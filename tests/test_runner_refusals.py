"""The runner refuses what would publish a wrong or mixed book, before the notebook runs where it can,
and reports a notebook that fails in any way by notebook and cell, publishing nothing."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from pcsm.book import publish, runner
from toy_plan import run_toy as run, write_toy_plan

WRITE = """\
from pcsm.experiments.results import results_dir
import sys
print("progress 1/2", file=sys.stderr)
if write:
    (results_dir() / "answer.csv").write_text(f"value\\n{value}\\n")
print("value is", value)
"""


def write_plan(folder: Path, body: str = WRITE, timeout: int = 60, smoke: str = "value = 2",
               check: str = "") -> Path:
    """A one-notebook plan whose notebook declares ``value = 1`` and ``write = True``."""
    return write_toy_plan(folder, body, "value = 1\nwrite = True", {"smoke": smoke}, timeout, check)



@pytest.mark.slow  # starts a kernel
def test_the_page_shows_every_parameter_once_and_no_progress(tmp_path):
    plan = write_plan(tmp_path)
    source = nbformat.read(tmp_path / "toy.ipynb", as_version=4)
    source.cells[0].metadata.tags.append("hide-cell")  # as an earlier runner left it
    nbformat.write(source, tmp_path / "toy.ipynb")
    out, results = tmp_path / "out", tmp_path / "results"
    assert run(plan, out, results) == 0
    cells = nbformat.read(out / "toy.ipynb", as_version=4).cells
    defaults, injected, _, body = cells[:4]
    assert defaults.metadata.tags == ["parameters", "remove-cell"]
    assert "hide-cell" in injected.metadata.tags
    assert "profile = \"smoke\"" in injected.source and "overrides = {}" in injected.source
    assert [o.get("name") for o in body.outputs] == ["stdout"] and "value is 2" in body.outputs[0].text
    record = json.loads((results / "toy.provenance.json").read_text())
    assert record["parameters"] == {"value": 2, "write": True}  # the default of write, not overridden
    assert "| `value` | `2` |\n| `write` | `True` |" in cells[-1].source  # every value, once, in the provenance


@pytest.mark.slow  # starts a kernel
def test_a_declared_table_not_written_fails_and_publishes_nothing(tmp_path, capsys):
    plan = write_plan(tmp_path)
    out, results = tmp_path / "out", tmp_path / "results"
    assert run(plan, out, results) == 0
    before = {p.name: p.read_bytes() for p in [*out.iterdir(), *results.iterdir()]}
    write_plan(tmp_path, smoke="value = 3\nwrite = false")
    assert run(plan, out, results) == 1
    assert "toy: ran to the end but did not write answer.csv" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in [*out.iterdir(), *results.iterdir()]} == before


@pytest.mark.slow  # starts a kernel
def test_a_notebook_beside_another_runs_tables_is_not_up_to_date(tmp_path, capsys):
    plan = write_plan(tmp_path)
    out, results, other = tmp_path / "out", tmp_path / "results", tmp_path / "other"
    assert run(plan, out, results) == 0
    record = json.loads((results / "toy.provenance.json").read_text())
    (results / "toy.provenance.json").write_text(json.dumps({**record, "cache_key": "another run"}))
    capsys.readouterr()
    assert run(plan, out, results) == 0
    assert "executed" in capsys.readouterr().out
    assert run(plan, out, other) == 0  # same notebook folder, tables elsewhere: executed again
    assert "executed" in capsys.readouterr().out


@pytest.mark.slow  # starts a kernel
@pytest.mark.parametrize("body, message", [
    ("import os\nos._exit(3)", r"toy: the kernel died while running cell 3 \('import os'\)"),
    ("import time\ntime.sleep(60)", r"toy: cell 3 \('import time'\) ran longer than the timeout of 3 s "
                                    r"\(timeout of toy_chapter_\w+\.CHAPTER\)"),
])
def test_a_dead_kernel_or_a_timeout_is_reported_by_notebook_and_cell(tmp_path, capsys, body, message):
    plan = write_plan(tmp_path, body=body, timeout=3)
    out, results = tmp_path / "out", tmp_path / "results"
    assert run(plan, out, results) == 1
    captured = capsys.readouterr()
    assert "FAILED" in captured.out
    assert re.search(message, captured.err), captured.err
    assert "Traceback" not in captured.err
    assert not out.exists() and not results.exists()


@pytest.mark.slow  # starts a kernel
def test_a_second_run_of_the_same_notebook_is_refused_while_one_publishes(tmp_path):
    plan = write_plan(tmp_path)
    out, results = tmp_path / "out", tmp_path / "results"
    spec = runner.load_plan(plan)["toy"]
    with runner.publishing_lock(spec, [results / "toy.provenance.json"]):
        with pytest.raises(ValueError, match="toy is being published by another run"):
            run(plan, out, results)
    assert run(plan, out, results) == 0  # released


def test_staging_names_are_unique_and_leave_nothing(tmp_path):
    staged, target = tmp_path / "staged", tmp_path / "target"
    staged.mkdir()
    (staged / "a").write_text("new")
    target.mkdir()
    names = {publish._beside(target / "a", publish.INCOMING).name for _ in range(3)}
    assert len(names) == 3 and all(n.startswith(".a.") and n.endswith(".pcsm-incoming") for n in names)
    for name in names:
        (target / name).unlink()
    (staged / "a").chmod(0o600)  # as a notebook's atomic write leaves it
    previous = os.umask(0o022)
    try:
        publish.publish({staged / "a": target / "a"})
        publish.publish({staged / "a": target / "a"})
    finally:
        os.umask(previous)
    assert [p.name for p in target.iterdir()] == ["a"]
    assert (target / "a").stat().st_mode & 0o777 == 0o644


def test_a_read_only_results_folder_is_refused_before_the_run(tmp_path, monkeypatch):
    plan = write_plan(tmp_path)
    out, results = tmp_path / "out", tmp_path / "results"
    results.mkdir()
    real_access = runner.os.access
    monkeypatch.setattr(runner.os, "access", lambda p, mode: Path(p) != results and real_access(p, mode))
    with pytest.raises(ValueError, match=f"--results-dir {results}: {results} is read-only"):
        run(plan, out, results)
    assert not out.exists()


@pytest.mark.parametrize("given, message", [
    ({"results_target": Path("somewhere")}, r"--results-dir \(or PCSM_RESULTS_DIR\) alone"),
    ({"output_dir": Path("somewhere")}, "--output-dir alone"),
    ({"output_dir": Path("x"), "results_target": runner.REPO_ROOT}, "--results-dir .*is the repository's root"),
])
def test_output_folders_go_together_and_never_into_the_repository_root(tmp_path, given, message):
    plan = write_plan(tmp_path)
    with pytest.raises(ValueError, match=message):
        runner.run([], "smoke", plan_file=plan, **given)
    assert not Path("somewhere").exists() and not (runner.REPO_ROOT / "answer.csv").exists()


def test_an_empty_results_dir_is_the_repository_root_when_run_there(tmp_path, monkeypatch):
    plan = write_plan(tmp_path)
    monkeypatch.chdir(runner.REPO_ROOT)
    with pytest.raises(ValueError, match="--results-dir '.': is the repository's root"):
        runner.run([], "smoke", output_dir=tmp_path / "out", results_target=Path(""), plan_file=plan)


@pytest.mark.parametrize("variable, value", [("PCSM_JOBS", "abc"), ("PCSM_JOBS", "0"),
                                             ("PCSM_THREADS", "abc"), ("PCSM_THREADS", "-2")])
def test_bad_parallelism_variables_are_refused_before_the_run(tmp_path, monkeypatch, variable, value):
    plan = write_plan(tmp_path)
    monkeypatch.setenv(variable, value)
    out, results = tmp_path / "out", tmp_path / "results"
    with pytest.raises(ValueError, match=variable):
        run(plan, out, results)
    assert not out.exists() and not results.exists()


@pytest.mark.parametrize("module, smoke, message", [
    ("toy_full_check", "value = -1", r"toy \(ToyConfig\): value: expected >= 0, got -1"),
    ("toy_full_check", 'value = "2"', r"toy \(ToyConfig\): value: expected int, got '2'"),
    ("toy_full_check", "valeu = 2", r"toy_chapter_\w+\.CHAPTER: ToyConfig\.PROFILES\['smoke'\]: valeu: unknown parameter"),
])
def test_the_record_checks_every_parameter_before_a_kernel_starts(tmp_path, monkeypatch, module, smoke, message):
    """The chapter's record is built from its defaults and the profile's values, all of them, at the
    door: a bad value, or a profile naming a parameter the record lacks, is refused by name before
    anything runs."""
    checks = {"toy_full_check": "def check(value, write):\n    if value < 0:\n"
                                "        raise ValueError(f'value: expected >= 0, got {value}')\n"}
    (tmp_path / f"{module}.py").write_text(checks[module])
    monkeypatch.syspath_prepend(str(tmp_path))
    plan = write_plan(tmp_path, smoke=smoke, check=f'check = "{module}:check"')
    out, results = tmp_path / "out", tmp_path / "results"
    with pytest.raises(ValueError, match=message):
        run(plan, out, results)
    assert not out.exists() and not results.exists()


@pytest.mark.slow  # starts a kernel
def test_a_truncated_published_table_is_not_up_to_date_and_is_published_again(tmp_path, capsys):
    plan = write_plan(tmp_path)
    out, results = tmp_path / "out", tmp_path / "results"
    assert run(plan, out, results) == 0
    record = json.loads((results / "toy.provenance.json").read_text())
    assert record["tables"] == {"answer.csv": {"rows": 1, "sha256": hashlib.sha256(b"value\n2\n").hexdigest()}}
    (results / "answer.csv").write_text("value\n")  # truncated after the header
    assert runner.table_problems(record, results, ["answer"]) == [
        "answer.csv changed since it was published (truncated or edited)"]
    assert runner.table_problems({}, results, ["answer"]) == [
        "its provenance record lists no tables (tables: row counts and sha256)"]
    capsys.readouterr()
    assert run(plan, out, results) == 0
    assert "executed" in capsys.readouterr().out
    assert (results / "answer.csv").read_text() == "value\n2\n"
    assert run(plan, out, results) == 0
    assert "up to date" in capsys.readouterr().out


@pytest.mark.slow  # starts a kernel
def test_the_lock_lives_beside_what_it_guards_whatever_the_temporary_folder(tmp_path, monkeypatch):
    """Two runs with different temporary folders (two cluster jobs) see the same lock, in the results
    folder; it is removed when the run ends."""
    plan = write_plan(tmp_path)
    out, results = tmp_path / "out", tmp_path / "results"
    spec = runner.load_plan(plan)["toy"]
    for name in ("first-tmp", "second-tmp"):
        (tmp_path / name).mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "first-tmp"))
    with runner.publishing_lock(spec, [results / "toy.provenance.json"]):
        assert (results / ".toy.provenance.json.pcsm-lock").is_file()
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "second-tmp"))
        with pytest.raises(ValueError, match="toy is being published by another run"):
            run(plan, out, results)
    assert not results.exists()  # created for the lock only, removed with it
    assert run(plan, out, results) == 0
    assert sorted(p.name for p in results.iterdir()) == ["answer.csv", "toy.provenance.json"]


def test_a_notebook_path_outside_the_notebooks_folder_is_refused_by_name(tmp_path):
    plan = write_plan(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "toy.ipynb").write_bytes((tmp_path / "toy.ipynb").read_bytes())
    specs = runner.load_plan(plan)
    with pytest.raises(ValueError, match=f"notebook {elsewhere / 'toy.ipynb'}: not the declared notebook "
                                         f"{tmp_path / 'toy.ipynb'}"):
        runner.run([str(elsewhere / "toy.ipynb")], "smoke", tmp_path / "out", tmp_path / "results",
                   plan_file=plan)
    assert runner.select(specs, [str(tmp_path / "toy.ipynb"), "toy.ipynb", "toy"]) == [specs["toy"]] * 3


@pytest.mark.parametrize("damage, message", [
    (lambda path: path.unlink(), "no such notebook"),
    (lambda path: path.write_text(path.read_text()[:200]), "not a readable notebook"),
    (lambda path: (path.unlink(), path.mkdir()), "is a folder, not a notebook"),
])
def test_a_missing_or_truncated_notebook_is_named(tmp_path, damage, message):
    plan = write_plan(tmp_path)
    damage(tmp_path / "toy.ipynb")
    with pytest.raises(ValueError, match=f"{tmp_path / 'toy.ipynb'}: {message}"):
        run(plan, tmp_path / "out", tmp_path / "results")
    assert not (tmp_path / "out").exists() and not (tmp_path / "results").exists()


INTERRUPTED_RUN = """\
import functools, sys, types
from pathlib import Path
import pcsm.__main__ as cli
from pcsm.book import runner
plan, out, results = sys.argv[1:]
sys.path.insert(0, str(Path(plan).parent))  # where the toy chapter's module lies
cli.runner = types.SimpleNamespace(PROFILES=runner.PROFILES,
                                   run=functools.partial(runner.run, plan_file=Path(plan)))
sys.exit(cli.main(["run", "--profile", "smoke", "--output-dir", out, "--results-dir", results]))
"""


@pytest.mark.slow  # starts a kernel
@pytest.mark.parametrize("signum, status, cause", [(signal.SIGINT, 130, "Ctrl-C"),
                                                   (signal.SIGTERM, 143, "SIGTERM")])
def test_ctrl_c_and_sigterm_end_in_one_line_and_leave_nothing(tmp_path, signum, status, cause):
    started = tmp_path / "started"
    body = f"from pathlib import Path\nimport time\nPath({str(started)!r}).write_text('')\ntime.sleep(120)\n"
    plan = write_plan(tmp_path, body=body, timeout=300)
    scratch, runtime = tmp_path / "tmp", tmp_path / "runtime"
    scratch.mkdir()
    runtime.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "JUPYTER_RUNTIME_DIR": str(runtime)}
    out, results = tmp_path / "out", tmp_path / "results"
    # as from a terminal: SIGINT at its default even where this test runs as a background job of a
    # non-interactive shell, which starts such jobs with SIGINT ignored (and children inherit that)
    process = subprocess.Popen([sys.executable, "-c", INTERRUPTED_RUN, str(plan), str(out), str(results)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while not started.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert started.exists(), process.communicate()
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == status, stderr
    assert stderr.strip().splitlines() == [f"pcsm run: stopped by {cause}; the work in progress was not "
                                           "published"], stderr
    assert "interrupted after" in stdout
    assert list(scratch.iterdir()) == [] and list(runtime.iterdir()) == []
    assert not out.exists() and not results.exists()
