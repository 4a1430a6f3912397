"""The calibration file: numbers fitted by the calibration scripts, read by the settings as defaults.

``rag/calibration.json`` maps ``section.field`` to a value (``{"support": {"threshold": 0.47}}``)
and, under ``_provenance``, says how each was fitted (which command, on which data, which split).
The scripts (``python -m evals.calibrate_*``) rewrite their own entries with :func:`write`; the
settings sections take :func:`calibrated` values as field defaults, so a calibrated number lives in
that file only — never pasted into source — and ``ASKPAPERS_*`` variables still override it.
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

FILE = Path(__file__).with_name("calibration.json")


@cache
def _load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def calibrated(key: str, path: Path = FILE) -> Any:
    """The calibrated value of ``section.field``; KeyError names it when the file lacks it."""
    section, _, field = key.partition(".")
    try:
        return _load(path)[section][field]
    except KeyError:
        raise KeyError(f"{path} has no calibrated value for {key!r}; run its calibration script") from None


def provenance(key: str, path: Path = FILE) -> str:
    return str(_load(path).get("_provenance", {}).get(key, ""))


def write(values: dict[str, Any], how: str, path: Path = FILE) -> None:
    """Record calibrated values (``{"support.threshold": 0.47}``) and how they were fitted; other
    entries are kept. Settings made afterwards in a new process read them."""
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    notes = data.setdefault("_provenance", {})
    for dotted, value in values.items():
        section, _, field = dotted.partition(".")
        if not field:
            raise ValueError(f"calibrated value {dotted!r} must be 'section.field'")
        data.setdefault(section, {})[field] = value
        notes[dotted] = how
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(data, out, indent=2, sort_keys=True)
        out.write("\n")
    os.replace(tmp, path)
    _load.cache_clear()
