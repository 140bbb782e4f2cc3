import numpy as np
import pytest

from posetrack_cli.detect.base import keep_plausible
from posetrack_cli.detect.ensemble import fuse
from posetrack_cli.geometry import iou_matrix, nms
from posetrack_cli.records import Detections


def test_iou_matrix_hand_computed():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[5, 0, 15, 10],  # overlap 5x10 = 50; union 100 + 100 - 50 = 150
                  [0, 0, 10, 10],  # identical
                  [20, 20, 30, 30],  # disjoint
                  [0, 0, 5, 5]], np.float32)  # inside: 25 / 100
    np.testing.assert_allclose(iou_matrix(a, b), [[50 / 150, 1.0, 0.0, 0.25]])


def test_nms_table():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [5, 0, 15, 10], [30, 30, 40, 40]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    # IoU(0,1) = 90/110 = 0.818 -> suppressed at 0.6; IoU(0,2) = 50/150 = 0.333 -> kept; box 3 disjoint.
    assert nms(boxes, scores, 0.6).tolist() == [0, 2, 3]
    # At 0.3 box 2 (0.333 with box 0) goes too.
    assert nms(boxes, scores, 0.3).tolist() == [0, 3]
    # At 0.9 nothing overlaps enough.
    assert nms(boxes, scores, 0.9).tolist() == [0, 1, 2, 3]


def test_fuse_keeps_best_box_per_person_and_its_source():
    yolo = Detections([[0, 0, 10, 20], [50, 50, 60, 70]], [0.9, 0.4])
    ssd = Detections([[1, 0, 11, 20], [100, 100, 110, 120]], [0.95, 0.5])
    fused = fuse([yolo, ssd], 0.6)
    # The SSD box (0.95) wins over the overlapping YOLO box (IoU 190/210 = 0.905 > 0.6).
    np.testing.assert_allclose(fused.boxes_xyxy, [[1, 0, 11, 20], [100, 100, 110, 120], [50, 50, 60, 70]])
    assert fused.sources.tolist() == [1, 1, 0]


def test_keep_plausible_clips_and_drops():
    dets = Detections([[-5, -5, 20, 40], [0, 0, 5, 4], [10, 10, 20, 30]], [0.9, 0.9, 0.1])
    kept = keep_plausible(dets, min_score=0.25, min_box_height=8, frame_shape=(30, 15, 3))
    np.testing.assert_allclose(kept.boxes_xyxy, [[0, 0, 15, 30]])


def test_detections_validate_shapes():
    with pytest.raises(ValueError, match="boxes_xyxy"):
        Detections(np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="scores"):
        Detections(np.zeros((2, 4)), np.zeros(3))


def test_yolo_adapter_keeps_the_thread_settings(clip_frames):
    """Ultralytics sets torch to cpu_count - 1 threads on its first CPU predict and cv2 threads to 0 on import;
    the adapter restores both so our own networks keep the process's threads."""
    import cv2
    import torch

    from posetrack_cli.config import DEFAULT_YOLO_WEIGHTS
    from posetrack_cli.detect.yolo import YoloDetector
    from posetrack_cli.zoo import resolve_path

    torch_before, cv_before = torch.get_num_threads(), cv2.getNumThreads()
    detector = YoloDetector(resolve_path(None, DEFAULT_YOLO_WEIGHTS), "cpu", imgsz=320)
    detector.detect(clip_frames[:1])
    assert (torch.get_num_threads(), cv2.getNumThreads()) == (torch_before, cv_before)
