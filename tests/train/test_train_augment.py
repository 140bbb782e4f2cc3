"""One affine for image and keypoints: a marked point stays on its keypoint through scale, rotation and flip."""

from __future__ import annotations

import numpy as np
import pytest

from posetrack_cli.records import COCO17, MPII16, POSETRACK15
from posetrack_cli.train.augment import (CropParams, body_halves, eval_crop, half_body_box, normalise, random_crop,
                                         warp_person)
from posetrack_cli.train.config import AugmentConfig, TargetConfig
from posetrack_cli.train.targets import TargetBuilder

INPUT = (192, 256)
HEATMAP = (48, 64)


def marked_frame(points: dict[tuple[float, float], tuple[int, int, int]], size=(640, 480)) -> np.ndarray:
    """Black frame with a 7x7 coloured square centred on each integer point (BGR colours)."""
    img = np.zeros((size[1], size[0], 3), np.uint8)
    for (x, y), colour in points.items():
        img[int(y) - 3:int(y) + 4, int(x) - 3:int(x) + 4] = colour
    return img


def centroid(channel: np.ndarray) -> np.ndarray:
    w = channel.astype(np.float64)
    ys, xs = np.mgrid[: w.shape[0], : w.shape[1]]
    return np.array([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])


@pytest.mark.parametrize("seed", range(6))
def test_marked_point_lands_on_its_keypoint_and_heatmap_peak(seed):
    kps = np.zeros((17, 3), np.float32)
    wrist = COCO17.index("left_wrist")
    kps[wrist] = [300, 260, 2]
    frame = marked_frame({(300, 260): (255, 255, 255)})
    cfg = AugmentConfig(rotation_prob=1.0, flip_prob=0.5, half_body_prob=0.0)
    params = random_crop(np.array([250, 150, 370, 380]), kps, COCO17, cfg, INPUT, np.random.default_rng(seed))
    crop, kps_crop, warp = warp_person(frame, kps, params, COCO17, INPUT)
    k = COCO17.index("right_wrist") if params.flip else wrist  # a mirrored left wrist is a right wrist
    assert kps_crop[k, 2] == 2
    np.testing.assert_allclose(centroid(crop[:, :, 0]), kps_crop[k, :2], atol=0.35)
    targets, weights = TargetBuilder(TargetConfig(), INPUT, HEATMAP, num_stages=2)(kps_crop)
    finest = targets[-1, k]
    peak = np.unravel_index(finest.argmax(), finest.shape)
    assert finest.max() == pytest.approx(255.0) and weights[k] == 1
    np.testing.assert_array_equal(peak[::-1], np.floor(centroid(crop[:, :, 0]) / 4).astype(int))


def test_flip_swaps_left_and_right_labels():
    kps = np.zeros((17, 3), np.float32)
    lw, rw = COCO17.index("left_wrist"), COCO17.index("right_wrist")
    kps[lw] = [360, 240, 2]  # the person's left wrist is on the image's right
    kps[rw] = [280, 240, 2]
    frame = marked_frame({(360, 240): (0, 0, 255), (280, 240): (255, 0, 0)})  # red left, blue right (BGR)
    params = CropParams(np.array([320.0, 240.0]), np.array([240.0, 320.0]), 0.0, True)
    crop, kps_crop, _ = warp_person(frame, kps, params, COCO17, INPUT)  # crop is RGB
    red, blue = centroid(crop[:, :, 0]), centroid(crop[:, :, 2])
    # In the mirrored crop the red (anatomical left) wrist appears on the left of the image and is labelled
    # right_wrist, as a right wrist of the mirrored person.
    np.testing.assert_allclose(kps_crop[rw, :2], red, atol=0.35)
    np.testing.assert_allclose(kps_crop[lw, :2], blue, atol=0.35)
    assert red[0] < blue[0]
    # hand-computed: scale 192 / 240 = 0.8, crop centre (96, 128); mirrored x = 96 - 0.8 (360 - 320) = 64
    np.testing.assert_allclose(kps_crop[rw, :2], [64.0, 128.0], atol=1e-6)


