"""posetrack's own outputs: a JSON Lines stream written while running and the final ``tracks.json``.

Schema ``posetrack.tracks/1`` (documented in docs/SCHEMA.md):
- JSON Lines (``tracks.jsonl``): one ``header`` line (video, models, config), one ``frame`` line per decoded frame,
  flushed as it is written, and an ``end`` line when the video finished. A crash loses nothing already written.
- ``tracks.json``: ``{"schema", "video", "models", "config", "frames": [...], "tracks": [...], "stats"}`` written
  from the stream after the video, with tracklets shorter than ``min_track_length`` pruned, atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

import numpy as np

from posetrack_cli.errors import InputError, OutputError
from posetrack_cli.export.prune import count_track_lengths, short_tracks
from posetrack_cli.io.files import atomic_write
from posetrack_cli.records import SKELETONS, FrameResult, Poses, Tracks

SCHEMA = "posetrack.tracks/1"


def person_dicts(result: FrameResult, interpolated=None) -> list[dict]:
    """``interpolated`` (N,) bool: entries made by gap filling get ``"interpolated": true`` (others no key)."""
    p = result.tracks.poses
    return [{
        "track_id": int(tid),
        "box_xyxy": [round(float(v), 2) for v in p.boxes_xyxy[i]],
        "box_score": round(float(p.box_scores[i]), 4),
        "keypoints": [[round(float(x), 2), round(float(y), 2), round(float(s), 4)] for x, y, s in p.keypoints[i]],
        "score": round(float(p.scores[i]), 4),
        **({"interpolated": True} if interpolated is not None and interpolated[i] else {}),
    } for i, tid in enumerate(result.tracks.track_ids)]


def frame_dict(result: FrameResult, name: str = "", interpolated=None) -> dict:
    """A frame line; ``name`` (an image sequence's file name for the frame) is written when there is one."""
    named = {"name": name} if name else {}
    return {"frame_index": result.frame_index, "time_s": round(result.time_s, 6), **named,
            "people": person_dicts(result, interpolated)}


def frame_from_dict(d: dict, skeleton_name: str = "coco17") -> FrameResult:
    skeleton = SKELETONS[skeleton_name]
    people = d["people"]
    k = skeleton.num_keypoints
    poses = Poses(
        np.array([p["box_xyxy"] for p in people], np.float32).reshape(-1, 4),
        np.array([p["box_score"] for p in people], np.float32),
        np.array([p["keypoints"] for p in people], np.float32).reshape(-1, k, 3),
        np.array([p["score"] for p in people], np.float32),
        skeleton,
    )
    ids = np.array([p["track_id"] for p in people], np.int64)
    return FrameResult(int(d["frame_index"]), float(d["time_s"]), Tracks(poses, ids, np.arange(len(ids))))


def _dump(obj) -> str:
    return json.dumps(obj, separators=(",", ":"), sort_keys=False)


class JsonlStream:
    """Append-only JSON Lines writer: each line is flushed so an interrupted run keeps every finished frame.
    ``frame_names``: the file name of each frame index (image sequences), written into its frame line."""

    def __init__(self, path: str | os.PathLike, header: dict, frame_names: tuple[str, ...] = ()) -> None:
        self.path = Path(path)
        self.header = header
        self.frame_names = frame_names
        self._fh: IO | None = None
        self.frames = 0

    def __enter__(self) -> JsonlStream:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "w", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror}; choose a writable output path") from None
        try:
            self._line({"type": "header", "schema": SCHEMA, **self.header})
        except OutputError:
            self._close(failing=True)  # __exit__ is not called when __enter__ raises
            raise
        return self

    def _line(self, obj: dict) -> None:
        try:
            self._fh.write(_dump(obj) + "\n")
            self._fh.flush()
        except OSError as exc:
            raise OutputError(f"cannot write {self.path}: {exc.strerror} (frames so far are kept)") from None

    def write(self, result: FrameResult, interpolated=None, **extra) -> None:
        """One frame line; ``extra`` fields follow the frame's own (a live run's capture time and latency)."""
        k = result.frame_index
        name = self.frame_names[k] if k < len(self.frame_names) else ""
        self._line({"type": "frame", **frame_dict(result, name, interpolated), **extra})
        self.frames += 1

    def finish(self, **stats) -> None:
        self._line({"type": "end", "frames": self.frames, **stats})

    def _close(self, failing: bool) -> None:
        """Close the file. After a failed write its buffer still holds the line that did not fit, and closing tries
        it once more; the file is closed either way. That second error is dropped while the first is on its way
        (``failing``), and reported otherwise."""
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            fh.close()
        except OSError as exc:
            if not failing:
                raise OutputError(f"cannot write {self.path}: {exc.strerror} (frames so far are kept)") from None

    def __exit__(self, exc_type, exc, tb) -> None:
        self._close(failing=exc_type is not None)


