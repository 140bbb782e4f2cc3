"""Hand-built PoseTrack sequences shared by the evaluator tests (PT17 dicts; ``write_case`` puts them in folders).

Geometry: every GT person has the head box (0, 0)-(30, 40): diagonal 50, head size 0.6 x 50 = 30 px, so a joint
matches within 0.5 x 30 = 15 px (POSETRACK_EVAL.md, mAP steps 1-2). People stand 1000 px apart, joints 20 px apart,
so no joint can match another person's.
"""

from __future__ import annotations

import json
from pathlib import Path

HEAD = {"x1": [0.0], "y1": [0.0], "x2": [30.0], "y2": [40.0]}


def joint_xy(person: int, joint: int) -> tuple[float, float]:
    return 100.0 + 1000.0 * person + 20.0 * joint, 300.0 + 20.0 * joint


def gt_rect(person: int, track_id: int, joints=range(15)) -> dict:
    points = [{"id": [j], "x": [joint_xy(person, j)[0]], "y": [joint_xy(person, j)[1]]} for j in joints]
    return {"track_id": [track_id], **HEAD, "annopoints": [{"point": points}]}


def pred_rect(person: int, track_id: int, score: float = 0.9, joints=range(15), moved: dict | None = None) -> dict:
    """A predicted person on top of GT ``person``; ``moved`` = {joint: (dx, dy)} shifts joints (and {joint: s}
    scores via the third value when given)."""
    points = []
    for j in joints:
        x, y = joint_xy(person, j)
        dx, dy, s = (moved or {}).get(j, (0.0, 0.0, score))
        points.append({"id": [j], "x": [x + dx], "y": [y + dy], "score": [s]})
    return {"track_id": [track_id], "score": [score], "annopoints": [{"point": points}]}


def frames(rects_per_frame: list[list[dict]]) -> dict:
    return {"annolist": [{"image": [{"name": f"seq/{k:06d}.jpg"}], "annorect": rects}
                         for k, rects in enumerate(rects_per_frame)]}


def write_case(root: Path, gt: dict | list, pred: dict | list, name: str = "seq") -> tuple[Path, Path]:
    """Write one sequence (or several, given lists) as ``root/gt/<name><i>.json`` and ``root/pred/...``."""
    gt_dir, pred_dir = root / "gt", root / "pred"
    gt_dir.mkdir(parents=True, exist_ok=True)
    pred_dir.mkdir(parents=True, exist_ok=True)
    gts, preds = (gt, pred) if isinstance(gt, list) else ([gt], [pred])
    for i, (g, p) in enumerate(zip(gts, preds)):
        (gt_dir / f"{name}{i}.json").write_text(json.dumps(g))
        (pred_dir / f"{name}{i}.json").write_text(json.dumps(p))
    return gt_dir, pred_dir


def two_people_gt(n_frames: int) -> dict:
    return frames([[gt_rect(0, 0), gt_rect(1, 1)] for _ in range(n_frames)])