def test_eval_crop_matches_test_time_geometry():
    params = eval_crop(np.array([100, 50, 160, 250]), INPUT, 1.25)
    # box 60 x 200 -> aspect 0.75 fit: 150 x 200, x1.25 -> 187.5 x 250 around (130, 150)
    np.testing.assert_allclose(params.center, [130, 150])
    np.testing.assert_allclose(params.size, [187.5, 250])
    assert params.rotation_deg == 0 and not params.flip


def test_random_crop_ranges_follow_the_paper():
    kps = np.zeros((17, 3), np.float32)
    cfg = AugmentConfig(half_body_prob=0.0)
    base = eval_crop(np.array([0, 0, 150, 200]), INPUT, cfg.padding)
    draws = [random_crop(np.array([0, 0, 150, 200]), kps, COCO17, cfg, INPUT, np.random.default_rng(s))
             for s in range(300)]
    scales = np.array([d.size[0] / base.size[0] for d in draws])
    rotations = np.array([d.rotation_deg for d in draws])
    assert 0.7 <= scales.min() and scales.max() <= 1.35 and np.ptp(scales) > 0.55
    assert np.abs(rotations).max() <= 45 and np.abs(rotations).max() > 40
    assert 0.35 < np.mean(rotations == 0) < 0.65 and 0.35 < np.mean([d.flip for d in draws]) < 0.65


def test_body_halves_by_name():
    upper, lower = body_halves(COCO17)
    assert upper.tolist() == list(range(11)) and lower.tolist() == list(range(11, 17))
    assert body_halves(MPII16)[1].tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert body_halves(POSETRACK15)[1].tolist() == [0, 1, 2, 3, 4, 5]


def test_half_body_box_covers_one_half():
    kps = np.zeros((17, 3), np.float32)
    kps[:, 0] = np.arange(17) * 10.0
    kps[:, 1] = np.arange(17) * 20.0
    kps[:, 2] = 2
    chosen = set()
    for seed in range(20):
        box = half_body_box(kps, COCO17, np.random.default_rng(seed), (0.0, 0.0))
        chosen.add(tuple(np.round(box, 3)))
    # no extension: exactly the extents of joints 0..10 or 11..16
    assert chosen == {(0.0, 0.0, 100.0, 200.0), (110.0, 220.0, 160.0, 320.0)}
    kps[11:, 2] = 0  # lower half unannotated: only the upper half qualifies
    assert tuple(half_body_box(kps, COCO17, np.random.default_rng(0), (0.0, 0.0))) == (0.0, 0.0, 100.0, 200.0)
    kps[2:, 2] = 0  # two joints are too few for a box
    assert half_body_box(kps, COCO17, np.random.default_rng(0), (0.6, 0.8)) is None


def test_half_body_crop_needs_more_than_eight_joints():
    kps = np.zeros((17, 3), np.float32)
    kps[:, 0], kps[:, 1] = np.linspace(100, 200, 17), np.linspace(50, 400, 17)
    kps[:8, 2] = 2
    cfg = AugmentConfig(half_body_prob=1.0, rotation_prob=0.0, flip_prob=0.0, scale=(1.0, 1.0))
    box = np.array([100, 50, 200, 400])
    assert np.allclose(random_crop(box, kps, COCO17, cfg, INPUT, np.random.default_rng(0)).center, [150, 225])
    kps[:9, 2] = 2
    centers = {tuple(random_crop(box, kps, COCO17, cfg, INPUT, np.random.default_rng(s)).center) for s in range(8)}
    assert all(c[1] < 225 for c in centers)  # only upper-body joints are annotated (indices 0..8)


def test_normalise_uses_imagenet_rgb_statistics():
    crop = np.zeros((2, 2, 3), np.uint8)
    crop[..., 0] = 124  # R
    out = normalise(crop)
    assert out.shape == (3, 2, 2)
    assert out[0, 0, 0] == pytest.approx((124 - 123.675) / 58.395, rel=1e-4)
    assert out[2, 0, 0] == pytest.approx(-103.53 / 57.375, rel=1e-6)
