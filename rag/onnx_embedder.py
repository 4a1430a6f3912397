"""all-MiniLM-L6-v2 on ONNX Runtime with int8 weights: the default local embedder.

Measured on this 2-core CPU over the sample's chunks (bench/ingest.py): the same model
in sentence-transformers/torch fp32 embeds ~6.6k word pieces/s; exported to ONNX and
dynamically quantised to int8 it does ~13k/s, with retrieval figures within noise of
fp32 (bench/chunking.py). It also keeps torch out of query-time processes, which
makes a cold ``askpapers ask`` start in well under a second of imports.

The ONNX file is exported once from the bundled safetensors (torch is needed only for
that) and cached under ``<home>/models``; the exported graph is deterministic, so the
vectors don't change between machines or runs. A text's vector depends on the text alone:
one text per model call (the graph quantises each activation tensor with one scale, so
batch-mates would move it), whatever the order, batch or worker count
(tests/test_embedder_batching.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _export(model_dir: Path, target: Path) -> None:
    """Export the transformer to ONNX and quantise its weights to int8 (once per machine)."""
    import warnings

    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class _Hidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    dummy = torch.ones((2, 8), dtype=torch.int64)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fp32 = Path(tmp) / "model.onnx"
        torch.onnx.export(
            _Hidden(model),
            (dummy, dummy, torch.zeros_like(dummy)),
            str(fp32),
            input_names=list(_INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "last_hidden_state")},
            opset_version=17,
            dynamo=False,
        )
        int8 = Path(tmp) / "model.int8.onnx"
        quiet = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # onnxruntime's quantiser logs advice on the root logger
        try:
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
        finally:
            logging.getLogger().setLevel(quiet)
        os.replace(int8, target)


def cached_model_path(model_dir: Path, cache_dir: Path) -> Path:
    weights = model_dir / "model.safetensors"
    digest = hashlib.sha256(f"{weights.stat().st_size}:{model_dir.name}:int8:v1".encode()).hexdigest()[:12]
    return cache_dir / f"{model_dir.parent.name}-{digest}.int8.onnx"


class OnnxEmbedder:
    """Mean-pooled, L2-normalised sentence embeddings, as sentence-transformers computes them."""

    def __init__(
        self,
        name: str,
        model_dir: Path,
        cache_dir: Path,
        batch_size: int = 1,
        max_tokens: int = 256,
        threads: int | None = None,
    ) -> None:
        # onnxruntime ≥ 1.29 sends usage telemetry on Linux unless told not to (seen under strace
        # as lookups of mobile.events.data.microsoft.com); askpapers makes no outbound calls.
        os.environ["ORT_DISABLE_TELEMETRY"] = "1"
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.name = name
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        onnx_path = cached_model_path(model_dir, cache_dir)
        if not onnx_path.exists():
            _export(model_dir, onnx_path)
        self.model_path = onnx_path
        # One single-threaded session run from one thread per core: measured 1.6x faster than
        # one session using every core, because these GEMMs are too small to split well.
        self.workers = threads or max(1, min(os.cpu_count() or 1, 8))
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="embed")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        # Pinned, not left to the default: the fusions it enables (DynamicQuantizeMatMul and friends) are
        # part of the vectors — ORT_ENABLE_BASIC moves them by up to 0.036. Measured with no gain in speed:
        # ORT_ENABLE_EXTENDED, no memory arena, session.set_denormal_as_zero, attention fused into
        # com.microsoft MultiHeadAttention (all within ±5 % noise on this machine).
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.no_padding()  # the shipped tokenizer.json pads everything to 128
        self._tokenizer.no_truncation()
        self._counter = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._counter.no_padding()
        self._counter.no_truncation()
        self._tokenizer.enable_truncation(max_tokens)
        self.dimensions = int(self._session.get_outputs()[0].shape[-1] or 384)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self._counter.encode_batch_fast(list(texts))]

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        # Longest first, one model call per task, taken by whichever worker is free (a greedy
        # longest-first schedule): a worker that loses its core to another process no longer holds
        # back a fixed share of the texts, as the former static round-robin split did, and the short
        # texts at the end fill the gaps. One call alone runs on the caller's thread (a query).
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        groups = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        jobs = [[texts[i] for i in rows] for rows in groups]
        results = map(self._embed, jobs) if len(jobs) == 1 else self._pool.map(self._embed, jobs)
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for rows, vectors in zip(groups, results, strict=True):
            out[rows] = vectors
        return out.tolist()

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Vectors of one model call. Keep it at one text per call (``batch_size`` 1): the int8 graph
        quantises each activation tensor with one scale, so batch-mates (and their padding) would
        shift a text's vector (tests/test_embedder_batching.py)."""
        encodings = self._tokenizer.encode_batch_fast(texts)  # ids only: no character offsets
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for r, encoding in enumerate(encodings):
            ids[r, : len(encoding.ids)] = encoding.ids
            mask[r, : len(encoding.ids)] = 1
        hidden = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return np.asarray(pooled, dtype=np.float32)
