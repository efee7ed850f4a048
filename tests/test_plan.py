"""The plan's declarations: a notebook's inputs declared by the code that reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcsm.book import plan


def write(folder: Path, inputs: str) -> Path:
    path = folder / "profiles.toml"
    profiles = "".join(f"[notebooks.toy.{p}]\n" for p in plan.PROFILES)
    path.write_text(f"[notebooks.toy]\ntimeout = 60\ninputs = {inputs}\n{profiles}")
    return path


def test_inputs_are_globs_or_the_function_that_lists_them(tmp_path):
    globs = plan.load_plan(write(tmp_path, '["results/a.csv"]'))["toy"]
    assert plan.input_patterns(globs) == ("results/a.csv",)
    declared = plan.load_plan(write(tmp_path, '"pcsm.book.summary:input_files"'))["toy"]
    from pcsm.book import summary

    assert plan.input_patterns(declared) == tuple(summary.input_files())
    assert {f"results/{csv}" for _, csv in summary.SOURCES.values()} <= set(summary.input_files())


def test_bad_inputs_are_refused_naming_the_notebook(tmp_path, monkeypatch):
    path = write(tmp_path, '"results/a.csv"')
    with pytest.raises(ValueError, match="toy.inputs: expected a list of globs or 'module:function'"):
        plan.load_plan(path)
    (tmp_path / "toy_inputs.py").write_text("def one_glob():\n    return 'results/a.csv'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = plan.load_plan(write(tmp_path, '"toy_inputs:one_glob"'))["toy"]
    with pytest.raises(ValueError, match="notebooks.toy.inputs: toy_inputs:one_glob returned 'results/a.csv'"):
        plan.input_patterns(spec)
    spec = plan.load_plan(write(tmp_path, '"toy_inputs:missing"'))["toy"]
    with pytest.raises(ValueError, match="notebooks.toy.inputs: cannot import 'toy_inputs:missing'"):
        plan.input_patterns(spec)


def test_the_summary_reports_on_every_chapter_the_plan_runs_before_it(tmp_path):
    """A chapter added to the plan before the summary joins its run-time table and its inputs (each
    chapter's provenance record) with no edit to the summary's code or notebook."""
    from pcsm.book import summary

    def chapter(name: str, inputs: str = "") -> str:
        profiles = "".join(f"[notebooks.{name}.{p}]\n" for p in plan.PROFILES)
        return f"[notebooks.{name}]\ntimeout = 60\n{inputs}\n{profiles}"

    path = tmp_path / "profiles.toml"
    summary_entry = chapter("09-summary", 'inputs = "pcsm.book.summary:input_files"')
    path.write_text(chapter("01-a") + chapter("02-new") + summary_entry + chapter("10-after"))
    assert summary.summarised_chapters(path) == ["01-a", "02-new"]
    path.write_text(chapter("01-a") + chapter("02-new"))
    assert summary.summarised_chapters(path) == ["01-a", "02-new"]
    records = {f"results/{name}.provenance.json" for name in summary.summarised_chapters()}
    assert records <= set(summary.input_files()) and "results/05-results.provenance.json" not in records
