"""The progress bar of the batch commands (``ask``/``search``/``check --batch``): on stderr, and only
when stderr is a terminal, so a log or a pipe gets none of its control characters."""

from __future__ import annotations

import sys
from typing import Any


def progress_bar(total: int, unit: str) -> Any:
    """A tqdm bar over ``total`` items named ``unit`` (plural: "claims"); tqdm is imported here, not at start-up."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit[:-1], file=sys.stderr, disable=not sys.stderr.isatty(), leave=False)


def note(message: str) -> None:
    """A line on stderr that doesn't break a running bar."""
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)
