"""The learned verifier's model file: what it holds, how it is read, and how it scores a pair.

One ``.npz``: the arrays of the model plus a JSON ``header`` (format, configuration, provenance).
The format names the kind of model, so another kind (say a cross-encoder) can be shipped later
under the same :class:`PairModel` interface: :func:`load` picks the reader by format.

The shipped kind, ``askpapers-claim-verifier/1``, is two multinomial logistic regressions over
frozen features (:mod:`rag.verify.features`): stage 1 labels each (claim, unit) SUPPORT /
CONTRADICT / NEI; stage 2 reads how stage 1's probabilities spread over the abstract and gives
the pair's three logits. Applying it is a standardise, a matrix product and a softmax (numpy);
fitting needs torch and lives in evals/verifier_fit.py. The decision on top of the logits
(temperature and thresholds) is fitted separately and kept in rag/calibration.json.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from rag.errors import ConfigError
from rag.verify.features import Block, abstract_row, unit_rows

if TYPE_CHECKING:
    import numpy as np

FORMAT = "askpapers-claim-verifier/1"
#: The model shipped with askpapers (python -m evals.train_verifier writes it).
SHIPPED = Path(__file__).with_name("verifier.npz")


class PairModel(Protocol):
    """Scores one claim against one cited abstract; what a model file must provide."""

    id: str  # a hash of the file's content: the calibration names the model it was fitted for
    embedding: bool  # whether :class:`Block` needs the vector interactions
    header: dict[str, Any]

    def score(self, block: Block) -> tuple[np.ndarray, np.ndarray]:
        """The pair's three logits (SUPPORT, CONTRADICT, NEI) before temperature, and [n, 3]
        per-unit probabilities that rank the units as evidence."""
        ...


def softmax(z: np.ndarray) -> np.ndarray:
    import numpy as np

    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return out


@dataclass(frozen=True)
class Decision:
    """From a pair's three logits to a label: temperature, then "supported" when P(SUPPORT) reaches
    ``support_threshold``, else "contradicted" when P(C) / (P(C) + P(NEI)) reaches ``contradict_share``,
    else "not_enough_info". Fitted by python -m evals.train_verifier; kept in rag/calibration.json."""

    temperature: float
    support_threshold: float
    contradict_share: float

    def probs(self, logits: np.ndarray) -> np.ndarray:
        return softmax(logits / self.temperature)

    def label(self, probs: np.ndarray, *, supportable: bool = True) -> int:
        """The class index (0 SUPPORT, 1 CONTRADICT, 2 NEI); ``supportable=False`` (a failed hard
        check) rules out SUPPORT and decides between the other two by the same rule."""
        if supportable and probs[0] >= self.support_threshold:
            return 0
        return 1 if probs[1] / max(probs[1] + probs[2], 1e-9) >= self.contradict_share else 2


@dataclass
class SoftmaxModel:
    """Standardise, then linear layers (ReLU between them), giving logits."""

    mean: np.ndarray  # [d]
    scale: np.ndarray  # [d]
    weights: list[np.ndarray]  # [d, h] (+ [h, k]) matrices
    biases: list[np.ndarray]

    def logits(self, x: np.ndarray) -> np.ndarray:
        import numpy as np

        h = (x - self.mean) / self.scale
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w + b
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0.0)
        return h

    def probs(self, x: np.ndarray) -> np.ndarray:
        return softmax(self.logits(x))

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = {f"{prefix}.mean": self.mean, f"{prefix}.scale": self.scale}
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            out[f"{prefix}.w{i}"] = w
            out[f"{prefix}.b{i}"] = b
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str) -> SoftmaxModel:
        layers = sorted(int(k.rsplit(".w", 1)[1]) for k in arrays if k.startswith(f"{prefix}.w"))
        return cls(
            arrays[f"{prefix}.mean"],
            arrays[f"{prefix}.scale"],
            [arrays[f"{prefix}.w{i}"] for i in layers],
            [arrays[f"{prefix}.b{i}"] for i in layers],
        )


@dataclass
class TwoStage:
    """The shipped kind of model (see the module docstring)."""

    stage1: SoftmaxModel
    stage2: SoftmaxModel
    embedding: bool = False  # stage 1 reads [u⊙v, |u−v|]
    signals: bool = True  # stage 1 reads the explicit signals
    hard_checks: bool = True  # stage 2 reads the hard checks
    header: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def unit_probs(self, block: Block) -> np.ndarray:
        return self.stage1.probs(unit_rows(block, embedding=self.embedding, use_signals=self.signals))

    def score(self, block: Block) -> tuple[np.ndarray, np.ndarray]:
        units = self.unit_probs(block)
        row = abstract_row(units, block, hard_checks=self.hard_checks)
        return self.stage2.logits(row[None, :])[0], units

    def arrays(self) -> dict[str, np.ndarray]:
        return self.stage1.arrays("stage1") | self.stage2.arrays("stage2")

    def config(self) -> dict[str, bool]:
        return {"embedding": self.embedding, "signals": self.signals, "hard_checks": self.hard_checks}

    @classmethod
    def read(cls, arrays: dict[str, np.ndarray], header: dict[str, Any]) -> TwoStage:
        config = header["config"]
        return cls(
            SoftmaxModel.from_arrays(arrays, "stage1"),
            SoftmaxModel.from_arrays(arrays, "stage2"),
            embedding=bool(config["embedding"]),
            signals=bool(config["signals"]),
            hard_checks=bool(config["hard_checks"]),
        )


#: Readers by format; a new kind of model registers its reader here.
READERS: dict[str, Callable[[dict[str, np.ndarray], dict[str, Any]], Any]] = {FORMAT: TwoStage.read}


def content_id(arrays: dict[str, np.ndarray], config: dict[str, Any], format: str = FORMAT) -> str:
    """A SHA-256 of what the model computes (arrays and configuration, not the provenance text):
    the same weights give the same id, whichever run or machine wrote the file."""
    digest = hashlib.sha256(json.dumps({"format": format, "config": config}, sort_keys=True).encode())
    for name in sorted(arrays):
        array = arrays[name]
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def save(model: TwoStage, path: Path, provenance: dict[str, Any]) -> str:
    """Write ``model`` with a header; returns its :func:`content_id`."""
    import numpy as np

    arrays = model.arrays()
    config = model.config()
    model_id = content_id(arrays, config)
    header = {"format": FORMAT, "config": config, "provenance": provenance, "id": model_id}
    arrays["header"] = np.array(json.dumps(header, sort_keys=True))
    np.savez_compressed(path, allow_pickle=False, **arrays)
    return model_id


def load(path: Path) -> PairModel:
    """The model in ``path``; a file that isn't one is a ConfigError saying what to do."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        header = json.loads(str(arrays.pop("header")))
        reader = READERS[header.get("format")]
        model = reader(arrays, header)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{path} is not a verifier model askpapers can read ({type(exc).__name__}: {exc}); set "
            "ASKPAPERS_VERIFY__MODEL_PATH to a file written by python -m evals.train_verifier"
        ) from None
    model.header = header
    model.id = content_id(arrays, header.get("config", {}), header["format"])
    out: PairModel = model
    return out
