"""Compact embedding of the per-person arrays: quantised integers, delta-coded, zigzagged, split into byte planes and
deflated, then base64 in the page (``report.js`` reverses it with the browser's own ``DecompressionStream``).

Why this shape: a page for an hour of video holds millions of poses. Sorted by track, consecutive rows are the same
person one frame apart, so the deltas are a few quarter-pixels; their high byte planes are almost all zeros and
deflate to nearly nothing. The people are cut into chunks of ``CHUNK_FRAMES`` frames, each its own deflate stream,
so the page decodes only the minute being watched (``benchmarks/bench_report.py`` measures size and load time).
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass

import numpy as np

CHUNK_FRAMES = 1800  # frames per lazily decoded chunk: a minute at 30 fps; raising it makes the first draw slower
COORD_SCALE = 2  # pixels are stored in half pixels (tracks.json has 0.01 px; a screen shows half a pixel at most)
SCORE_SCALE = 100  # scores in steps of 0.01 (the page's threshold slider moves in steps of 0.05)
DEFLATE_LEVEL = 6  # zlib's default: level 9 is about 2x slower for ~1% smaller pages


@dataclass(frozen=True)
class Column:
    """A named integer array (first axis = rows) with the factor its values were multiplied by."""

    name: str
    values: np.ndarray  # (N, ...) integers
    scale: float = 1.0


def quantise(values: np.ndarray, scale: float) -> np.ndarray:
    """Round ``values * scale`` to int64 (the page divides by ``scale`` again)."""
    return np.rint(np.asarray(values, np.float64) * scale).astype(np.int64)


def zigzag_deltas(values: np.ndarray) -> np.ndarray:
    """Differences along the first axis (the first row against zero), mapped to unsigned: 0, -1, 1, -2 -> 0, 1, 2, 3."""
    values = np.asarray(values, np.int64)
    deltas = np.diff(values, axis=0, prepend=np.zeros((1, *values.shape[1:]), np.int64))
    return ((deltas << 1) ^ (deltas >> 63)).astype(np.uint64)


def byte_planes(unsigned: np.ndarray) -> tuple[int, bytes]:
    """(number of planes, the planes): plane i holds byte i of every value (little end first), so runs of small
    values leave whole planes of zeros for deflate. At most 4 planes: the page decodes 32-bit integers."""
    flat = unsigned.reshape(-1)
    top = int(flat.max()) if flat.size else 0
    planes = max(1, (top.bit_length() + 7) // 8)
    if planes > 4:
        raise ValueError(f"value {top} does not fit the page's 32-bit decoder")
    return planes, b"".join(((flat >> np.uint64(8 * i)) & np.uint64(255)).astype(np.uint8).tobytes()
                            for i in range(planes))


def pack_columns(columns: list[Column]) -> dict:
    """One deflate stream for ``columns`` (all with the same number of rows): ``{"n": rows, "cols": [[name,
    shape after the first axis, planes, scale], ...], "b64": ...}``, what ``report.js`` ``unpack`` reads."""
    rows = len(columns[0].values) if columns else 0
    layout, blobs = [], []
    for column in columns:
        if len(column.values) != rows:
            raise ValueError(f"column {column.name}: {len(column.values)} rows, expected {rows}")
        planes, blob = byte_planes(zigzag_deltas(column.values))
        layout.append([column.name, list(column.values.shape[1:]), planes, column.scale])
        blobs.append(blob)
    packed = zlib.compress(b"".join(blobs), DEFLATE_LEVEL)
    return {"n": rows, "cols": layout, "b64": base64.b64encode(packed).decode("ascii")}


def unpack_columns(packed: dict) -> dict[str, np.ndarray]:
    """The inverse of ``pack_columns`` (values still multiplied by their scale): what the page computes, in numpy,
    for tests and tools."""
    raw = np.frombuffer(zlib.decompress(base64.b64decode(packed["b64"])), np.uint8)
    out, at, rows = {}, 0, packed["n"]
    for name, shape, planes, _scale in packed["cols"]:
        count = rows * int(np.prod(shape, dtype=np.int64))
        unsigned = np.zeros(count, np.int64)
        for i in range(planes):
            unsigned |= raw[at:at + count].astype(np.int64) << (8 * i)
            at += count
        deltas = (unsigned >> 1) ^ -(unsigned & 1)
        out[name] = np.cumsum(deltas.reshape(rows, *shape), axis=0)
    return out
