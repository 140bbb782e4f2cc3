"""Heatmap decoding against hand-made heatmaps with known peaks (MSPN test time, megvii ``test.py``)."""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
import torch

from posetrack_cli.pose.crops import box_to_center_size, crop_warps, invert_warps, transform_points
from posetrack_cli.pose.decode import (apply_affine, decode_heatmaps, decode_to_frame, flip_back, gaussian_blur,
                                       gaussian_kernel1d, heatmap_argmax, heatmap_to_input, quarter_offset,
                                       sample_scores)
from posetrack_cli.records import COCO17

log = logging.getLogger(__name__)


def gaussian(points_xy, h: int = 64, w: int = 48, sigma: float = 2.0, dtype=torch.float64) -> torch.Tensor:
    """(N, K, 2) sub-pixel centres -> (N, K, h, w) Gaussians with peak value 255 (the MSPN target scale)."""
    pts = torch.as_tensor(points_xy, dtype=dtype)
    ys = torch.arange(h, dtype=dtype).view(1, 1, h, 1)
    xs = torch.arange(w, dtype=dtype).view(1, 1, 1, w)
    d2 = (xs - pts[..., 0, None, None]) ** 2 + (ys - pts[..., 1, None, None]) ** 2
    return 255 * torch.exp(-d2 / (2 * sigma**2))


@pytest.mark.parametrize("size", [3, 5, 7, 11])
def test_kernel_equals_opencv(size):
    np.testing.assert_allclose(gaussian_kernel1d(size, dtype=torch.float64).numpy(),
                               cv2.getGaussianKernel(size, 0, ktype=cv2.CV_64F)[:, 0], atol=1e-15)


def test_kernel_9_uses_the_default_sigma_formula():
    # OpenCV 3/4 (the reference code's era) compute size 9 with sigma 0.3 * ((9 - 1) / 2 - 1) + 0.8 = 1.7.
    np.testing.assert_allclose(gaussian_kernel1d(9, dtype=torch.float64).numpy(),
                               cv2.getGaussianKernel(9, 1.7, ktype=cv2.CV_64F)[:, 0], atol=1e-15)