@dataclass
class Stream:
    """A JSON Lines file read back: its header, its end line (None when the run did not finish) and frame count."""

    header: dict
    end: dict | None
    path: Path

    def frames(self) -> Iterator[dict]:
        for obj in _read_lines(self.path):
            if obj.get("type") == "frame":
                yield obj


def _read_lines(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                return  # a line cut by a crash: everything before it is intact
            yield json.loads(line)


def read_stream(path: str | os.PathLike) -> Stream:
    p = Path(path)
    header, end = None, None
    try:
        for obj in _read_lines(p):
            if obj.get("type") == "header":
                header = obj
            elif obj.get("type") == "end":
                end = obj
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{p}: not a posetrack JSON Lines stream ({exc})") from None
    if header is None or header.get("schema") != SCHEMA:
        raise InputError(f"{p}: not a posetrack JSON Lines stream (no {SCHEMA} header)")
    return Stream(header, end, p)


def final_frames(stream: Stream, min_track_length: int) -> tuple[Iterator[dict], dict]:
    """The stream's frames with short tracklets pruned, and the per-track summary {id: (first, last, length)}."""
    lengths = count_track_lengths([p["track_id"] for p in f["people"]] for f in stream.frames())
    pruned = short_tracks(lengths, min_track_length)
    summary: dict[int, list[int]] = {}
    for f in stream.frames():
        for p in f["people"]:
            tid = p["track_id"]
            if tid not in pruned:
                s = summary.setdefault(tid, [f["frame_index"], f["frame_index"], 0])
                s[1], s[2] = f["frame_index"], s[2] + 1

    def frames() -> Iterator[dict]:
        for f in stream.frames():
            people = [p for p in f["people"] if p["track_id"] not in pruned]
            named = {"name": f["name"]} if "name" in f else {}
            yield {"frame_index": f["frame_index"], "time_s": f["time_s"], **named, "people": people}

    return frames(), {"tracks": summary, "pruned": len(pruned)}


def write_tracks_json(stream: Stream, path: str | os.PathLike, min_track_length: int) -> dict:
    """Write the final ``tracks.json`` from a stream, frame by frame (memory stays O(tracks)); returns stats."""
    frames, info = final_frames(stream, min_track_length)
    header = {k: v for k, v in stream.header.items() if k != "type"}
    n_frames = n_people = 0
    with atomic_write(path) as fh:
        fh.write("{" + ",".join(f"{_dump(k)}:{_dump(v)}" for k, v in header.items()) + ',"frames":[')
        for i, f in enumerate(frames):
            fh.write(("," if i else "") + "\n" + _dump(f))
            n_frames += 1
            n_people += len(f["people"])
        tracks = [{"track_id": tid, "first_frame": a, "last_frame": b, "length": n}
                  for tid, (a, b, n) in sorted(info["tracks"].items())]
        stats = {"frames": n_frames, "people": n_people, "tracks": len(tracks),
                 "pruned_tracklets": info["pruned"], "complete": stream.end is not None}
        if stream.end is not None:
            stats.update({k: v for k, v in stream.end.items() if k not in ("type", "frames")})
        fh.write('\n],"tracks":' + _dump(tracks) + ',"stats":' + _dump(stats) + "}\n")
    return stats
