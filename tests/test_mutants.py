"""The validation's power: each mutant (a broken piece of the method) must fail `pcsm validate` by a
clear margin. Checked here without training, on synthetic one-seed fresh tables of each mutant's least
effect against the committed tables and the declared metrics; the real runs are `python -m pcsm mutants`."""

from __future__ import annotations

import ast
import dataclasses
import json
import shutil

import pandas as pd
import pytest

from pcsm.book import mutants
from pcsm.book.plan import Metric, load_plan
from pcsm.book.validate import compare_metric
from pcsm.experiments.results import REPO_ROOT

RESULTS = REPO_ROOT / "results"


@pytest.mark.parametrize("mutant", mutants.MUTANTS, ids=lambda m: m.name)
def test_each_mutant_fails_the_declared_metrics_by_a_clear_margin(mutant):
    assert mutants.expected_margin(mutant, RESULTS) >= mutants.CLEAR_MARGIN, mutant.effect.why


@pytest.mark.parametrize("mutant", mutants.MUTANTS, ids=lambda m: m.name)
def test_the_mutants_group_is_in_its_notebooks_validation_subset(mutant):
    """A mutant caught only in a group the validation subset does not run would never be caught."""
    spec = load_plan()[mutant.notebook]
    subset = spec.record(spec.published, spec.validate).parameters()
    for column, plural in (("ratio", "ratios"), ("dim", "dims"), ("estimator", "estimators"),
                           ("setting", "settings")):
        if column in mutant.effect.group and plural in subset:
            assert mutant.effect.group[column] in subset[plural], (mutant.name, plural, subset[plural])


def test_an_unbroken_run_has_no_margin_and_the_report_parses_validate_failures(tmp_path):
    mutant = mutants.find(["pc-softmax-trained-as-softmax"])[0]
    unbroken = mutants.Mutant(mutant.name, mutant.notebook, mutant.file, mutant.function, mutant.old, mutant.new,
                              mutants.Effect(**{**mutant.effect.__dict__, "like": {}}))
    assert mutants.expected_margin(unbroken, RESULTS) == 0.0
    metric = Metric("t", ("method",), "v", k=2.0, floor=0.5, reason="test")
    committed = pd.DataFrame({"method": "pc-softmax", "v": [90.0, 92.0, 94.0]})
    outcome = compare_metric("03-mnist", metric, committed.head(1).assign(v=80.0), committed)
    (departure,) = outcome.departures
    assert outcome.failures == (f"{departure} = 2 · std + 0.5",)
    report = tmp_path / "validation.json"
    report.write_text(json.dumps({"departures": [dataclasses.asdict(departure)]}))
    ((table, group, fresh, mean, bound, margin),) = mutants.failures_of(report)
    assert (table, fresh, mean, bound) == ("t", 80.0, 92.0, 4.5) and margin == pytest.approx(12 / 4.5)
    assert group == "method=pc-softmax v"


def test_unknown_mutant_is_refused_by_name():
    with pytest.raises(ValueError, match="mutant: unknown nope"):
        mutants.find(["nope"])


def test_the_copy_leaves_out_git_environment_and_data(tmp_path, monkeypatch, write_tree):
    source = write_tree(tmp_path / "repo", dict.fromkeys(
        ("pcsm/a.py", ".venv/bin/python", ".git/HEAD", "data/mnist.gz", "results/t.csv"), "x"))
    monkeypatch.setattr(mutants, "REPO_ROOT", source)
    mutants.copy_repository(tmp_path / "copy")
    found = sorted(str(p.relative_to(tmp_path / "copy")) for p in (tmp_path / "copy").rglob("*") if p.is_file())
    assert found == ["pcsm/a.py", "results/t.csv"]
    shutil.rmtree(tmp_path / "copy")


def test_the_command_line_lists_the_mutants_and_refuses_an_unknown_one_by_name(capsys):
    """One argument parser: `pcsm mutants` options are the main command line's."""
    from pcsm.__main__ import main

    assert main(["mutants", "--list", "pc-softmax-trained-as-softmax"]) == 0
    assert capsys.readouterr().out.startswith("pc-softmax-trained-as-softmax (03-mnist, pcsm/core/losses.py)")
    with pytest.raises(SystemExit) as stop:
        main(["mutants", "nope"])
    assert stop.value.code == 2 and "mutant: unknown nope" in capsys.readouterr().err


@pytest.mark.parametrize("mutant", mutants.MUTANTS, ids=lambda m: m.name)
def test_each_mutant_rewrites_its_function_only_and_the_copy_compiles(mutant):
    original = ast.parse((REPO_ROOT / mutant.file).read_text())
    mutated = ast.parse(mutants.substituted(mutant))
    differ = [a.name for a, b in zip(original.body, mutated.body) if ast.dump(a) != ast.dump(b)]
    assert differ == [mutant.function.split(".")[0]]
    assert mutant.new in ast.unparse(mutants._function_node(mutated, mutant.function))


def test_a_reformatted_function_keeps_its_mutant_and_a_changed_one_is_named(tmp_path, write_tree):
    """Quotes, line breaks and comments do not matter (the match is on ast.unparse's normal form)."""
    effect = mutants.MUTANTS[0].effect
    mutant = mutants.Mutant("m", "01-bound", "pcsm/toy.py", "Toy.f", "return x - 1", "return x + 1", effect)
    source = ('X = 1\n\n\nclass Toy:\n    @staticmethod\n    def f(x):\n        """Doc."""\n'
              '        return (x -\n                1)  # note\n')
    write_tree(tmp_path, {"pcsm/toy.py": source})
    namespace: dict = {}
    exec(mutants.substituted(mutant, tmp_path), namespace)
    assert namespace["Toy"].f(1) == 2 and namespace["X"] == 1
    write_tree(tmp_path, {"pcsm/toy.py": source.replace("x -", "x *")})
    with pytest.raises(ValueError, match="mutant m: Toy.f in pcsm/toy.py holds its text 0 times"):
        mutants.substituted(mutant, tmp_path)
    write_tree(tmp_path, {"pcsm/toy.py": "X = 1\n"})
    with pytest.raises(ValueError, match="mutant m: pcsm/toy.py defines no Toy.f"):
        mutants.substituted(mutant, tmp_path)
