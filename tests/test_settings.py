"""The settings object: environment, calibration file and constructor, in that order of precedence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import calibration
from rag.settings import Settings, SupportSettings, load_settings

CALIBRATION_FILE = calibration.FILE


def test_every_field_says_what_it_is_and_where_its_value_came_from() -> None:
    def walk(model: type, prefix: str) -> list[str]:
        missing = []
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            sub = field.annotation
            if isinstance(sub, type) and hasattr(sub, "model_fields"):
                missing += walk(sub, f"{prefix}{name}.")
            elif not (field.description or "").strip():
                missing.append(prefix + name)
        return missing

    assert walk(Settings, "") == []


def test_calibrated_values_are_defaults_that_env_and_arguments_override(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calibrated = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    assert Settings().retrieval.rrf_k == calibrated["retrieval"]["rrf_k"]
    assert all(key in calibrated["_provenance"] for key in ("retrieval.rrf_k", "retrieval.dense_weight"))
    monkeypatch.setenv("ASKPAPERS_RETRIEVAL__RRF_K", "61")
    assert Settings().retrieval.rrf_k == 61
    assert Settings(retrieval={"rrf_k": 7}).retrieval.rrf_k == 7  # type: ignore[arg-type]
    assert Settings(retrieval={"rrf_k": 7}).retrieval.dense_weight == calibrated["retrieval"]["dense_weight"]  # type: ignore[arg-type]
    # a section made on its own reads the file too: the number lives there only
    assert SupportSettings().threshold == calibrated["support"]["threshold"]
    assert Settings().refusal.answer_threshold == calibrated["refusal"]["answer_threshold"]
    assert Settings().verify.temperature == calibrated["verify"]["temperature"]


def test_write_calibration_keeps_other_entries(tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    path.write_text(CALIBRATION_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    calibration.write({"support.threshold": 0.51}, "test fit on half A", path=path)
    assert calibration.calibrated("support.threshold", path=path) == 0.51
    data = json.loads(path.read_text(encoding="utf-8"))
    assert (
        data["support"]["threshold"] == 0.51
        and data["_provenance"]["support.threshold"] == "test fit on half A"
    )
    assert data["retrieval"] == json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))["retrieval"]
    with pytest.raises(ValueError, match="section.field"):
        calibration.write({"threshold": 1.0}, "x", path=path)
    with pytest.raises(KeyError, match="no calibrated value"):
        calibration.calibrated("support.nothing", path=path)


def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.errors import ConfigError

    monkeypatch.setenv("ASKPAPERS_RETRIEVAL__K", "zero")
    with pytest.raises(ConfigError, match="ASKPAPERS_RETRIEVAL__K"):
        load_settings()
