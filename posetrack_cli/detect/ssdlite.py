"""SSDLite-MobileNetV2 person detector: the bundled network on ONNX Runtime, anchors and NMS in numpy.

``weights/ssdlite_mobilenet_v2_person.onnx`` is the network of the TensorFlow frozen graph beside it, from the
resized image to per-anchor box encodings and class scores (``tools/convert_ssdlite_onnx.py``). The steps around
it reproduce what OpenCV's ``cv2.dnn`` did with the graph's text description until OpenCV 5.1 dropped its
TensorFlow importer: a bilinear resize to 300x300 (``cv2.dnn.blobFromImages``), anchors and box decoding as its
``PriorBox`` and ``DetectionOutput`` layers computed them from the pipeline config, and DetectionOutput's selection
(scores above 0.3, the 100 best, greedy NMS at IoU 0.6, at most 100 boxes). On all 795 frames of the bundled clip it
gives the boxes of OpenCV 4.14's ``cv2.dnn`` path, and ONNX Runtime runs the graph 1.2-1.7x faster than
``cv2.dnn.readNetFromONNX`` (benchmarks/RESULTS.md §7). The graph is opset 13 (any ONNX Runtime of the last years;
measured with 1.32).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from posetrack_cli.errors import PosetrackError, WeightsError, dependency_calls
from posetrack_cli.geometry import nms
from posetrack_cli.nets.onnx_session import cpu_session
from posetrack_cli.records import Detections

# weights/ssdlite_mobilenet_v2_person.pipeline.config: ssd_anchor_generator, box coder, post-processing.
FEATURE_MAPS = (19, 10, 5, 3, 2, 1)  # grid sizes of the six box predictors for the 300x300 input
MIN_SCALE, MAX_SCALE = 0.2, 0.95  # anchor scales, linear over the six layers (fractions of the image side)
ASPECT_RATIOS = (1.0, 2.0, 0.5, 3.0, 0.3333)  # width / height; layers 1-5 add one more box, see ssd_anchors
BOX_CODE_SCALES = (10.0, 10.0, 5.0, 5.0)  # faster_rcnn_box_coder y, x, height, width scales
SCORE_THRESHOLD = 0.3  # batch_non_max_suppression score_threshold: boxes must score above it to enter NMS
NMS_IOU = 0.6  # its iou_threshold: a box overlapping a better kept one by more than this is dropped
MAX_DETECTIONS = 100  # its max_detections_per_class / max_total_detections (cv2.dnn: top_k and keep_top_k)


def ssd_anchors(feature_maps: Sequence[int] = FEATURE_MAPS, min_scale: float = MIN_SCALE,
                max_scale: float = MAX_SCALE, aspect_ratios: Sequence[float] = ASPECT_RATIOS) -> np.ndarray:
    """TF object detection's ``ssd_anchor_generator`` with ``reduce_boxes_in_lowest_layer`` (and OpenCV's PriorBox
    layers made from it): (N, 4) ``[cy, cx, h, w]`` relative to the image, in the predictors' order (layer, row,
    column, box). Layer 0 has 3 boxes per cell (scale 0.1 square, ``min_scale`` at 2:1 and 1:2); layer i > 0 has
    one per aspect ratio at scale s_i plus a square of scale sqrt(s_i * s_{i+1}), with s_6 = 1."""
    n = len(feature_maps)
    scales = [min_scale + (max_scale - min_scale) * i / (n - 1) for i in range(n)] + [1.0]
    layers = []
    for i, size in enumerate(feature_maps):
        if i == 0:
            boxes = [(0.1, 1.0), (min_scale, 2.0), (min_scale, 0.5)]
        else:
            boxes = [(scales[i], ar) for ar in aspect_ratios] + [(np.sqrt(scales[i] * scales[i + 1]), 1.0)]
        scale, ratio = np.array(boxes).T
        hw = np.stack([scale / np.sqrt(ratio), scale * np.sqrt(ratio)], 1)  # (boxes, 2)
        centres = (np.arange(size) + 0.5) / size
        cy, cx = np.meshgrid(centres, centres, indexing="ij")
        grid = np.stack([cy, cx], -1).reshape(-1, 1, 2)  # (cells, 1, 2)
        layers.append(np.concatenate(np.broadcast_arrays(grid, hw[None]), -1).reshape(-1, 4))
    return np.concatenate(layers)


def decode_boxes(encodings: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Box coder outputs ``[ty, tx, th, tw]`` (..., N, 4) and anchors ``[cy, cx, h, w]`` (N, 4) -> boxes
    ``[x1, y1, x2, y2]`` relative to the image, not clipped (as DetectionOutput leaves them)."""
    t = encodings.astype(np.float64) / np.array(BOX_CODE_SCALES)
    cy = t[..., 0] * anchors[:, 2] + anchors[:, 0]
    cx = t[..., 1] * anchors[:, 3] + anchors[:, 1]
    h = np.exp(t[..., 2]) * anchors[:, 2]
    w = np.exp(t[..., 3]) * anchors[:, 3]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1)


