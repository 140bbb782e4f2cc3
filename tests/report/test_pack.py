"""The page's packing: quantised integers, zigzag deltas in byte planes, deflated; checked against hand-computed
bytes and round trips to the source values."""

import base64
import zlib

import numpy as np
import pytest

from posetrack_cli.report.pack import Column, byte_planes, pack_columns, quantise, unpack_columns, zigzag_deltas


def test_zigzag_deltas_by_hand():
    # deltas 0, 1, -2, 301 -> zigzag 0, 2, 3, 602
    assert zigzag_deltas(np.array([0, 1, -1, 300])).tolist() == [0, 2, 3, 602]
    # along the first axis only: each column is its own sequence
    assert zigzag_deltas(np.array([[5, -5], [6, -7]])).tolist() == [[10, 9], [2, 3]]


def test_byte_planes_low_bytes_first():
    planes, blob = byte_planes(np.array([0, 2, 3, 602], np.uint64))
    assert planes == 2
    assert list(blob) == [0, 2, 3, 602 % 256, 0, 0, 0, 602 // 256]
    assert byte_planes(np.array([255], np.uint64)) == (1, bytes([255]))


def test_values_beyond_32_bits_are_refused():
    with pytest.raises(ValueError, match="32-bit"):
        byte_planes(np.array([2**32], np.uint64))


def test_pack_layout_and_round_trip():
    rng = np.random.default_rng(1)
    xy = rng.normal(300, 200, (50, 17, 2))
    cols = [Column("frame", np.arange(50)), Column("xy", quantise(xy, 4), 4)]
    packed = pack_columns(cols)
    assert packed["n"] == 50
    assert [c[:2] for c in packed["cols"]] == [["frame", []], ["xy", [17, 2]]]
    raw = zlib.decompress(base64.b64decode(packed["b64"]))
    assert raw[:50] == bytes([0] + [2] * 49)  # frame deltas: 0 then +1 (zigzag 2), one plane
    out = unpack_columns(packed)
    assert out["frame"].tolist() == list(range(50))
    assert np.abs(out["xy"] / 4 - xy).max() <= 0.125  # in steps of a quarter: within half a step


def test_rows_must_agree():
    with pytest.raises(ValueError, match="rows"):
        pack_columns([Column("a", np.zeros(3, np.int64)), Column("b", np.zeros(4, np.int64))])
