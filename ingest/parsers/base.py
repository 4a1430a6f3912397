"""What a parser yields: papers, and skips that say which file and line were not usable."""

from __future__ import annotations

from dataclasses import dataclass

from rag.records import Paper


@dataclass(frozen=True)
class Skip:
    """A record (or whole file) that could not be ingested, and why."""

    path: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.reason}"


ParseItem = Paper | Skip
