"""Training and validation samples: person sets -> normalised crops, targets and masks; a mixed, resumable sampler.

Every training item is addressed by a key ``(set, person, seed)``: the sampler decides the order and the seed of the
augmentation from (config seed, phase, epoch), so an epoch is the same after a resume, with any number of workers
or GPUs. People of different keypoint sets travel in one batch: targets and weights are padded to the largest set
(padding has weight 0) and ``domain`` says which head a sample trains.
"""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from posetrack_cli.errors import InputError
from posetrack_cli.train.augment import eval_crop, normalise, random_crop, warp_person
from posetrack_cli.train.config import AugmentConfig
from posetrack_cli.train.datasets import PersonSet
from posetrack_cli.train.targets import TargetBuilder


def worker_init(_worker_id: int) -> None:
    """DataLoader workers: OpenCV single-threaded (the workers are the parallelism; HRNet/MMPose do the same)."""
    cv2.setNumThreads(0)


def read_image(path: str) -> np.ndarray:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"{path}: image missing or unreadable; check the dataset's 'images' folder")
    return image


class TrainSamples(Dataset):
    """Augmented crops of several person sets. ``dataset[(set, person, seed)]`` -> dict of tensors:
    image (3, h, w), targets (M, K_max, h/4, w/4), weights (K_max,), domain () int64."""

    def __init__(self, sets: Sequence[PersonSet], domains: Sequence[int], targets: TargetBuilder,
                 augment: AugmentConfig, input_size: tuple[int, int], train: bool = True):
        if len(sets) != len(domains):
            raise ValueError("one domain index per person set")
        self.sets, self.domains = list(sets), list(domains)
        self.targets, self.augment, self.input_size, self.train = targets, augment, tuple(input_size), train
        self.max_keypoints = max(s.skeleton.num_keypoints for s in sets)

    def __len__(self) -> int:
        return sum(len(s) for s in self.sets)

    def __getitem__(self, key: tuple[int, int, int]) -> dict[str, torch.Tensor]:
        set_index, person, seed = key
        people = self.sets[set_index]
        image = read_image(people.image_path(person))
        box, kps = people.boxes_xyxy[person], people.keypoints[person]
        if self.train:
            params = random_crop(box, kps, people.skeleton, self.augment, self.input_size,
                                 np.random.default_rng(seed))
        else:
            params = eval_crop(box, self.input_size, self.augment.padding)
        crop, kps_crop, warp = warp_person(image, kps, params, people.skeleton, self.input_size)
        maps, weights = self.targets(kps_crop)
        k = len(weights)
        pad = self.max_keypoints - k
        if pad:
            maps = np.concatenate([maps, np.zeros((maps.shape[0], pad, *maps.shape[2:]), np.float32)], axis=1)
            weights = np.concatenate([weights, np.zeros(pad, np.float32)])
        return {
            "image": torch.from_numpy(normalise(crop)),
            "targets": torch.from_numpy(maps),
            "weights": torch.from_numpy(weights),
            "domain": torch.tensor(self.domains[set_index], dtype=torch.int64),
            "warp": torch.from_numpy(warp.astype(np.float64)),
            "index": torch.tensor([set_index, person], dtype=torch.int64),
        }


def epoch_seed(seed: int, phase: int, epoch: int) -> int:
    return int(np.random.SeedSequence([seed, phase, epoch]).generate_state(1)[0])


class MixedSampler(Sampler):
    """Keys for one epoch: ``round(weight x len)`` people of each set (all of them, in random order, for weight 1;
    drawn with repetition beyond that), shuffled together; rank r of w GPUs takes every w-th key (padded so that all
    ranks get the same count). ``set_epoch`` picks the epoch; the order depends only on (seed, phase, epoch)."""

    def __init__(self, sizes: Sequence[int], weights: Sequence[float], seed: int, phase: int = 0,
                 rank: int = 0, world_size: int = 1, shuffle: bool = True):
        self.sizes, self.weights = list(sizes), list(weights)
        self.seed, self.phase, self.rank, self.world_size, self.shuffle = seed, phase, rank, world_size, shuffle
        self.epoch = 0
        total = sum(int(round(w * n)) for w, n in zip(self.weights, self.sizes))
        if total == 0:
            raise InputError("the phase's datasets hold no annotated people")
        self.per_rank = math.ceil(total / world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def keys(self) -> list[tuple[int, int, int]]:
        rng = np.random.default_rng(epoch_seed(self.seed, self.phase, self.epoch))
        keys = []
        for s, (n, w) in enumerate(zip(self.sizes, self.weights)):
            count = int(round(w * n))
            if not self.shuffle:
                people = np.arange(count) % n
            else:
                people = np.concatenate([rng.permutation(n) for _ in range(math.ceil(count / n))])[:count]
            keys += [(s, int(p)) for p in people]
        order = rng.permutation(len(keys)) if self.shuffle else np.arange(len(keys))
        seeds = rng.integers(0, 2**31 - 1, size=len(keys))
        keys = [(*keys[i], int(seeds[j])) for j, i in enumerate(order)]
        deficit = self.per_rank * self.world_size - len(keys)
        keys += [keys[i % len(keys)] for i in range(deficit)]  # equal share per rank
        return keys[self.rank::self.world_size]

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        return iter(self.keys())

    def __len__(self) -> int:
        return self.per_rank
