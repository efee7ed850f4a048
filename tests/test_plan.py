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
