"""Fitting the learned verifier (rag/verify/model.py): the two stages, then the decision on top.

Stage 1 learns each (claim, unit) label: SUPPORT / CONTRADICT for rationale sentences, NEI for the
other sentences (titles are not trained on: they often restate the finding). Stage 2 learns the
pair's label from how stage 1's probabilities spread over the abstract; it trains on stage 1's
*out-of-fold* outputs (5 folds by claim), so it learns how far to trust stage 1 on unseen claims.
The decision is fitted on a calibration split neither stage saw: the temperature by negative
log-likelihood, the "supported" threshold as the midpoint of the thresholds that maximise balanced
accuracy of supported-vs-not, the contradicted share as the midpoint of those maximising the mean
recall of CONTRADICT and NEI among pairs not supported.

Torch is needed here only (full-batch L-BFGS); applying the model needs numpy alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from evals.scifact import CLASSES
from rag.verify.features import Block, abstract_row, unit_rows
from rag.verify.model import Decision, SoftmaxModel, TwoStage, softmax

_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)


@dataclass(frozen=True)
class FitConfig:
    """How the two stages are fitted (recorded in the model file's provenance)."""

    embedding: bool = False
    signals: bool = True
    hard_checks: bool = True
    l2_sentence: float = 1e-2
    l2_abstract: float = 1e-3
    hidden: int = 0  # 0: logistic regression at stage 1; >0: one hidden layer
    folds: int = 5
    epochs: int = 200
    seed: int = 0
    source_weights: dict[str, float] = field(
        default_factory=lambda: {"scifact": 1.0, "edit": 0.5, "sample": 0.5}
    )


@dataclass(frozen=True)
class Example:
    """A training pair: its block, its unit labels (class index, -1 for units not trained on)."""

    block: Block
    unit_labels: np.ndarray
    label: str
    group: str  # folds keep a claim's pairs together
    weight: float


def unit_labels(n_units: int, has_title: bool, rationale: frozenset[int], label: str) -> np.ndarray:
    labels = np.full(n_units, CLASSES.index("NEI"), dtype=np.int64)
    offset = 1 if has_title else 0
    if has_title:
        labels[0] = -1
    for i in rationale:
        if i + offset < n_units:
            labels[i + offset] = CLASSES.index(label)
    return labels


def fit_softmax(
    x: np.ndarray,
    y: np.ndarray,
    *,
    l2: float,
    hidden: int = 0,
    sample_weight: np.ndarray | None = None,
    epochs: int = 200,
    seed: int = 0,
    classes: int = 3,
) -> SoftmaxModel:
    """Full-batch L-BFGS on the class-balanced, weighted cross-entropy plus l2 on the weights."""
    import torch

    torch.manual_seed(seed)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    xt = torch.tensor((x - mean) / scale, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.long)
    w = np.ones(len(y), np.float32) if sample_weight is None else sample_weight.astype(np.float32)
    counts = np.bincount(y, weights=w, minlength=classes)
    w = w * (w.sum() / (classes * np.maximum(counts, 1e-9)))[y]
    wt = torch.tensor(w / w.sum(), dtype=torch.float32)
    sizes = [x.shape[1], *([hidden] if hidden else []), classes]
    layers = [torch.nn.Linear(a, b) for a, b in zip(sizes, sizes[1:], strict=False)]
    if not hidden:
        torch.nn.init.zeros_(layers[0].weight)
    params = [p for layer in layers for p in layer.parameters()]
    optimiser = torch.optim.LBFGS(
        params, lr=1.0, max_iter=epochs, history_size=20, line_search_fn="strong_wolfe"
    )

    def forward() -> torch.Tensor:
        h = xt
        for i, layer in enumerate(layers):
            h = layer(h)
            if i < len(layers) - 1:
                h = torch.relu(h)
        return h

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = (torch.nn.functional.cross_entropy(forward(), yt, reduction="none") * wt).sum()
        loss = loss + l2 * sum((layer.weight**2).sum() for layer in layers)
        loss.backward()
        return loss

    optimiser.step(closure)
    return SoftmaxModel(
        mean.astype(np.float32),
        scale.astype(np.float32),
        [layer.weight.detach().numpy().T.copy() for layer in layers],
        [layer.bias.detach().numpy().copy() for layer in layers],
    )


def _stage1(examples: Sequence[Example], config: FitConfig) -> SoftmaxModel:
    xs, ys, ws = [], [], []
    for ex in examples:
        keep = ex.unit_labels >= 0
        xs.append(unit_rows(ex.block, embedding=config.embedding, use_signals=config.signals)[keep])
        ys.append(ex.unit_labels[keep])
        ws.append(np.full(int(keep.sum()), ex.weight, np.float32))
    return fit_softmax(
        np.concatenate(xs),
        np.concatenate(ys),
        l2=config.l2_sentence,
        hidden=config.hidden,
        sample_weight=np.concatenate(ws),
        epochs=config.epochs,
        seed=config.seed,
    )


def _stage2_row(stage1: SoftmaxModel, block: Block, config: FitConfig) -> np.ndarray:
    probs = stage1.probs(unit_rows(block, embedding=config.embedding, use_signals=config.signals))
    return abstract_row(probs, block, hard_checks=config.hard_checks)


def fit_two_stage(examples: Sequence[Example], config: FitConfig) -> TwoStage:
    """Stage 2 on stage 1's out-of-fold outputs; then stage 1 refitted on every training pair."""
    groups = sorted({ex.group for ex in examples})
    rng = np.random.default_rng(config.seed)
    fold_of = dict(zip(groups, rng.permutation(len(groups)) % config.folds, strict=True))
    rows: list[np.ndarray | None] = [None] * len(examples)
    for fold in range(config.folds):
        inside = [i for i, ex in enumerate(examples) if fold_of[ex.group] == fold]
        outside = [ex for ex in examples if fold_of[ex.group] != fold]
        stage1 = _stage1(outside, config)
        for i in inside:
            rows[i] = _stage2_row(stage1, examples[i].block, config)
    x = np.stack([r for r in rows if r is not None])
    y = np.array([CLASSES.index(ex.label) for ex in examples])
    stage2 = fit_softmax(
        x,
        y,
        l2=config.l2_abstract,
        sample_weight=np.array([ex.weight for ex in examples], np.float32),
        epochs=config.epochs,
        seed=config.seed,
    )
    return TwoStage(
        _stage1(examples, config),
        stage2,
        embedding=config.embedding,
        signals=config.signals,
        hard_checks=config.hard_checks,
    )


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising the negative log-likelihood (grid search: one parameter)."""
    grid = np.exp(np.linspace(np.log(0.2), np.log(5.0), 161))
    nll = [-np.log(softmax(logits / t)[np.arange(len(y)), y] + 1e-12).mean() for t in grid]
    return float(grid[int(np.argmin(nll))])


def _midpoint_of_best(scores: np.ndarray) -> float:
    best = _GRID[scores >= scores.max() - 1e-9]
    return round(float((best[0] + best[-1]) / 2), 3)


def fit_decision(logits: np.ndarray, labels: Sequence[str]) -> Decision:
    """Temperature and the two thresholds, from pairs neither stage trained on."""
    y = np.array([CLASSES.index(label) for label in labels])
    temperature = fit_temperature(logits, y)
    probs = softmax(logits / temperature)
    gold = y == 0
    ba = np.array([((probs[gold, 0] >= t).mean() + (probs[~gold, 0] < t).mean()) / 2 for t in _GRID])
    rest = ~gold
    share = probs[rest, 1] / np.maximum(probs[rest, 1] + probs[rest, 2], 1e-9)
    is_c = y[rest] == 1
    recall = np.array([((share[is_c] >= t).mean() + (share[~is_c] < t).mean()) / 2 for t in _GRID])
    return Decision(round(temperature, 4), _midpoint_of_best(ba), _midpoint_of_best(recall))
