"""A chapter's declaration, in its experiment module (one home for everything the book's runner needs):

- its **parameter record**, a frozen dataclass with :class:`ChapterConfig` mixed in: the fields and their
  commented defaults, and ``PROFILES``, the values each profile changes. The notebook's ``parameters``
  cell names only the profile and any override; :meth:`ChapterConfig.for_profile` builds the record,
  which checks each field once, when it is built;
- ``CHAPTER``, a :class:`Chapter`: the record's class, the tables the notebook writes, the files it
  reads, its per-cell timeout, its published profile, and its validation subset and metrics.

A chapter's notebook names its module in its metadata (``pcsm.chapter``); ``pcsm.book.plan`` reads
the table of contents and those declarations. ``CHAPTER`` is a declaration, not code a result depends
on: the code digests of ``pcsm.book.dependencies`` leave it out (a run's parameters are in its cache key
anyway), so rewording a metric's reason re-executes nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, TypeVar

PROFILES = ("smoke", "default", "paper")  # seconds per notebook (the tests); a reader's run; the paper's settings
CHAPTER_NAME = "CHAPTER"  # the module attribute that declares a chapter

Record = TypeVar("Record", bound="ChapterConfig")


def _fail(where: str, message: str) -> ValueError:
    return ValueError(f"{where}: {message}")


class ChapterConfig:
    """Mixin of a chapter's frozen parameter dataclass: its defaults are the ``default`` profile, and
    ``PROFILES`` maps "smoke" and "paper" to the values they change."""

    PROFILES: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        """The parameter names, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    @classmethod
    def for_profile(cls: type[Record], profile: str = "default", **overrides: Any) -> Record:
        """The record of ``profile``: the defaults, updated with ``PROFILES[profile]``, then with
        ``overrides``. A ``ValueError`` names an unknown profile or parameter, or the first bad value."""
        if profile not in PROFILES:
            raise ValueError(f"profile: expected one of {', '.join(PROFILES)}, got {profile!r}")
        unknown = sorted(set(overrides) - set(cls.fields()))
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown parameter of {cls.__name__}; "
                             f"expected one of {', '.join(cls.fields())}")
        return cls(**{**cls.PROFILES.get(profile, {}), **overrides})

    def parameters(self) -> dict[str, Any]:
        """Every field's value, tuples as lists (what the provenance records and the cache key hashes)."""
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in ((n, getattr(self, n)) for n in self.fields())}


@dataclass(frozen=True)
class Metric:
    """One aggregate the validation compares: the mean of ``value`` per group of ``keys`` (rows kept by
    ``where``) must satisfy |fresh − committed mean| ≤ ``k`` · committed std + ``floor``, the std read
    from column ``std`` (with ``n`` seeds) or, without it, taken over the committed rows of the group.
    ``reason`` says why k and floor are what they are; ``null``: the value a lost effect gives (a gain
    of 0), which every committed group must lie more than its bound away from; ``detects``: the broken
    methods (``pcsm mutants``) this metric catches by a clear margin."""

    table: str
    keys: tuple[str, ...]
    value: str
    k: float
    floor: float
    reason: str
    std: str | None = None
    n: str | None = None
    where: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)
    null: float | None = None
    detects: str = ""

    def __post_init__(self) -> None:
        where = f"metric {self.table}.{self.value}"
        for name in ("table", "value", "reason"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise _fail(f"{where}: {name}", f"expected a non-empty string, got {getattr(self, name)!r}")
        if not isinstance(self.keys, (list, tuple)) or not all(isinstance(k, str) for k in self.keys):
            raise _fail(f"{where}: keys", f"expected a list of column names, got {self.keys!r}")
        for name in ("k", "floor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise _fail(f"{where}: {name}", f"expected a non-negative number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.null is not None and (isinstance(self.null, bool) or not isinstance(self.null, (int, float))):
            raise _fail(f"{where}: null", f"expected a number, got {self.null!r}")
        if not isinstance(self.where, Mapping):
            raise _fail(f"{where}: where", f"expected column -> values, got {self.where!r}")
        object.__setattr__(self, "keys", tuple(self.keys))
        object.__setattr__(self, "where", {c: tuple(v) if isinstance(v, (list, tuple)) else (v,)
                                           for c, v in self.where.items()})


@dataclass(frozen=True)
class Chapter:
    """What the runner needs to run, cache and validate a chapter's notebook.

    ``config``: its parameter record; ``results``: the tables it writes (``results/NAME.csv``);
    ``timeout``: papermill's per-cell limit, seconds; ``published``: the profile its committed page and
    tables come from; ``inputs``: the files it reads besides its code, globs relative to the repository
    or a function returning them (so the code that reads the files declares them; the run order
    follows them: a chapter runs after the chapters that write what it reads); ``validate``: the
    overrides of the published profile that make ``pcsm validate``'s subset (fewer seeds or settings,
    each drawn from the published run); ``metrics``: the aggregates it compares."""

    config: type[ChapterConfig]
    results: tuple[str, ...]
    timeout: int
    published: str = "default"
    inputs: tuple[str, ...] | Callable[[], list[str]] = ()
    validate: Mapping[str, Any] = field(default_factory=dict)
    metrics: tuple[Metric, ...] = ()

    def __post_init__(self) -> None:
        if not (isinstance(self.config, type) and issubclass(self.config, ChapterConfig)
                and dataclasses.is_dataclass(self.config)):
            raise _fail("config", f"expected a ChapterConfig dataclass, got {self.config!r}")
        if isinstance(self.timeout, bool) or not isinstance(self.timeout, int) or self.timeout <= 0:
            raise _fail("timeout", f"expected a positive integer (seconds), got {self.timeout!r}")
        if self.published not in PROFILES:
            raise _fail("published", f"expected one of {', '.join(PROFILES)}, got {self.published!r}")
        for name in ("results", *(() if callable(self.inputs) else ("inputs",))):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise _fail(name, f"expected a list of strings, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        unknown = sorted(set(self.validate) - set(self.config.fields()))
        if unknown:
            raise _fail(f"validate: {unknown[0]}", f"unknown parameter of {self.config.__name__}")
        profiles = sorted(set(self.config.PROFILES) - set(PROFILES))
        if profiles:
            raise _fail(f"{self.config.__name__}.PROFILES", f"unknown profile {profiles[0]!r}; "
                        f"expected {', '.join(PROFILES)}")
        for profile, values in self.config.PROFILES.items():
            unknown = sorted(set(values) - set(self.config.fields()))
            if unknown:
                raise _fail(f"{self.config.__name__}.PROFILES[{profile!r}]: {unknown[0]}", "unknown parameter")
        if not all(isinstance(m, Metric) for m in self.metrics):
            raise _fail("metrics", "expected Metric records")
        object.__setattr__(self, "metrics", tuple(self.metrics))

    def input_patterns(self) -> tuple[str, ...]:
        """The globs of the files the notebook reads besides its code; ValueError when a declaring
        function returns no list of strings."""
        if not callable(self.inputs):
            return self.inputs
        patterns = self.inputs()
        if not isinstance(patterns, (list, tuple)) or not all(isinstance(p, str) for p in patterns):
            raise _fail("inputs", f"{self.inputs.__qualname__} returned {patterns!r}, not a list of globs")
        return tuple(patterns)
