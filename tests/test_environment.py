"""requirements.lock pins every package exactly, covers what pyproject.toml asks for, environment.yml
(conda, Binder) carries the same pins with torch for the CPU (and nothing else changed), `make lock`
writes it so, and the venv runs exactly the lock's versions."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from importlib.metadata import PackageNotFoundError, version

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pcsm.experiments.results import REPO_ROOT

LOCK = REPO_ROOT / "requirements.lock"
# environment.yml's one difference from the lock: Binder has no GPU, so torch and torchvision come from
# PyTorch's CPU wheel index as +cpu builds, without the CUDA stack the lock's torch pulls in
CPU_INDEX = "--extra-index-url https://download.pytorch.org/whl/cpu"
CPU_BUILDS = ("torch", "torchvision")


def cuda_stack(name: str) -> bool:
    return name.startswith(("nvidia-", "cuda-")) or name == "triton"


def cpu_substitution(pins: dict[str, str]) -> dict[str, str]:
    """The lock's pins as environment.yml carries them."""
    return {name: f"{pin}+cpu" if name in CPU_BUILDS else pin
            for name, pin in pins.items() if not cuda_stack(name)}


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


def environment_pip() -> list[str]:
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))


def pins_from_environment() -> dict[str, str]:
    reqs = [Requirement(r) for r in environment_pip() if not r.startswith("-")]
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


def test_environment_yml_has_the_same_pins_with_torch_for_the_cpu():
    lock = pins_from_lock()
    assert [line for line in environment_pip() if line.startswith("-")] == [CPU_INDEX]
    assert any(map(cuda_stack, lock)), "the lock has no CUDA stack: is the substitution still needed?"
    assert pins_from_environment() == cpu_substitution(lock)


def test_make_lock_writes_environment_yml_as_committed(tmp_path):
    """The `lock` recipe's copy step (its resolution replaced by the committed lock: PY=true) rewrites
    environment.yml byte for byte."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for name in ("environment.yml", "requirements.lock", "pyproject.toml"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    header = (REPO_ROOT / "environment.yml").read_text().split("  - pip:\n")[0]
    (tmp_path / "environment.yml").write_text(header + "  - pip:\n      - stale==1\n")
    subprocess.run(["make", "-s", "-f", str(REPO_ROOT / "Makefile"), "lock", "PY=true"], cwd=tmp_path,
                   check=True, capture_output=True)
    assert (tmp_path / "environment.yml").read_text() == (REPO_ROOT / "environment.yml").read_text()


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
