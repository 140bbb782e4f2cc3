"""Box propagation (Xiao et al. 2018): the min/max box of a tracked person's joints moved into the current frame by
flow, enlarged by 15 %, is an extra candidate box for pose estimation. MDPN switches it off (its detector ensemble is
strong enough; POSETRACK_EVAL.md), so it is optional (``TrackConfig.box_propagation``)."""

from __future__ import annotations

import numpy as np

BOX_ENLARGE = 0.15  # Xiao et al.: the propagated box is extended by 15 %
PROPAGATED_BOXES = ("joints", "box")  # TrackConfig.propagated_box: the joints' extent (Xiao et al.), the pose's box


def propagated_boxes(moved_keypoints: np.ndarray, score_threshold: float, enlarge: float = BOX_ENLARGE
                     ) -> np.ndarray:
    """(N, K, 3) moved joints -> (N, 4) xyxy float32 boxes.

    Each box spans the joints whose score is >= ``score_threshold``, then grows by ``enlarge`` of its width and
    height (half on each side, centre kept). A pose with fewer than 2 such joints gets a NaN row: drop those with
    ``np.isfinite(boxes).all(1)``. Clip to the frame in the caller.
    """
    kp = np.asarray(moved_keypoints, np.float64)
    if kp.ndim != 3 or kp.shape[2] != 3:
        raise ValueError(f"propagated_boxes: expected (N, K, 3) keypoints, got {kp.shape}")
    valid = kp[:, :, 2] >= score_threshold
    x = np.where(valid, kp[:, :, 0], np.nan)
    y = np.where(valid, kp[:, :, 1], np.nan)
    boxes = np.full((len(kp), 4), np.nan)
    ok = valid.sum(1) >= 2
    if ok.any():
        lo = np.stack([np.nanmin(x[ok], 1), np.nanmin(y[ok], 1)], 1)
        hi = np.stack([np.nanmax(x[ok], 1), np.nanmax(y[ok], 1)], 1)
        half = (hi - lo) * (1.0 + enlarge) / 2.0
        centre = (hi + lo) / 2.0
        boxes[ok] = np.concatenate([centre - half, centre + half], 1)
    return boxes.astype(np.float32)