def select(boxes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """DetectionOutput's choice for one frame: indices of the boxes kept, best first (scores above
    ``SCORE_THRESHOLD``, the ``MAX_DETECTIONS`` best of those, greedy NMS at ``NMS_IOU``, at most
    ``MAX_DETECTIONS``)."""
    candidates = np.flatnonzero(scores > SCORE_THRESHOLD)
    candidates = candidates[np.argsort(-scores[candidates], kind="stable")][:MAX_DETECTIONS]
    return candidates[nms(boxes[candidates], scores[candidates], NMS_IOU)][:MAX_DETECTIONS]


def parse_ssd_output(box_encodings: np.ndarray, class_scores: np.ndarray, anchors: np.ndarray,
                     frame_shapes: Sequence[tuple], min_score: float) -> list[Detections]:
    """Network outputs for B frames, ``box_encodings`` (B, N, 4) and ``class_scores`` (B, N, 2: background,
    person), -> one ``Detections`` per frame, boxes in that frame's pixels, scores at least ``min_score``."""
    boxes = decode_boxes(box_encodings, anchors)
    result = []
    for frame_boxes, scores, shape in zip(boxes, class_scores[..., 1], frame_shapes):
        h, w = shape[:2]
        keep = select(frame_boxes, scores)
        keep = keep[scores[keep] >= min_score]
        result.append(Detections((frame_boxes[keep] * [w, h, w, h]).astype(np.float32), scores[keep]))
    return result


def network_input(frames: Sequence[np.ndarray], size: int) -> np.ndarray:
    """BGR uint8 frames -> (B, size, size, 3) float32 RGB 0..255, resized as ``cv2.dnn.blobFromImages`` does
    (bilinear, uint8, no crop); the graph scales to [-1, 1] itself."""
    resized = [cv2.cvtColor(cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
               for f in frames]
    return np.stack(resized).astype(np.float32)


_NEEDS = dict(user="SSDLite", hint="--detectors yolo runs without it")  # ONNX Runtime / cv2 APIs differ by version


class SsdLiteDetector:
    """Person boxes from the bundled SSDLite-MobileNetV2 ONNX graph; all frames of a batch in one forward.
    ``threads``: ONNX Runtime intra-op threads (default: as many as PyTorch uses)."""

    name = "ssdlite"

    @dependency_calls(**_NEEDS)
    def __init__(self, graph: Path, size: int = 300, min_score: float = 0.25, threads: int | None = None) -> None:
        if size != 300:
            raise PosetrackError(f"the SSDLite graph takes 300x300 images (its fixed_shape_resizer), not {size}")
        self.session = _load(Path(graph), threads)
        self._predict = self.session.run  # per instance: --profile's forward clock times it (forward_time.py)
        self.anchors = ssd_anchors()
        self.size = size
        self.min_score = min_score

    @dependency_calls(**_NEEDS)
    def detect(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        if not frames:
            return []
        encodings, scores = self._predict(["box_encodings", "class_scores"],
                                          {"images": network_input(frames, self.size)})
        return parse_ssd_output(encodings, scores, self.anchors, [f.shape for f in frames], self.min_score)


def _load(graph: Path, threads: int | None):
    if not graph.is_file():
        raise WeightsError(f"SSDLite graph {graph} not found; bundled: weights/ssdlite_mobilenet_v2_person.onnx "
                           "(tools/convert_ssdlite_onnx.py makes it from the .pb)")
    try:
        session = cpu_session(graph, threads)
    except ImportError:
        raise PosetrackError("the ssdlite detector needs ONNX Runtime: pip install onnxruntime") from None
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own exception types for a bad file
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"cannot load SSDLite graph {graph}: {message}") from None
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]
    if inputs != ["images"] or sorted(outputs) != ["box_encodings", "class_scores"]:
        raise WeightsError(f"{graph} is not the SSDLite graph of tools/convert_ssdlite_onnx.py "
                           f"(inputs {inputs}, outputs {outputs})")
    return session
