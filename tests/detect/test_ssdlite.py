"""The SSDLite detector on ONNX Runtime: the bundled graph is the one in the MANIFEST, anchors / decoding / selection
against hand-computed values, the boxes of the old OpenCV 4 ``cv2.dnn`` path on real frames, one-line weights errors."""

from __future__ import annotations

import hashlib
import re

import cv2
import numpy as np
import pytest

from conftest import EXAMPLE_CLIP, ROOT
from posetrack_cli.config import DEFAULT_SSDLITE_GRAPH
from posetrack_cli.zoo import resolve_path
from posetrack_cli.detect.ssdlite import SsdLiteDetector, decode_boxes, parse_ssd_output, select, ssd_anchors
from posetrack_cli.errors import PosetrackError, WeightsError

GRAPH = resolve_path(None, DEFAULT_SSDLITE_GRAPH)

# Boxes [x1, y1, x2, y2] (pixels) and scores of the old path, posetrack_cli/detect/ssdlite.py before the switch to
# ONNX: cv2.dnn.readNetFromTensorflow(.pb, .pbtxt) in OpenCV 4.14.0.94, batches of 4 frames, min_score 0.25
# (benchmarks/compare_ssdlite_paths.py old). Checked by eye on the frames: every box holds a person. Frame 0: the man
# left of the lamp post and the one on the far road (the walker at the right, x ~640-685, is missed by SSDLite).
# Frame 120: the man in red, the pair on the far road (box 1 and the narrower box 4), the man at the right, the walker
# in black, the distant person at the top left, the person behind the sign.
OLD_PATH = {
    0: ([[499.82, 160.30, 529.24, 232.84], [250.27, 219.36, 284.93, 311.26]], [0.9729, 0.9395]),
    120: ([[377.52, 187.92, 404.22, 264.34], [569.12, 128.21, 598.40, 194.99], [649.70, 141.43, 676.84, 207.09],
           [504.20, 207.20, 538.49, 301.02], [559.75, 131.00, 582.34, 191.46], [169.29, 69.06, 191.07, 105.48],
           [413.87, 186.70, 442.49, 266.97]], [0.9923, 0.9685, 0.8593, 0.5758, 0.4818, 0.4584, 0.3483]),
}


@pytest.fixture(scope="module")
def detector():
    return SsdLiteDetector(GRAPH, threads=1)


def clip_frame_list(indices) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(EXAMPLE_CLIP))
    frames = {}
    for i in range(max(indices) + 1):
        ok, frame = cap.read()
        assert ok, f"cannot read frame {i} of {EXAMPLE_CLIP}"
        if i in indices:
            frames[i] = frame
    cap.release()
    return [frames[i] for i in indices]


def test_bundled_graph_matches_the_manifest():
    manifest = (ROOT / "weights" / "MANIFEST.md").read_text()
    row = re.search(rf"^\| {re.escape(GRAPH.name)} \|.*?\| ([0-9a-f]{{64}}) \|", manifest, re.M)
    assert row, f"{GRAPH.name} has no row in weights/MANIFEST.md"
    assert hashlib.sha256(GRAPH.read_bytes()).hexdigest() == row.group(1)
    assert GRAPH.stat().st_size < 30e6


def test_anchors_hand_computed():
    anchors = ssd_anchors()  # [cy, cx, h, w]
    assert anchors.shape == (19 * 19 * 3 + (10 * 10 + 5 * 5 + 3 * 3 + 2 * 2 + 1) * 6, 4)  # 1917
    c = 0.5 / 19  # first cell's centre
    np.testing.assert_allclose(anchors[0], [c, c, 0.1, 0.1])  # layer 0: scale 0.1, 1:1
    np.testing.assert_allclose(anchors[1], [c, c, 0.2 / np.sqrt(2), 0.2 * np.sqrt(2)])  # min_scale, 2:1 (wide)
    np.testing.assert_allclose(anchors[2], [c, c, 0.2 * np.sqrt(2), 0.2 / np.sqrt(2)])  # min_scale, 1:2 (tall)
    np.testing.assert_allclose(anchors[3, :2], [c, 1.5 / 19])  # next cell: one column to the right
    layer1 = 19 * 19 * 3  # scale 0.2 + 0.75 / 5 = 0.35; its sixth box: sqrt(0.35 * 0.5), square
    np.testing.assert_allclose(anchors[layer1], [0.05, 0.05, 0.35, 0.35])
    np.testing.assert_allclose(anchors[layer1 + 5], [0.05, 0.05, np.sqrt(0.35 * 0.5), np.sqrt(0.35 * 0.5)])
    np.testing.assert_allclose(anchors[-1], [0.5, 0.5, np.sqrt(0.95), np.sqrt(0.95)])  # last: sqrt(0.95 * 1.0)
    np.testing.assert_allclose(anchors[-2], [0.5, 0.5, 0.95 / np.sqrt(0.3333), 0.95 * np.sqrt(0.3333)])