def test_blur_equals_megvii_zero_padded_cv2_blur():
    maps = torch.rand(2, 3, 16, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 255
    expected = []
    for m in maps.reshape(-1, 16, 12).numpy():
        padded = np.zeros((36, 32))  # megvii: a 10-pixel zero border, cv2.GaussianBlur((5, 5), 0), crop
        padded[10:-10, 10:-10] = m
        expected.append(cv2.GaussianBlur(padded, (5, 5), 0)[10:-10, 10:-10])
    np.testing.assert_allclose(gaussian_blur(maps, 5).reshape(-1, 16, 12).numpy(), np.stack(expected), atol=1e-9)
    assert gaussian_blur(maps, 0) is maps


def test_argmax_takes_the_first_of_equal_maxima():
    maps = torch.zeros(1, 2, 4, 5)
    maps[0, 0, 2, 3] = 7
    maps[0, 1, 1, 4] = maps[0, 1, 3, 0] = 5
    xy, values = heatmap_argmax(maps)
    assert xy.tolist() == [[[3.0, 2.0], [4.0, 1.0]]] and values.tolist() == [[7.0, 5.0]]


# (true peak) -> decoded peak, worked out by hand from the distances of the neighbouring pixels to the peak.
SECOND_MAX_TABLE = [
    ((10.3, 20.0), (10.25, 20.0)),  # max (10, 20); nearest other pixel (11, 20) at 0.7
    ((10.6, 20.0), (10.75, 20.0)),  # max (11, 20); second (10, 20) at 0.6
    ((10.2, 20.4), (10.0, 20.25)),  # max (10, 20); (10, 21): 0.04 + 0.36 < (11, 20): 0.64 + 0.16
    ((10.45, 20.35), (10.25, 20.0)),  # max (10, 20); (11, 20): 0.425 < (10, 21): 0.625
    ((10.8, 20.9), (10.75, 21.0)),  # max (11, 21); (10, 21): 0.65 < (11, 20): 0.85
    ((10.0, 20.0), (10.0, 19.75)),  # four equal neighbours: the first in raster order, (10, 19)
]
GRADIENT_TABLE = [
    ((10.3, 20.0), (10.25, 20.0)),  # x: h(11) > h(9); y: h(21) == h(19) -> sign 0
    ((10.8, 20.9), (10.75, 20.75)),  # max (11, 21); x: h(10) > h(12); y: h(20) > h(22)
    ((10.2, 20.4), (10.25, 20.25)),
]


@pytest.mark.parametrize("peak,expected", SECOND_MAX_TABLE)
def test_quarter_offset_toward_the_second_maximum(peak, expected):
    xy, _ = decode_heatmaps(gaussian([[peak]]), blur_kernel=0, quarter=True)
    assert xy[0, 0].tolist() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("peak,expected", GRADIENT_TABLE)
def test_quarter_offset_by_gradient_sign(peak, expected):
    xy, _ = decode_heatmaps(gaussian([[peak]]), blur_kernel=0, quarter=True, offset_mode="gradient")
    assert xy[0, 0].tolist() == pytest.approx(expected, abs=1e-12)


def test_subpixel_error_table():
    """Error (heatmap pixels) over a 10 x 10 grid of sub-pixel peak positions, blur 5 on."""
    frac = torch.arange(10, dtype=torch.float64) / 10
    peaks = torch.tensor([[20 + a, 30 + b] for a in frac for b in frac], dtype=torch.float64)
    maps = gaussian(peaks[None])
    table = {}
    for label, kwargs in {"argmax": dict(quarter=False), "second_max": dict(quarter=True),
                          "gradient": dict(quarter=True, offset_mode="gradient")}.items():
        xy, _ = decode_heatmaps(maps, 5, **kwargs)
        err = (xy[0] - peaks).norm(dim=-1)
        table[label] = (err.mean().item(), err.max().item())
        log.info("%-10s mean %.4f max %.4f heatmap px", label, *table[label])
    assert table["argmax"][1] <= 0.5 * 2**0.5 + 1e-9  # rounding error is at most half a pixel per axis
    assert table["argmax"][0] == pytest.approx(0.3853, abs=1e-3)  # 10x10 grid mean of |d| for rounding
    assert table["second_max"][0] < table["argmax"][0] and table["second_max"][1] < 0.6
    assert table["gradient"][0] < table["second_max"][0] and table["gradient"][1] <= 0.25 * 2**0.5 * 1.0001


def test_scores_read_the_unblurred_map_at_the_rounded_peak():
    maps = torch.zeros(1, 1, 8, 6)
    maps[0, 0, 5, 3] = 204.0
    maps[0, 0, 5, 4] = 100.0
    xy, scores = decode_heatmaps(maps, blur_kernel=5, quarter=True)
    assert xy[0, 0].tolist() == [3.25, 5.0]  # quarter toward (4, 5)
    assert scores[0, 0].item() == pytest.approx(204 / 255 + 0.5)
    assert sample_scores(maps, torch.tensor([[[3.6, 5.4]]]))[0, 0].item() == pytest.approx(100 / 255 + 0.5)


def test_stride_mapping():
    xy = torch.tensor([[[0.0, 0.0], [47.0, 63.0], [10.25, 20.75]]])
    assert heatmap_to_input(xy, (192, 256), (48, 64)).tolist() == [[[2, 2], [190, 254], [43, 85]]]
    assert heatmap_to_input(xy[:, :1], (288, 384), (72, 96)).tolist() == [[[2, 2]]]


def test_flip_back_mirrors_and_swaps_left_right():
    maps = torch.zeros(1, 17, 8, 6)
    maps[0, 1, 2, 1] = 9  # left_eye at x = 1 in the mirrored crop
    back = flip_back(maps, COCO17.flip_permutation())
    assert back[0, 2, 2, 4] == 9 and back.sum() == 9  # right_eye at x = 6 - 1 - 1
    torch.testing.assert_close(flip_back(back, COCO17.flip_permutation()), maps)


def test_flip_test_symmetry():
    """A network that is exactly mirror-equivariant: averaging with the flipped pass changes nothing, and a
    mirrored map decodes to the mirrored position (x -> W - 1 - x; x_in -> input_w - x_in)."""
    peaks = torch.tensor([[[10.3, 20.6]] * 17], dtype=torch.float64)
    maps = gaussian(peaks)
    perm = COCO17.flip_permutation()
    mirrored_output = maps.flip(-1)[:, perm]  # what the network sees on the mirrored crop
    averaged = (maps + flip_back(mirrored_output, perm)) / 2
    torch.testing.assert_close(averaged, maps, rtol=0, atol=0)
    xy, _ = decode_heatmaps(maps, 5, quarter=False)
    xy_m, _ = decode_heatmaps(maps.flip(-1), 5, quarter=False)
    assert torch.equal(xy_m[..., 0], 47 - xy[..., 0]) and torch.equal(xy_m[..., 1], xy[..., 1])
    x_in = heatmap_to_input(xy, (192, 256), (48, 64))[..., 0]
    x_in_m = heatmap_to_input(xy_m, (192, 256), (48, 64))[..., 0]
    torch.testing.assert_close(x_in_m, 192 - x_in)


def _round_trip(points: np.ndarray, boxes: np.ndarray, quarter: bool, cell_centres: bool) -> np.ndarray:
    """Frame points -> crop -> a Gaussian at the matching heatmap position -> decode -> inverse warp."""
    centers, sizes = box_to_center_size(boxes, 0.75, 1.25)
    warps = crop_warps(centers, sizes, (192, 256))
    crop_xy = transform_points(points, warps)
    hm_xy = (crop_xy - 2.0) / 4.0  # inverse of x_in = 4 x + 2
    if cell_centres:
        hm_xy = np.round(hm_xy)
        points = transform_points(hm_xy * 4.0 + 2.0, invert_warps(warps))
    keypoints = decode_to_frame(gaussian(hm_xy), torch.from_numpy(invert_warps(warps)), (192, 256),
                                blur_kernel=5, quarter=quarter)
    return np.linalg.norm(keypoints[..., :2].numpy() - points, axis=-1), sizes[:, 1] / 256


def test_crop_decode_inverse_warp_round_trip():
    rng = np.random.default_rng(0)
    boxes = np.array([[100, 50, 180, 250], [400, 300, 430, 360], [0, 0, 640, 480]], np.float64)
    points = boxes[:, None, :2] + rng.uniform(0.1, 0.9, (3, 17, 2)) * (boxes[:, None, 2:] - boxes[:, None, :2])
    exact, _ = _round_trip(points, boxes, quarter=False, cell_centres=True)
    assert exact.max() < 1e-6  # peaks on heatmap pixels come back exactly
    err, frame_px_per_crop_px = _round_trip(points, boxes, quarter=True, cell_centres=False)
    bound = 0.56 * 4 * frame_px_per_crop_px[:, None]  # worst decoding error (heatmap px) x stride x crop scale
    assert (err <= bound).all()
    assert err[1].max() < 1.0  # a small (30 x 60 px) person: within 1 frame pixel
    log.info("round-trip error (frame px): mean %.3f max %.3f", err.mean(), err.max())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_dtypes_and_device_follow_the_input(dtype):
    device = torch.device("cpu")
    maps = gaussian([[[10.3, 20.6], [30.0, 40.2]]], dtype=torch.float32).to(device=device, dtype=dtype)
    inverse = torch.tensor([[[2.0, 0.0, 5.0], [0.0, 2.0, 7.0]]], dtype=torch.float64, device=device)
    out = decode_to_frame(maps, inverse, (192, 256))
    assert out.device == device and out.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    reference = decode_to_frame(maps.double(), inverse, (192, 256))
    torch.testing.assert_close(out.double(), reference, rtol=0, atol=0.02)  # half-precision scores differ a little


def test_apply_affine_matches_numpy():
    pts = np.random.default_rng(1).uniform(0, 100, (2, 5, 2))
    warps = np.array([[[1.5, 0.2, 3.0], [-0.1, 0.9, 4.0]], [[0.5, 0.0, -2.0], [0.0, 0.5, 1.0]]])
    np.testing.assert_allclose(apply_affine(torch.from_numpy(pts), torch.from_numpy(warps)).numpy(),
                               transform_points(pts, warps), atol=1e-12)


def test_quarter_offset_rejects_unknown_modes():
    with pytest.raises(ValueError, match="offset mode"):
        quarter_offset(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 2), mode="centroid")
