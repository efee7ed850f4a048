"""requirements.lock pins every package exactly, covers what pyproject.toml asks for, environment.yml
(conda, Binder) carries the same pins, and the venv runs exactly those versions."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pcsm.experiments.results import REPO_ROOT

LOCK = REPO_ROOT / "requirements.lock"


def pins_from_lock() -> dict[str, str]:
    """``name: version`` of every ``name==version`` line of the lock (comments and options skipped)."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)", line)
            assert match, f"requirements.lock: not an exact pin: {line!r}"
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def pins_from_environment() -> dict[str, str]:
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    reqs = [Requirement(r) for r in pip]
    for r in reqs:
        assert str(r.specifier).startswith("==") and "," not in str(r.specifier), f"environment.yml: {r} not exact"
    return {canonicalize_name(r.name): str(r.specifier).removeprefix("==") for r in reqs}


def project_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    return [Requirement(r) for r in project["dependencies"] + extras["book"] + extras["test"]]


def test_lock_satisfies_every_requirement_of_pyproject():
    """The lock is a resolution of pyproject.toml with both extras: nothing missing, no bound broken."""
    lock = pins_from_lock()
    for req in project_requirements():
        name = canonicalize_name(req.name)
        assert name in lock, f"{req.name} (pyproject.toml) is missing from requirements.lock: run `make lock`"
        assert req.specifier.contains(lock[name], prereleases=True), f"lock {name}=={lock[name]} breaks {req}"


def test_lock_keeps_the_torch_the_numbers_were_produced_with():
    lock = pins_from_lock()
    assert (lock["torch"], lock["torchvision"]) == ("2.14.1", "0.29.1")


def test_environment_yml_has_the_same_pins():
    assert pins_from_environment() == pins_from_lock()


def test_installed_versions_match_the_lock():
    wrong = []
    for name, pinned in pins_from_lock().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "missing"
        if installed != pinned:
            wrong.append(f"{name}: installed {installed}, locked {pinned}")
    assert not wrong, "the venv differs from requirements.lock (make setup):\n" + "\n".join(wrong)
