"""The book's plan, ``notebooks/profiles.toml``: notebooks, their profiles and validation metrics.

Every value is checked when the plan is read, and a profile's parameters are checked against the
notebook's own ``parameters`` cell (names and types of its defaults) before anything is executed, so a
misspelled or mistyped parameter is refused by name instead of being passed to papermill.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from pcsm.experiments.results import REPO_ROOT

PROFILES = ("smoke", "default", "paper")
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
PLAN_FILE = NOTEBOOK_DIR / "profiles.toml"
NOTEBOOK_KEYS = {"published", "timeout", "results", "inputs", "check", "validate", "metric", *PROFILES}
METRIC_KEYS = {"table", "keys", "value", "std", "n", "where", "k", "floor", "reason", "null", "detects"}


@dataclass(frozen=True)
class Metric:
    """One aggregate the validation compares: the mean of ``value`` per group of ``keys`` must lie
    within ``k`` committed standard deviations plus ``floor`` of the committed mean. ``null``: the
    value a lost effect gives (a gain of 0), which every committed group must lie more than its
    bound away from; ``detects``: the broken methods this metric is there to catch."""

    table: str
    keys: tuple[str, ...]
    value: str
    k: float
    floor: float
    reason: str
    std: str | None = None
    n: str | None = None
    where: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    null: float | None = None
    detects: str = ""


@dataclass(frozen=True)
class NotebookSpec:
    """One notebook of the book: its file, per-cell timeout, parameters per profile, the profile its
    committed outputs come from, the tables it writes, its inputs, its parameter check and the
    validation subset and metrics (see ``pcsm.book.validate``). Its inputs are the globs ``inputs``
    and those returned by the function ``inputs_from`` ("module:function"), declared in profiles.toml
    as ``inputs = [...]`` or ``inputs = "module:function"`` (:func:`input_patterns`)."""

    name: str
    path: Path
    timeout: int
    parameters: dict[str, dict[str, Any]]
    results: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    published: str = "default"
    check: str | None = None
    inputs_from: str | None = None
    validate: dict[str, Any] = field(default_factory=dict)
    metrics: tuple[Metric, ...] = ()


def _fail(plan_file: Path, where: str, message: str) -> ValueError:
    return ValueError(f"{plan_file}: {where}: {message}")


def _str_list(value: Any, plan_file: Path, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(plan_file, where, f"expected a list of strings, got {value!r}")
    return tuple(value)


def _number(value: Any, plan_file: Path, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise _fail(plan_file, where, f"expected a non-negative number, got {value!r}")
    return float(value)


def _metric(raw: Any, plan_file: Path, where: str) -> Metric:
    if not isinstance(raw, dict):
        raise _fail(plan_file, where, "expected a table ([[notebooks.NAME.metric]])")
    unknown = set(raw) - METRIC_KEYS
    if unknown:
        raise _fail(plan_file, where, f"unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("table", "value", "reason"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise _fail(plan_file, f"{where}.{key}", f"expected a non-empty string, got {raw.get(key)!r}")
    null = raw.get("null")
    if null is not None and (isinstance(null, bool) or not isinstance(null, (int, float))):
        raise _fail(plan_file, f"{where}.null", f"expected a number, got {null!r}")
    if not isinstance(raw.get("detects", ""), str):
        raise _fail(plan_file, f"{where}.detects", f"expected a string, got {raw['detects']!r}")
    where_raw = raw.get("where", {})
    if not isinstance(where_raw, dict):
        raise _fail(plan_file, f"{where}.where", f"expected a table of column = values, got {where_raw!r}")
    return Metric(
        table=raw["table"],
        keys=_str_list(raw.get("keys"), plan_file, f"{where}.keys"),
        value=raw["value"],
        k=_number(raw.get("k"), plan_file, f"{where}.k"),
        floor=_number(raw.get("floor"), plan_file, f"{where}.floor"),
        reason=raw["reason"],
        std=raw.get("std"),
        n=raw.get("n"),
        where={c: tuple(v if isinstance(v, list) else [v]) for c, v in where_raw.items()},
        null=None if null is None else float(null),
        detects=raw.get("detects", ""),
    )


def _notebook(name: str, entry: Any, plan_file: Path) -> NotebookSpec:
    where = f"notebooks.{name}"
    if not isinstance(entry, dict):
        raise _fail(plan_file, where, "expected a table")
    unknown = set(entry) - NOTEBOOK_KEYS
    if unknown:
        raise _fail(plan_file, where, f"unknown key(s) {', '.join(sorted(unknown))}")
    missing = [p for p in PROFILES if p not in entry]
    if missing:
        raise _fail(plan_file, where, f"lacks profile(s) {', '.join(missing)}")
    timeout = entry.get("timeout")
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
        raise _fail(plan_file, f"{where}.timeout", f"expected a positive integer (seconds), got {timeout!r}")
    published = entry.get("published", "default")
    if published not in PROFILES:
        raise _fail(plan_file, f"{where}.published",
                    f"expected one of {', '.join(PROFILES)}, got {published!r}")
    check = entry.get("check")
    if check is not None and (not isinstance(check, str) or check.count(":") != 1):
        raise _fail(plan_file, f"{where}.check", f"expected 'module:function', got {check!r}")
    inputs = entry.get("inputs", [])
    if isinstance(inputs, str) and inputs.count(":") != 1:
        raise _fail(plan_file, f"{where}.inputs", f"expected a list of globs or 'module:function', got {inputs!r}")
    for key in (*PROFILES, "validate"):
        if not isinstance(entry.get(key, {}), dict):
            raise _fail(plan_file, f"{where}.{key}", "expected a table of parameters")
    metrics = entry.get("metric", [])
    if not isinstance(metrics, list):
        raise _fail(plan_file, f"{where}.metric", "expected an array of tables ([[...metric]])")
    return NotebookSpec(
        name=name,
        path=plan_file.parent / f"{name}.ipynb",
        timeout=timeout,
        parameters={p: dict(entry[p]) for p in PROFILES},
        results=_str_list(entry.get("results", []), plan_file, f"{where}.results"),
        inputs=() if isinstance(inputs, str) else _str_list(inputs, plan_file, f"{where}.inputs"),
        published=published,
        check=check,
        inputs_from=inputs if isinstance(inputs, str) else None,
        validate=dict(entry.get("validate", {})),
        metrics=tuple(_metric(m, plan_file, f"{where}.metric[{i}]") for i, m in enumerate(metrics)),
    )


def load_plan(plan_file: Path = PLAN_FILE) -> dict[str, NotebookSpec]:
    """Read and check the notebooks of the TOML plan, in file order; ValueError names the file."""
    try:
        with open(plan_file, "rb") as handle:
            raw = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{plan_file}: not valid TOML: {error}") from None
    except OSError as error:
        raise ValueError(f"{plan_file}: cannot read the plan: {error.strerror}") from None
    notebooks = raw.get("notebooks")
    if not isinstance(notebooks, dict) or not notebooks:
        raise ValueError(f"{plan_file}: declares no [notebooks.NAME] table")
    return {name: _notebook(name, entry, plan_file) for name, entry in notebooks.items()}


def notebook_defaults(notebook: nbformat.NotebookNode, path: Path) -> dict[str, Any]:
    """The literal assignments of the notebook's one cell tagged ``parameters``."""
    cells = [c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"{path}: expected exactly one cell tagged 'parameters', found {len(cells)}")
    defaults = {}
    for node in ast.parse(cells[0].source).body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        if not isinstance(target, ast.Name):
            raise ValueError(f"{path}: the parameters cell may hold only 'name = literal' assignments")
        try:
            defaults[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            raise ValueError(f"{path}: parameter {node.targets[0].id!r} is not a literal") from None
    return defaults


def profile_parameters(spec: NotebookSpec, profile: str) -> dict[str, Any]:
    """Every parameter a run on ``profile`` uses: the notebook's parameters cell, updated with what the
    profile changes (a profile's table in profiles.toml holds only the values that differ)."""
    return {**notebook_defaults(nbformat.read(spec.path, as_version=4), spec.path), **spec.parameters[profile]}


def _same_type(value: Any, default: Any) -> bool:
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def check_parameters(spec: NotebookSpec, section: str, parameters: dict[str, Any],
                     defaults: dict[str, Any], plan_file: Path = PLAN_FILE) -> None:
    """Refuse parameters the notebook lacks, or whose type differs from its default's."""
    for name, value in parameters.items():
        where = f"{plan_file}: [notebooks.{spec.name}.{section}] {name}"
        if name not in defaults:
            raise ValueError(f"{where}: unknown parameter; {spec.path.name} declares {', '.join(defaults)}")
        if not _same_type(value, defaults[name]):
            raise ValueError(f"{where}: expected {type(defaults[name]).__name__} like the notebook's default "
                             f"{defaults[name]!r}, got {value!r}")


def _function(spec: NotebookSpec, key: str, reference: str) -> Any:
    module_name, function_name = reference.split(":")
    try:
        return getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError):
        raise ValueError(f"notebooks.{spec.name}.{key}: cannot import {reference!r}") from None


