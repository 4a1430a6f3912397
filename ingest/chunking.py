"""Token-aware chunking: each chunk is "title\\nabstract piece", under the embedder's window.

Pieces are cut by llama-index's ``SentenceSplitter`` (sentence boundaries, token
overlap) counting cl100k_base tokens with llama-index's bundled tokenizer (tiktoken's
own download would fail offline). cl100k and the embedder's word pieces differ, so
every chunk is then measured with the embedder's own tokenizer and re-split if it
would overflow: the embedding model never silently cuts text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from rag.index.chunk_ids import chunk_id
from rag.records import Chunk, Paper
from rag.text import split_sentences

if TYPE_CHECKING:
    from rag.embedders import Embedder
    from rag.settings import Settings

_MIN_PIECE_TOKENS = 24


class Chunker:
    @classmethod
    def for_index(cls, settings: Settings, embedder: Embedder) -> Chunker:
        """The chunker whose output the index for ``settings`` holds (sizes from settings, the
        embedder's own tokenizer and window)."""
        return cls(
            settings.chunking.chunk_size,
            settings.chunking.chunk_overlap,
            embedder.count_tokens,
            embedder.max_tokens,
        )

    def __init__(
        self,
        chunk_size: int,
        chunk_overlap: int,
        count_model_tokens: Callable[[Sequence[str]], list[int]] | None = None,
        max_model_tokens: int | None = None,
    ) -> None:
        from llama_index.core.utils import get_tokenizer

        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self._encode = get_tokenizer()
        self._count_model_tokens = count_model_tokens
        self._max_model_tokens = max_model_tokens
        self._splitters: dict[int, object] = {}

    def _split(self, text: str, size: int) -> list[str]:
        from llama_index.core.node_parser import SentenceSplitter

        splitter = self._splitters.get(size)
        if splitter is None:
            overlap = min(self.chunk_overlap, size // 4)
            splitter = SentenceSplitter(
                chunk_size=size,
                chunk_overlap=overlap,
                tokenizer=self._encode,
                chunking_tokenizer_fn=split_sentences,
            )
            self._splitters[size] = splitter
        assert isinstance(splitter, SentenceSplitter)
        return [piece for piece in splitter.split_text(text) if piece.strip()]

    def _pieces(self, paper: Paper) -> tuple[str, list[tuple[str, int]]]:
        header = paper.title + "\n"
        header_tokens = len(self._encode(header))
        budget = max(self.chunk_size - header_tokens, _MIN_PIECE_TOKENS)
        if len(paper.abstract) <= budget * 2 and len(self._encode(paper.abstract)) <= budget:
            return header, [(paper.abstract, budget)]  # fits whole: skip the splitter's per-sentence counting
        return header, [(piece, budget) for piece in self._split(paper.abstract, budget)]

    def chunk_many(self, papers: Sequence[Paper]) -> list[Chunk]:
        """Chunks of every paper. Model-token counts are batched: one call per re-split round."""
        headers: dict[str, str] = {}
        # per paper: [piece, cl100k budget, checked-to-fit]
        pieces: dict[str, list[tuple[str, int, bool]]] = {}
        for paper in papers:
            header, first = self._pieces(paper)
            headers[paper.id] = header
            pieces[paper.id] = [(piece, size, False) for piece, size in first]
        while True:
            unchecked = [
                (pid, i) for pid, row in pieces.items() for i, (_, _, ok) in enumerate(row) if not ok
            ]
            if not unchecked:
                break
            flags = self._fit_flags([headers[pid] + pieces[pid][i][0] for pid, i in unchecked])
            for (pid, i), fits in reversed(list(zip(unchecked, flags, strict=True))):
                piece, size, _ = pieces[pid][i]
                if fits or size <= _MIN_PIECE_TOKENS:
                    pieces[pid][i] = (piece, size, True)
                else:  # over the model window in its own tokens: cut this piece smaller, in place
                    smaller = max(size * 2 // 3, _MIN_PIECE_TOKENS)
                    pieces[pid][i : i + 1] = [(p, smaller, False) for p in self._split(piece, smaller)]
        return [
            Chunk(id=chunk_id(paper.id, i, text), paper_id=paper.id, idx=i, text=text)
            for paper in papers
            for i, (piece, _, _) in enumerate(pieces[paper.id])
            for text in (headers[paper.id] + piece,)
        ]

    def _fit_flags(self, texts: list[str]) -> list[bool]:
        if self._count_model_tokens is None or self._max_model_tokens is None:
            return [True] * len(texts)
        return [n <= self._max_model_tokens for n in self._count_model_tokens(texts)]

    def chunk(self, paper: Paper) -> list[Chunk]:
        return self.chunk_many([paper])
