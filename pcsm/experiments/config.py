"""The base of the chapters' parameter records (one frozen dataclass per chapter, its defaults the
notebook's parameters): the field names, and construction from a profile's parameters that names an
unknown one. Each record checks its own fields when built."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

Record = TypeVar("Record", bound="ChapterConfig")


class ChapterConfig:
    """Mixin of a chapter's frozen parameter dataclass."""

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        """The parameter names, in the notebook's order."""
        return tuple(field.name for field in dataclasses.fields(cls))  # type: ignore[arg-type]

    @classmethod
    def from_parameters(cls: type[Record], **parameters: Any) -> Record:
        """The record of ``parameters`` (the runner passes every merged parameter of a profile); a
        ``ValueError`` names an unknown or bad one."""
        unknown = sorted(set(parameters) - set(cls.fields()))
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown parameter; expected one of {', '.join(cls.fields())}")
        return cls(**parameters)