def input_patterns(spec: NotebookSpec) -> tuple[str, ...]:
    """The globs (relative to the repository) of the files a notebook reads besides its code: its
    ``inputs`` list, or what its ``inputs_from`` function returns, so the module that reads the files
    is their one home. ValueError names the notebook when that function returns no list of strings."""
    if spec.inputs_from is None:
        return spec.inputs
    patterns = _function(spec, "inputs", spec.inputs_from)()
    if not isinstance(patterns, (list, tuple)) or not all(isinstance(p, str) for p in patterns):
        raise ValueError(f"notebooks.{spec.name}.inputs: {spec.inputs_from} returned {patterns!r}, "
                         "not a list of globs")
    return tuple(patterns)


def run_check(spec: NotebookSpec, parameters: dict[str, Any]) -> None:
    """Call the notebook's declared check with every parameter of the run (the notebook's defaults
    merged with the profile's) as keyword arguments; the check raises on any unknown or bad one,
    naming it. ValueError names the notebook and the check."""
    if spec.check is None:
        return
    function = _function(spec, "check", spec.check)
    try:
        inspect.signature(function).bind(**parameters)
    except TypeError as error:
        raise ValueError(f"{spec.name} ({spec.check}): {error}") from None
    try:
        function(**parameters)
    except ValueError as error:
        raise ValueError(f"{spec.name} ({spec.check}): {error}") from None
