"""Box propagation (Xiao et al.): joint box enlarged 15 %, on hand-made joints."""

from __future__ import annotations

import numpy as np
import pytest

from posetrack_cli.track.boxprop import propagated_boxes


def test_propagated_boxes_by_hand():
    kp = np.array([
        # joints span x 100..200, y 50..250 (the 0.1-score joint at 900 is ignored at threshold 0.3)
        [[100, 50, 0.9], [200, 250, 0.8], [150, 100, 0.5], [900, 900, 0.1]],
        # one valid joint only: no box (NaN row)
        [[10, 10, 0.9], [20, 20, 0.1], [30, 30, 0.1], [40, 40, 0.1]],
    ], np.float64)
    boxes = propagated_boxes(kp, 0.3)
    # box 100..200 x 50..250: w 100, h 200, centre (150, 150); +15 %: w 115, h 230 -> 92.5, 35, 207.5, 265.
    assert boxes[0].tolist() == pytest.approx([92.5, 35.0, 207.5, 265.0])
    assert np.isnan(boxes[1]).all()
    assert boxes.dtype == np.float32


def test_propagated_boxes_enlarge_zero_and_empty():
    kp = np.array([[[0, 0, 1.0], [10, 20, 1.0]]])
    assert propagated_boxes(kp, 0.5, enlarge=0.0)[0].tolist() == [0.0, 0.0, 10.0, 20.0]
    assert propagated_boxes(np.zeros((0, 17, 3)), 0.3).shape == (0, 4)
    with pytest.raises(ValueError):
        propagated_boxes(np.zeros((2, 17)), 0.3)