def test_decode_boxes_hand_computed():
    anchors = np.array([[0.5, 0.4, 0.2, 0.1]])  # cy, cx, h, w
    codes = np.array([[[0, 0, 0, 0],  # the anchor itself
                       [10, 0, 0, 0],  # ty = 10 / 10 = 1 anchor height down
                       [0, -10, 0, 0],  # tx = -1 anchor width left
                       [0, 0, 5 * np.log(2), 5 * np.log(3)]]])  # height x2, width x3
    expected = [[0.35, 0.4, 0.45, 0.6], [0.35, 0.6, 0.45, 0.8], [0.25, 0.4, 0.35, 0.6], [0.25, 0.3, 0.55, 0.7]]
    np.testing.assert_allclose(decode_boxes(codes, anchors)[0], expected, atol=1e-12)


def test_select_threshold_nms_and_limits():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [5, 0, 15, 10], [30, 30, 40, 40], [50, 50, 60, 60]], float)
    scores = np.array([0.8, 0.9, 0.7, 0.3, 0.31])
    # 0.3 is not above the threshold; box 0 overlaps the better box 1 by 90/110 = 0.82 > 0.6; box 2 overlaps box 1
    # by 60/140 = 0.43 and stays.
    assert select(boxes, scores).tolist() == [1, 2, 4]
    grid = np.array([[10 * i, 0, 10 * i + 5, 5] for i in range(150)], float)  # 150 disjoint boxes
    ranked = np.linspace(0.99, 0.5, 150)
    assert select(grid, ranked).tolist() == list(range(100))  # only the 100 best are considered and kept


def test_parse_scales_to_pixels_and_filters_min_score():
    anchors = np.array([[0.5, 0.5, 0.2, 0.4], [0.25, 0.25, 0.5, 0.5]])
    encodings = np.zeros((2, 2, 4), np.float32)
    scores = np.array([[[0.1, 0.9], [0.9, 0.2]], [[0.5, 0.35], [0.5, 0.4]]], np.float32)  # [background, person]
    dets = parse_ssd_output(encodings, scores, anchors, [(100, 200, 3), (10, 20, 3)], min_score=0.38)
    np.testing.assert_allclose(dets[0].boxes_xyxy, [[60, 40, 140, 60]])  # x 0.3-0.7 of 200, y 0.4-0.6 of 100
    np.testing.assert_allclose(dets[0].scores, [0.9])
    np.testing.assert_allclose(dets[1].boxes_xyxy, [[0, 0, 10, 5]])  # 0.35 is under min_score
    assert dets[0].boxes_xyxy.dtype == np.float32


def test_clip_frames_give_the_old_paths_boxes(detector):
    frames = clip_frame_list(list(OLD_PATH))
    for dets, frame, (boxes, scores) in zip(detector.detect(frames), frames, OLD_PATH.values()):
        assert len(dets) == len(scores)
        order = np.argsort(-dets.scores)  # the old path listed boxes best first too
        np.testing.assert_allclose(dets.boxes_xyxy[order], boxes, atol=1.0)  # pixels
        np.testing.assert_allclose(dets.scores[order], scores, atol=1e-3)
        h, w = frame.shape[:2]
        heights, widths = dets.boxes_xyxy[:, 3] - dets.boxes_xyxy[:, 1], dets.boxes_xyxy[:, 2] - dets.boxes_xyxy[:, 0]
        assert (heights > widths).all() and (dets.boxes_xyxy[:, 2] <= w).all() and (dets.boxes_xyxy[:, 3] <= h).all()
    assert detector.detect([]) == []


def test_session_threads_follow_the_argument(detector):
    assert detector.session.get_session_options().intra_op_num_threads == 1


def test_missing_graph_is_one_line_weights_error(tmp_path):
    with pytest.raises(WeightsError) as info:
        SsdLiteDetector(tmp_path / "ssd.onnx")
    assert "ssd.onnx not found" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("content", [b"not a graph", None])
def test_corrupt_graph_is_one_line_weights_error(tmp_path, content):
    path = tmp_path / "ssd.onnx"
    path.write_bytes(content if content is not None else GRAPH.read_bytes()[:1_000_000])  # garbage / truncated
    with pytest.raises(WeightsError) as info:
        SsdLiteDetector(path)
    message = str(info.value)
    assert message.startswith(f"cannot load SSDLite graph {path}") and "\n" not in message


def test_other_input_size_is_refused():
    with pytest.raises(PosetrackError, match="300x300"):
        SsdLiteDetector(GRAPH, size=320)


def test_other_onnx_graph_is_one_line_weights_error(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    path = tmp_path / "identity.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    with pytest.raises(WeightsError, match=r"is not the SSDLite graph .*inputs \['x'\], outputs \['y'\]"):
        SsdLiteDetector(path)
