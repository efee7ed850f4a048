"""The plan: chapters read from the table of contents and their modules' declarations, one home for
each parameter, a run order that follows what each chapter reads."""

from __future__ import annotations

import ast
from dataclasses import dataclass

import nbformat
import pytest

from pcsm.book import plan, summary
from pcsm.experiments.config import Chapter, ChapterConfig
from toy_plan import write_toy_plan


@dataclass(frozen=True)
class Toy(ChapterConfig):
    a: int = 1


def test_inputs_are_globs_or_the_function_that_lists_them():
    assert Chapter(config=Toy, results=(), timeout=60, inputs=["results/a.csv"]).input_patterns() == (
        "results/a.csv",)
    declared = Chapter(config=Toy, results=(), timeout=60, inputs=summary.input_files)
    assert declared.input_patterns() == tuple(summary.input_files())
    assert {f"results/{csv}" for _, csv in summary.SOURCES.values()} <= set(summary.input_files())


@pytest.mark.parametrize("fields, message", [
    ({"inputs": "results/a.csv"}, "inputs: expected a list of strings"),
    ({"timeout": 0}, "timeout: expected a positive integer"),
    ({"published": "huge"}, "published: expected one of smoke, default, paper"),
    ({"validate": {"b": 1}}, "validate: b: unknown parameter of Toy"),
    ({"results": "answer"}, "results: expected a list of strings"),
])
def test_a_bad_declaration_is_refused_by_field(fields, message):
    with pytest.raises(ValueError, match=message):
        Chapter(**{"config": Toy, "results": (), "timeout": 60, **fields})


def test_a_declaring_function_that_returns_no_list_is_named():
    def one_glob():
        return "results/a.csv"

    with pytest.raises(ValueError, match="inputs: .*one_glob returned 'results/a.csv', not a list of globs"):
        Chapter(config=Toy, results=(), timeout=60, inputs=one_glob).input_patterns()


def test_the_run_order_follows_what_each_chapter_reads(tmp_path):
    """A chapter listed first that reads another's table runs after it; the table's order otherwise."""
    write_toy_plan(tmp_path, "", "a = 1", name="00-summary", inputs=("results/answer.csv",))
    write_toy_plan(tmp_path, "", "a = 1", name="01-first")
    toc = write_toy_plan(tmp_path, "", "a = 1", name="02-second")
    assert list(plan.load_plan(toc)) == ["01-first", "02-second", "00-summary"]


def test_chapters_that_read_each_other_are_refused(tmp_path):
    write_toy_plan(tmp_path, "", "a = 1", name="01-one", inputs=("results/02-two.provenance.json",))
    toc = write_toy_plan(tmp_path, "", "a = 1", name="02-two", inputs=("results/01-one.provenance.json",))
    with pytest.raises(ValueError, match="the chapters 01-one, 02-two read each other's results"):
        plan.load_plan(toc)


def test_a_notebook_that_names_no_module_is_refused(tmp_path):
    toc = write_toy_plan(tmp_path, "", "a = 1")
    nb = nbformat.read(tmp_path / "toy.ipynb", as_version=4)
    del nb.metadata["pcsm"]
    nbformat.write(nb, tmp_path / "toy.ipynb")
    with pytest.raises(ValueError, match="toy.ipynb: its metadata names no chapter module"):
        plan.load_plan(toc)


def test_the_summary_reports_on_every_other_chapter_of_the_book(tmp_path):
    """A chapter added to the table of contents joins the summary's run-time table and its inputs (each
    chapter's provenance record) with no edit to the summary's code or notebook."""
    for name in ("01-a", "02-new"):
        toc = write_toy_plan(tmp_path, "", "a = 1", name=name)
    nb = nbformat.read(tmp_path / "01-a.ipynb", as_version=4)
    nb.metadata["pcsm"]["chapter"] = summary.__name__
    nbformat.write(nb, tmp_path / "00-summary.ipynb")
    toc.write_text(toc.read_text().replace("chapters:", "chapters:\n  - file: 00-summary"))
    assert summary.summarised_chapters(toc) == ["01-a", "02-new"]
    assert summary.summarised_chapters() == [n for n in plan.load_plan() if n != "05-results"]
    records = {f"results/{name}.provenance.json" for name in summary.summarised_chapters()}
    assert records <= set(summary.input_files()) and "results/05-results.provenance.json" not in records


@pytest.mark.parametrize("spec", plan.load_plan().values(), ids=lambda spec: spec.name)
def test_each_chapter_has_one_home_per_parameter(spec):
    """The notebook's parameters cell names the profile and the overrides, nothing else; every profile
    and the validation subset build a checked record of the chapter's own class."""
    nb = nbformat.read(spec.path, as_version=4)
    [cell] = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    names = [node.targets[0].id for node in ast.parse(cell.source).body]
    assert names == ["profile", "overrides"]
    for profile in plan.PROFILES:
        assert isinstance(spec.record(profile), spec.config)
    assert isinstance(spec.record(spec.published, spec.validate), spec.config)
    assert nb.metadata["pcsm"]["chapter"] == spec.module
