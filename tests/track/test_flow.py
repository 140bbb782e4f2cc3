"""Optical-flow propagation: bilinear sampling of a hand-made field, and DIS / Farneback on a shifted texture."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from posetrack_cli.track.flow import FLOW_METHODS, FlowPropagator, sample_flow, to_gray
from posetrack_cli.track.propagate import make_propagator


def _linear_field(h: int = 20, w: int = 30) -> np.ndarray:
    # flow_x(u, v) = u, flow_y(u, v) = 2 v in scaled pixels: bilinear sampling reproduces it exactly.
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack([u, 2 * v], -1)


def test_sample_flow_bilinear_by_hand():
    # scale 0.5: x = 9.5 -> u = (9.5 + 0.5) 0.5 - 0.5 = 4.5; y = 5.5 -> v = 2.5. Flow (4.5, 5.0) scaled pixels
    # -> (9.0, 10.0) original pixels (divided by the scale).
    d = sample_flow(_linear_field(), np.array([[9.5, 5.5]]), 0.5)
    assert d.tolist() == [[9.0, 10.0]]


def test_sample_flow_clamps_outside_points():
    # (-50, -50) clamps to u = v = 0 -> (0, 0); (1000, 1000) clamps to u = 29, v = 19 -> (29, 38) / 0.5.
    d = sample_flow(_linear_field(), np.array([[-50.0, -50.0], [1000.0, 1000.0]]), 0.5)
    assert d.tolist() == [[0.0, 0.0], [58.0, 76.0]]


def test_sample_flow_constant_field_and_empty():
    field = np.zeros((10, 10, 2), np.float32) + np.float32([1.5, -2.0])
    assert sample_flow(field, np.array([[3.2, 7.7]]), 0.25).tolist() == [[6.0, -8.0]]
    assert sample_flow(field, np.zeros((0, 2)), 0.5).shape == (0, 2)


def _texture(shift=(0, 0)) -> np.ndarray:
    rng = np.random.default_rng(3)
    base = cv2.GaussianBlur(rng.integers(0, 255, (240, 320), dtype=np.uint8), (0, 0), 3)
    base = cv2.normalize(base, None, 0, 255, cv2.NORM_MINMAX)
    m = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    return cv2.cvtColor(cv2.warpAffine(base, m, (320, 240), borderMode=cv2.BORDER_REFLECT), cv2.COLOR_GRAY2BGR)


@pytest.mark.parametrize("method", FLOW_METHODS)
def test_flow_moves_points_with_the_scene(method):
    # The whole texture moves by (+6, -4) px between the frames: interior points must follow within 0.5 px.
    prop = FlowPropagator(method, 0.5)
    prop.advance(_texture())
    pts = np.array([[100.0, 100.0], [200.0, 120.0], [160.0, 150.0]])
    assert prop.move(pts).tolist() == pts.tolist()  # no flow before the second frame
    prop.advance(_texture((6, -4)))
    moved = prop.move(pts)
    assert np.abs(moved - (pts + [6.0, -4.0])).max() < 0.5
    prop.reset()
    assert prop.flow is None


@pytest.mark.parametrize("method", FLOW_METHODS)
def test_prepared_flows_equal_the_flows_computed_in_advance(method):
    # A texture panning 3 px a frame, a black frame (the check refuses it) and a frame size change; the second
    # propagator is handed its frames ahead in runs of 3, and a skipped frame discards what was prepared after it.
    frames = [_texture((3 * k, -k)) for k in range(7)]
    frames[4] = np.zeros_like(frames[4])
    frames.append(np.zeros((100, 120, 3), np.uint8))
    frames.append(cv2.resize(frames[0], (120, 100)))
    plain, ahead = FlowPropagator(method, 0.5, check=True), FlowPropagator(method, 0.5, check=True)
    trusted = []
    for k, frame in enumerate(frames):
        if k % 3 == 0:
            ahead.prepare(frames[k:k + 3])
        plain.advance(frame)
        ahead.advance(frame)
        trusted.append(ahead.trusted)
        assert ahead.trusted == plain.trusted, k
        assert (ahead.flow is None) == (plain.flow is None) == (k in (0, 7)), k
        if plain.flow is not None:
            np.testing.assert_array_equal(ahead.flow, plain.flow)
    # into and out of the black frame refused; the new size restarts the flow; out of the black small frame refused
    assert trusted == [True, True, True, True, False, False, True, True, False]
    ahead.close()
    # new propagators: OpenCV's DIS gives slightly other flows once it has seen another frame size
    plain, ahead = FlowPropagator(method, 0.5, check=True), FlowPropagator(method, 0.5, check=True)
    for prop in (plain, ahead):
        prop.advance(frames[0])
    ahead.prepare(frames[1:3])  # frames 1 and 2 prepared, frame 2 taken first: the flow is from frame 0, as plain's
    plain.advance(frames[2])
    ahead.advance(frames[2])
    np.testing.assert_array_equal(ahead.flow, plain.flow)
    assert np.abs(ahead.move(np.array([[160.0, 120.0]])) - [166.0, 118.0]).max() < 0.5
    ahead.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("posetrack-flow")]


def test_frame_size_change_restarts_flow():
    prop = FlowPropagator("dis", 1.0)
    prop.advance(_texture())
    prop.advance(np.zeros((100, 100, 3), np.uint8))
    assert prop.flow is None


def test_make_propagator_and_bad_arguments():
    assert isinstance(make_propagator("farneback", 0.5), FlowPropagator)
    with pytest.raises(ValueError):
        FlowPropagator("lucas", 0.5)
    with pytest.raises(ValueError):
        FlowPropagator("dis", 0.0)
    assert to_gray(np.zeros((100, 200, 3), np.uint8), 0.5).shape == (50, 100)
