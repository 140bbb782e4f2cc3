"""Validation metrics on perfect and on shifted predictions (ground-truth boxes)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_data_helpers import one_torch_thread, write_coco, write_mpii, write_posetrack18  # noqa: F401

from posetrack_cli.train.config import AugmentConfig, TargetConfig
from posetrack_cli.train.datasets import read_coco, read_mpii, read_posetrack18
from posetrack_cli.train.samples import TrainSamples
from posetrack_cli.train.targets import TargetBuilder
from posetrack_cli.train.validate import coco_ap, mpii_pckh, posetrack_map, predict_people


def perfect(people) -> np.ndarray:
    preds = people.keypoints.copy()
    preds[:, :, 2] = 0.9
    return preds


def test_coco_ap_is_one_for_the_ground_truth(tmp_path):
    ann, images = write_coco(tmp_path)
    people = read_coco(ann, images)
    assert coco_ap(people, perfect(people), str(ann))["AP"] == pytest.approx(1.0)
    off = perfect(people)
    off[:, :, :2] += 40.0  # far outside every OKS threshold
    assert coco_ap(people, off, str(ann))["AP"] == pytest.approx(0.0)


def test_pckh_counts_joints_within_half_a_head(tmp_path):
    ann, images = write_mpii(tmp_path)
    people = read_mpii(ann, images)
    assert mpii_pckh(people, perfect(people))["PCKh"] == pytest.approx(100.0)
    preds = perfect(people)
    # head box 12 x 12 -> head size 0.6 x 16.97 = 10.18 px, threshold 5.09 px: 4 px passes, 6 px does not
    preds[0, :, 0] += 4.0
    preds[1, :, 0] += 6.0
    assert mpii_pckh(people, preds)["PCKh"] == pytest.approx(50.0)


def test_posetrack_map_is_100_for_the_ground_truth(tmp_path):
    ann, root = write_posetrack18(tmp_path)
    people = read_posetrack18(ann, root)
    assert posetrack_map(people, perfect(people), str(ann))["mAP"] == pytest.approx(100.0)


def test_predict_people_maps_heatmap_peaks_back_to_the_frame(tmp_path):
    ann, images = write_coco(tmp_path)
    people = read_coco(ann, images)
    input_size = (48, 64)
    builder = TargetBuilder(TargetConfig(kind="gaussian", sigma=1.0), input_size, (12, 16))
    samples = TrainSamples([people], [0], builder, AugmentConfig(), input_size, train=False)

    class Oracle(torch.nn.Module):
        """Returns the ground-truth targets of each crop as its heatmaps."""

        def predict(self, images):
            rows = [samples[(0, i, 0)]["targets"][0] for i in range(len(images))]
            return torch.stack(rows)

    preds = predict_people(Oracle(), samples, "main", torch.device("cpu"), batch_size=4)
    ok = people.keypoints[:, :, 2] > 0
    err = np.linalg.norm(preds[:, :, :2] - people.keypoints[:, :, :2], axis=2)[ok]
    # crop scale 48 / (aspect-fitted box x 1.25) ~ 0.33 -> one 4-px heatmap cell is ~12 frame px
    assert err.max() < 8.0
