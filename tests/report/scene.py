"""A hand-made run on the bundled clip (768x576, 10 fps): four tracks whose every property the report shows is
known without running the report's code.

- #1 frames 0-14, walking right 4 px a frame, pose score 0.9;
- #2 frames 17-29, beginning 0.3 s after #1 ended, 54 px from where #1 was last (a hand-over);
- #3 frames 5-11 and 16-29 (a gap), pose score 0.2 all along (a low-confidence stretch of 2.4 s);
- #4 frames 20-21 only (a very short track), far from everyone;
- frame 15: nobody.
Every keypoint scores 0.9 except the right wrist (0.1), which the page's default threshold (0.3) hides.
"""

from __future__ import annotations

import json

from conftest import EXAMPLE_CLIP

FPS, WIDTH, HEIGHT, FRAMES = 10.0, 768, 576, 30
LOW_KEYPOINT = 10  # right wrist
# A standing person, as fractions of the box (COCO order).
TEMPLATE = ((0.5, 0.08), (0.45, 0.06), (0.55, 0.06), (0.4, 0.08), (0.6, 0.08), (0.3, 0.22), (0.7, 0.22),
            (0.2, 0.38), (0.8, 0.38), (0.15, 0.52), (0.85, 0.52), (0.38, 0.55), (0.62, 0.55), (0.36, 0.75),
            (0.64, 0.75), (0.35, 0.95), (0.65, 0.95))


def box_of(track: int, frame: int) -> list[float]:
    if track == 1:
        return [100.0 + 4 * frame, 100.0, 180.0 + 4 * frame, 300.0]
    if track == 2:
        return [210.0 + 4 * (frame - 17), 100.0, 290.0 + 4 * (frame - 17), 300.0]
    if track == 3:
        return [500.0, 150.0, 580.0, 350.0]
    return [650.0, 380.0, 710.0, 540.0]


def keypoints_of(box: list[float]) -> list[list[float]]:
    x1, y1, x2, y2 = box
    return [[round(x1 + fx * (x2 - x1), 2), round(y1 + fy * (y2 - y1), 2), 0.1 if j == LOW_KEYPOINT else 0.9]
            for j, (fx, fy) in enumerate(TEMPLATE)]


SEEN = {1: range(15), 2: range(17, 30), 3: [*range(5, 12), *range(16, 30)], 4: range(20, 22)}
SCORE = {1: 0.9, 2: 0.8, 3: 0.2, 4: 0.5}


def person(track: int, frame: int) -> dict:
    box = box_of(track, frame)
    return {"track_id": track, "box_xyxy": box, "box_score": 0.95, "keypoints": keypoints_of(box),
            "score": SCORE[track]}


def tracks_doc(video: str = str(EXAMPLE_CLIP)) -> dict:
    frames = [{"frame_index": f, "time_s": round(f / FPS, 6),
               "people": [person(t, f) for t in sorted(SEEN) if f in SEEN[t]]} for f in range(FRAMES)]
    tracks = [{"track_id": t, "first_frame": min(SEEN[t]), "last_frame": max(SEEN[t]), "length": len(SEEN[t])}
              for t in sorted(SEEN)]
    return {"schema": "posetrack.tracks/1",
            "video": {"path": video, "fps": FPS, "width": WIDTH, "height": HEIGHT, "frame_count": 795,
                      "rotation": 0, "kind": "video"},
            "models": {"detectors": ["yolo"], "pose": "yolo-crop", "skeleton": "coco17"},
            "config": {"track": {"min_similarity": 0.3}}, "frames": frames, "tracks": tracks,
            "stats": {"frames": FRAMES, "people": sum(len(f["people"]) for f in frames), "tracks": len(SEEN),
                      "complete": True, "truncated": False}}


def folder_run(tmp_path):
    """A folder run's output written by hand: two finished videos (one in a sub-folder) and a failed one."""
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    for rel in ("a.json", "sub/b.json"):
        (out / rel).write_text(json.dumps(tracks_doc()))
    rows = [{"video": "in/a.avi", "output": str(out / "a.json"), "status": "done", "frames": 30, "people": 58,
             "tracks": 4, "seconds": 3.0, "warning": "", "error": "", "profile": {"detect": 2.0, "pose": 1.0}},
            {"video": "in/sub/b.avi", "output": str(out / "sub/b.json"), "status": "done", "frames": 30,
             "people": 58, "tracks": 4, "seconds": 6.0, "warning": "", "error": "", "profile": {}},
            {"video": "in/c.mp4", "output": str(out / "c.json"), "status": "failed", "frames": 0,
             "error": "in/c.mp4: empty file (0 bytes); it is not a video"}]
    (out / "summary.json").write_text(json.dumps({"videos": rows, "counts": {"done": 2, "failed": 1},
                                                  "totals": {"frames": 60, "people": 116, "seconds": 9.0}}))
    return out


def write_scene(path):
    path.write_text(json.dumps(tracks_doc()))
    return path
