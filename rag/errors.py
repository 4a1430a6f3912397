"""A short exception hierarchy; every message says what went wrong and how to fix it.

The CLI prints ``str(error)`` for any :class:`AskpapersError` and exits non-zero,
so users never see a traceback for a problem they can fix themselves.
"""

from __future__ import annotations


class AskpapersError(Exception):
    """Base class of every error askpapers raises on purpose."""


class ConfigError(AskpapersError):
    """A setting is missing or invalid."""


class InputError(AskpapersError):
    """An input file or record can't be read. Carries the file and line it came from."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.reason = message
        where = path or "<input>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")


class UnknownPaperError(AskpapersError):
    """A paper id (or DOI, arXiv id) names no indexed paper. Carries the ids."""

    def __init__(self, message: str, *, ids: tuple[str, ...] = ()) -> None:
        self.ids = ids
        super().__init__(message)


class IndexMissingError(AskpapersError):
    """The index for the current settings has not been built yet."""


class EndpointError(AskpapersError):
    """An outside service (LLM or embedding endpoint, Chroma server) failed or can't be reached."""


class IndexBusyError(AskpapersError):
    """Another ingest is writing to the same index."""


class IndexWriteError(AskpapersError):
    """The index can't be written (disk full, no permission, the store failed); what was committed is kept."""


class IndexDamagedError(AskpapersError):
    """A file of the index can't be read as what it should be."""
