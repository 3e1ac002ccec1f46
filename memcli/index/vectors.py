"""The loaded vectors, as int8 codes with one float32 scale per row: a quarter of float32's memory.

At 100k memories the MiniLM vectors are 154 MB as float32 and 38 MB as int8. float16 would be
77 MB, but numpy has no fast float16 product (60 ms at 100k, against 5 ms for float32); int8
codes copied block by block into a float32 buffer cost about 6 ms. The error is small against the
gaps search works with: a row's largest component is 127 and each component is off by at most
half a step, so a cosine moves by about 0.002 (LoCoMo R@10 is unchanged; see bench/locomo.py).

The file on disk stays float32 (store.py): quantising is a load-time choice that can change
without re-embedding anything.
"""

from __future__ import annotations

import numpy as np

BLOCK = 4096  # rows per float32 block in a product: 6 MB at 384 dimensions (fastest here at 10k and 100k)


def quantise(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and per-row scales: rows ~= codes * scales[:, None]."""
    rows = np.asarray(rows, dtype=np.float32)
    peak = np.abs(rows).max(axis=1) if rows.size else np.zeros(len(rows), dtype=np.float32)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    codes = np.rint(rows / scales[:, None]).astype(np.int8) if rows.size else np.zeros(rows.shape, np.int8)
    return codes, scales


class Vectors:
    """A growable matrix of quantised unit vectors. Appending doubles the capacity (no full copy
    per memory); readers see the first `len()` rows."""

    def __init__(self, dim: int = 0) -> None:
        self.dim = dim
        self._codes = np.zeros((0, dim), dtype=np.int8)
        self._scales = np.zeros(0, dtype=np.float32)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    @property
    def nbytes(self) -> int:
        return int(self._codes.nbytes + self._scales.nbytes)

    def reserve(self, count: int, dim: int) -> None:
        """Room for `count` rows in all (a load knows how many it will append: no doubling waste)."""
        if count > len(self._codes) or self._codes.shape[1] != dim:
            codes = np.zeros((count, dim), dtype=np.int8)
            scales = np.ones(count, dtype=np.float32)
            if self._count:  # (rows only ever have the matrix's dimension: append checks)
                codes[: self._count] = self._codes[: self._count]
                scales[: self._count] = self._scales[: self._count]
            self.dim, self._codes, self._scales = dim, codes, scales

    def append(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.float32)
        if not len(rows):
            return
        if rows.ndim != 2 or (self._count and rows.shape[1] != self.dim):
            raise ValueError(f"vectors of {rows.shape[1:]} dimensions do not fit a matrix of {self.dim}")
        if self._count + len(rows) > len(self._codes) or self._codes.shape[1] != rows.shape[1]:
            self.reserve(max(2 * (self._count + len(rows)), 1024), rows.shape[1])
        codes, scales = quantise(rows)
        self._codes[self._count : self._count + len(rows)] = codes
        self._scales[self._count : self._count + len(rows)] = scales
        self._count += len(rows)

    def dot(self, query: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Each row's product with `query` (float32): all rows, or the given row numbers. A query
        of shape (dim,) gives one product per row; several, (count, dim), give (rows, count) in
        the same one pass over the codes."""
        query = np.asarray(query, dtype=np.float32)
        if rows is not None and len(rows) > self._count // 4:  # reading every row in order is faster
            return self.dot(query)[np.asarray(rows, dtype=np.int64)]
        chosen = np.arange(self._count) if rows is None else np.asarray(rows, dtype=np.int64)
        out = np.empty((len(chosen), *query.shape[:-1]), dtype=np.float32)
        buffer = np.empty((min(BLOCK, len(chosen)), self.dim), dtype=np.float32)
        for start in range(0, len(chosen), BLOCK):
            end = min(start + BLOCK, len(chosen))
            block = buffer[: end - start]
            codes = self._codes[start:end] if rows is None else self._codes[chosen[start:end]]
            np.copyto(block, codes, casting="unsafe")
            np.dot(block, query.T, out=out[start:end])
        scales = self._scales[chosen]
        return out * (scales if query.ndim == 1 else scales[:, None])

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The given rows as float32."""
        rows = np.asarray(rows, dtype=np.int64)
        return self._codes[rows].astype(np.float32) * self._scales[rows, None]

    def row(self, number: int) -> np.ndarray:
        return self.take(np.array([number]))[0]

    def dense(self) -> np.ndarray:
        """Every row as float32 (benchmarks' baseline; search never needs the whole of it)."""
        return self.take(np.arange(self._count))
