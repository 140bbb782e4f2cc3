"""Target values against hand-computed numbers (OpenCV's Gaussian kernels, MSPN kernel schedule, MDPN sigma)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posetrack_cli.train.config import TargetConfig
from posetrack_cli.train.targets import (TargetBuilder, blurred_point_targets, gaussian_targets, heatmap_cells,
                                         kernel_table, mspn_kernels)

INPUT, HEATMAP = (192, 256), (48, 64)


def test_kernel_schedule_per_stage():
    cfg = TargetConfig()
    assert mspn_kernels(2, cfg) == [(15, 11, 9, 7), (11, 9, 7, 5)]
    assert mspn_kernels(1, cfg) == [(11, 9, 7, 5)]  # a 1-stage model is its own final stage
    distinct, table = kernel_table(mspn_kernels(3, cfg))
    assert distinct == (15, 11, 9, 7, 5)
    assert table == [[0, 1, 2, 3], [0, 1, 2, 3], [1, 2, 3, 4]]


def test_cells_and_weights_from_visibility_and_bounds():
    kps = np.array([[10.0, 21.9, 2], [191.9, 255.9, 1], [-0.5, 10, 2], [192.0, 10, 2], [50, 50, 0]], np.float32)
    cells, weights = heatmap_cells(kps, INPUT, HEATMAP)
    assert cells[0].tolist() == [2, 5] and cells[1].tolist() == [47, 63]
    # occluded-but-annotated (v = 1) joints are trained; outside the map or unannotated are not
    assert weights.tolist() == [1, 1, 0, 0, 0]


def test_kernel_5_values_are_opencvs_binomial_scaled_to_255():
    cells = np.array([[10, 20]])
    maps = blurred_point_targets(cells, np.ones(1, np.float32), HEATMAP, (5,))[0, 0]
    # OpenCV's fixed 5-tap kernel [1, 4, 6, 4, 1] / 16, peak scaled to 255
    assert maps[20, 10] == pytest.approx(255.0)
    assert maps[20, 11] == pytest.approx(255 * 4 / 6)  # 170
    assert maps[20, 12] == pytest.approx(255 * 1 / 6)  # 42.5
    assert maps[21, 11] == pytest.approx(255 * (4 / 6) ** 2)  # 113.33
    assert maps[20, 13] == 0 and maps.sum() == pytest.approx(255 * (16 / 6) ** 2)


def test_kernel_11_uses_opencv_sigma_rule():
    # sigma = 0.3 ((11 - 1) / 2 - 1) + 0.8 = 2.0
    maps = blurred_point_targets(np.array([[20, 30]]), np.ones(1, np.float32), HEATMAP, (11, 15))
    assert maps[0, 0, 30, 21] == pytest.approx(255 * math.exp(-1 / 8), rel=1e-5)
    assert maps[0, 0, 32, 20] == pytest.approx(255 * math.exp(-4 / 8), rel=1e-5)
    # kernel 15: sigma = 0.3 (7 - 1) + 0.8 = 2.6
    assert maps[1, 0, 30, 23] == pytest.approx(255 * math.exp(-9 / (2 * 2.6**2)), rel=1e-5)


def test_masked_joints_have_empty_maps():
    maps = blurred_point_targets(np.array([[5, 5], [9, 9]]), np.array([1, 0], np.float32), HEATMAP, (7,))
    assert maps[0, 0].max() == pytest.approx(255) and maps[0, 1].max() == 0


def test_mdpn_gaussian_values():
    maps = gaussian_targets(np.array([[10, 12], [0, 0]]), np.array([1, 0], np.float32), HEATMAP, sigma=2.25)
    assert maps.shape == (1, 2, 64, 48)
    assert maps[0, 0, 12, 10] == pytest.approx(255)
    assert maps[0, 0, 12, 11] == pytest.approx(255 * math.exp(-1 / (2 * 2.25**2)), rel=1e-6)  # 231.02
    assert maps[0, 0, 14, 12] == pytest.approx(255 * math.exp(-8 / (2 * 2.25**2)), rel=1e-6)
    assert maps[0, 1].max() == 0


def test_builder_shapes_for_two_stage_mspn_and_mdpn():
    kps = np.array([[100.0, 120.0, 2]] * 17, np.float32)
    maps, weights = TargetBuilder(TargetConfig(), INPUT, HEATMAP, num_stages=2)(kps)
    assert maps.shape == (5, 17, 64, 48) and weights.shape == (17,)
    assert (maps.reshape(5, 17, -1).argmax(-1) == 30 * 48 + 25).all()  # cell (25, 30) in every map
    builder = TargetBuilder(TargetConfig(kind="gaussian"), INPUT, HEATMAP)
    assert builder(kps)[0].shape == (1, 17, 64, 48) and builder.table == [[0]]
