"""Motion models that move remembered keypoints from the previous frame into the current one.

A propagator sees every frame once, in order (``advance``); after that, ``move`` maps points given in the previous
frame's pixels to the current frame's. The tracker applies it to every pose in its memory each frame, so poses of
up to L frames ago arrive in the current frame through the accumulated motion (MDPN section 2.3 / Xiao et al.).
"""

from __future__ import annotations

import functools
from typing import Callable, Protocol

import numpy as np

from posetrack_cli.track.flow import FLOW_METHODS, FlowPropagator


class Propagator(Protocol):
    trusted: bool  # whether the motion of the latest ``advance`` may move remembered poses

    def reset(self) -> None: ...

    def advance(self, frame_bgr: np.ndarray) -> None: ...

    def move(self, points_xy: np.ndarray) -> np.ndarray:
        """(N, 2) previous-frame pixels -> (N, 2) current-frame pixels."""
        ...


class StillPropagator:
    """No motion model: remembered poses stay where they were seen (``flow = "none"``)."""

    trusted = True

    def reset(self) -> None:
        pass

    def advance(self, frame_bgr: np.ndarray) -> None:
        pass

    def move(self, points_xy: np.ndarray) -> np.ndarray:
        return np.asarray(points_xy, np.float64)


# name -> factory(scale, check): the motion models ``TrackConfig.flow`` chooses from ("none" keeps poses where they
# were); ``check`` judges each frame pair's flow (``flow.flow_trusted``).
PROPAGATORS: dict[str, Callable[..., Propagator]] = {
    "none": lambda scale, check=False: StillPropagator(),
    **{method: functools.partial(FlowPropagator, method) for method in FLOW_METHODS},
}


def make_propagator(method: str, scale: float, check: bool = False) -> Propagator:
    """The ``PROPAGATORS`` entry ``method`` at frame ``scale``, judging its flow when ``check``."""
    if method not in PROPAGATORS:
        raise ValueError(f"unknown flow method {method!r}; choose one of {', '.join(PROPAGATORS)}")
    return PROPAGATORS[method](scale, check=check)
