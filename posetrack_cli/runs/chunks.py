"""Long videos in chunks: split at keyframes, track each chunk on its own, re-join the ids across the borders.

- ``keyframes`` lists the keyframe positions from the container's packets (``ffmpeg -c copy -f framecrc``: no
  decoding, milliseconds for a long video); OpenCV seeks exactly to a keyframe (``CAP_PROP_POS_FRAMES``, checked
  frame by frame against sequential decoding on H.264 and MS-MPEG4 files).
- ``plan_chunks`` cuts at the first keyframe at least ``chunk_frames`` after the previous cut. Chunk ``i`` owns the
  frames ``[start, stop)`` and tracks ``overlap`` frames more (``[stop, stop + overlap)``, the head of chunk
  ``i + 1``), so that both chunks see the same people in the same frames.
- ``join_chunks`` matches the tracks of consecutive chunks in those overlap frames (mean box IoU, Hungarian) and
  writes one JSON Lines stream with global ids; the final ``tracks.json`` is written from it by the native writer,
  so pruning and the other formats are those of a whole-video run.

Each chunk gathers its tracks' colour histograms for the refinement pass (``AppearanceBank``) over the frames it owns
and leaves their sums in its stream's end line; the join adds them up under the global ids: the histograms of a
whole-video run.

Differences with a whole-video run (why chunking is off by default): each chunk starts a fresh tracker, so a person
hidden across a border for longer than the overlap gets a new id, and ``--smooth`` restarts at each border.
"""

from __future__ import annotations

import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from posetrack_cli.export import native
from posetrack_cli.geometry import iou_matrix
from posetrack_cli.io import ffmpeg
from posetrack_cli.io.sources import probe, truncation_note
from posetrack_cli.pipeline import Profile, Stages, VideoResult, result_config, track_video, write_outputs
from posetrack_cli.records import VideoInfo
from posetrack_cli.track.assignment import hungarian
from posetrack_cli.track.refine.appearance import AppearanceBank

log = logging.getLogger(__name__)

MIN_JOIN_IOU = 0.5  # mean box IoU over the overlap frames for two chunk tracks to be one person; raising it
# gives more new ids at chunk borders. Both chunks run the same detector on the same frames, so one person's boxes
# agree almost exactly (IoU ~1) and different people's rarely reach 0.5 over several frames.


@dataclass(frozen=True)
class Chunk:
    index: int  # 0-based position in the video's chunk list
    count: int  # chunks of the video
    start: int  # first frame owned by this chunk (a keyframe)
    stop: int  # one past the last owned frame (the next chunk's start, or the end of the video)
    end: int  # one past the last frame tracked: stop + overlap, within the video

    def stream_path(self, out_json: Path) -> Path:
        """Where the chunk's JSON Lines go: a hidden temporary beside the output (removed as a leftover of a
        killed run by ``batch._remove_leftovers``, deleted after the join)."""
        return out_json.with_name(f".{out_json.name}.chunk{self.index:03d}.tmp")


def keyframes(path: str | Path) -> tuple[list[int], int] | None:
    """(display indices of the keyframes, number of frames) from the packets of the first video stream, without
    decoding; None when there is no ffmpeg binary or it cannot read the file."""
    exe = ffmpeg.ffmpeg_exe()
    if exe is None:
        return None
    cmd = [exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(path), "-map", "0:v:0", "-c", "copy",
           "-f", "framecrc", "-"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return parse_framecrc(done.stdout)


def parse_framecrc(text: str) -> tuple[list[int], int]:
    """framecrc lines are ``stream, dts, pts, duration, size, crc[, F=flags]`` in decode order; a packet without
    ``F=`` has exactly the key flag (AV_PKT_FLAG_KEY = 1). Display index = rank of the pts."""
    packets = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        cols = [c.strip() for c in line.split(",")]
        flags = int(cols[6][2:], 16) if len(cols) > 6 and cols[6].startswith("F=") else 1
        packets.append((int(cols[2]), bool(flags & 1)))
    order = sorted(range(len(packets)), key=lambda i: packets[i][0])
    rank = {i: r for r, i in enumerate(order)}
    return sorted(rank[i] for i, (_, key) in enumerate(packets) if key), len(packets)


def plan_chunks(keys: list[int], frames: int, chunk_frames: int, overlap: int) -> list[Chunk]:
    """Cut at the first keyframe >= previous cut + ``chunk_frames``; one chunk when the video is not longer than
    ``chunk_frames`` or has no later keyframe."""
    cuts = [0]
    for k in keys:
        if k >= cuts[-1] + chunk_frames and k < frames:
            cuts.append(k)
    bounds = list(zip(cuts, cuts[1:] + [frames]))
    return [Chunk(i, len(bounds), a, b, min(frames, b + overlap) if i + 1 < len(bounds) else b)
            for i, (a, b) in enumerate(bounds)]


def chunks_for(path: str | Path, chunk_frames: int, overlap: int, max_frames: int | None) -> list[Chunk] | None:
    """The chunks of one video file; None when chunking is off, impossible (no ffmpeg, an image sequence) or not
    worth it (the video is not longer than ``chunk_frames`` or has no keyframe to cut at)."""
    listing = keyframes(path) if chunk_frames > 0 and Path(path).is_file() else None
    if listing is None:
        return None
    keys, frames = listing
    frames = min(frames, max_frames or frames)
    chunks = plan_chunks(keys, frames, chunk_frames, overlap)
    return chunks if len(chunks) > 1 else None


def track_range(info: VideoInfo, stages: Stages, stream: native.JsonlStream, chunk: Chunk, profile: Profile,
                on_frames: Callable[[int], None] | None = None,
                appearance: AppearanceBank | None = None) -> tuple[int, float]:
    """``pipeline.track_video`` over the chunk's frames ``[start, end)``; progress counts the overlap frames once,
    in the chunk that owns them."""
    owned, reported = chunk.stop - chunk.start, 0

    def report(n: int) -> None:
        nonlocal reported
        step = min(n, owned - reported)
        reported += step
        if on_frames and step:
            on_frames(step)

    return track_video(info, stages, stream, profile, report, chunk.start, chunk.end, appearance)


def run_chunk(video: str, out_json: Path, stages: Stages, chunk: Chunk,
              on_frames: Callable[[int], None] | None = None) -> VideoResult:
    """Track one chunk into its temporary stream (with refinement on, its tracks' histogram sums in the end line);
    the row's ``output`` is that stream."""
    start = time.perf_counter()
    info = probe(video)
    path = chunk.stream_path(out_json)
    header = {"video": info.to_dict(), "models": stages.models(), "config": result_config(stages.config)}
    profile = Profile()
    bank = AppearanceBank(stop=chunk.stop) if stages.config.refine.enabled else None
    with native.JsonlStream(path, header) as stream:
        frames, last_time = track_range(info, stages, stream, chunk, profile, on_frames, bank)
        stream.finish(last_time_s=last_time, **({"appearance": bank.totals()} if bank is not None else {}))
    return VideoResult(video, str(path), "done", frames, seconds=time.perf_counter() - start,
                       profile=dict(profile.seconds))


def match_ids(prev: dict[int, dict[int, list]], head: dict[int, dict[int, list]]) -> dict[int, int]:
    """{id in ``head``: id in ``prev``} for the tracks whose boxes agree over the overlap frames ({frame index: {id:
    box_xyxy}}): mean IoU over the frames where either is present >= ``MIN_JOIN_IOU``, one-to-one (Hungarian)."""
    a_ids = sorted({i for f in prev.values() for i in f})
    b_ids = sorted({i for f in head.values() for i in f})
    if not a_ids or not b_ids:
        return {}
    total = np.zeros((len(a_ids), len(b_ids)))
    either = np.zeros_like(total)
    for index in set(prev) | set(head):
        pa, pb = prev.get(index, {}), head.get(index, {})
        either += np.array([i in pa for i in a_ids])[:, None] | np.array([i in pb for i in b_ids])[None, :]
        if pa and pb:
            iou = iou_matrix(np.array(list(pa.values()), np.float32).reshape(-1, 4),
                             np.array(list(pb.values()), np.float32).reshape(-1, 4))
            total[np.ix_([a_ids.index(i) for i in pa], [b_ids.index(i) for i in pb])] += iou
    mean = np.divide(total, either, out=np.zeros_like(total), where=either > 0)
    return {b_ids[c]: a_ids[r] for r, c in hungarian(mean, MIN_JOIN_IOU)}


def _boxes(rows: list[dict]) -> dict[int, dict[int, list]]:
    return {r["frame_index"]: {p["track_id"]: p["box_xyxy"] for p in r["people"]} for r in rows}


class _GlobalIds:
    """Chunk-local track ids -> video-wide ids: matched tracks keep the previous chunk's id, the others take the
    next free one (ids start at 1, as ``PoseTracker``'s do)."""

    def __init__(self) -> None:
        self.next_id = 1

    def relabel(self, rows: list[dict], matched: dict[int, int]) -> dict[int, int]:
        """Rename the ids of ``rows`` in place; returns the renaming (chunk-local id -> video-wide id)."""
        mapping = {}
        for lid in sorted({p["track_id"] for r in rows for p in r["people"]}):
            if lid in matched:
                mapping[lid] = matched[lid]
            else:
                mapping[lid], self.next_id = self.next_id, self.next_id + 1
        for r in rows:
            r["people"] = [{**p, "track_id": mapping[p["track_id"]]} for p in r["people"]]
        return mapping


def join_chunks(info: VideoInfo, chunks: list[Chunk], out_json: Path,
                max_frames: int | None) -> tuple[int, str, dict | None]:
    """Write ``out_json``'s JSON Lines stream from the chunk streams, with video-wide ids (the frames of each
    chunk's own range, matched to the previous chunk over the overlap). Returns (frames, truncation warning, the
    tracks' colour histograms under the video-wide ids, None when the chunks gathered none)."""
    streams = [native.read_stream(c.stream_path(out_json)) for c in chunks]
    if unfinished := [c.index for c, s in zip(chunks, streams) if s.end is None]:
        raise RuntimeError(f"{out_json.name}: chunk(s) {unfinished} did not finish")
    header = {k: v for k, v in streams[0].header.items() if k not in ("type", "schema")}
    skeleton = header["models"]["skeleton"]
    ids, tail, last_time = _GlobalIds(), {}, -1.0
    bank = AppearanceBank() if all("appearance" in s.end for s in streams) else None
    with native.JsonlStream(out_json.with_suffix(".jsonl"), header) as out:
        for chunk, stream in zip(chunks, streams):
            rows = list(stream.frames())  # one chunk in memory at a time
            mapping = ids.relabel(rows, match_ids(tail, _boxes([r for r in rows if r["frame_index"] in tail])))
            if bank is not None:
                bank.add_totals(stream.end["appearance"], mapping)
            for r in rows:
                if r["frame_index"] < chunk.stop:
                    out.write(native.frame_from_dict(r, skeleton))
                    last_time = r["time_s"]
            tail = _boxes([r for r in rows if r["frame_index"] >= chunk.stop])
        warning = truncation_note(info, out.frames, last_time, max_frames)
        out.finish(truncated=bool(warning))
    return out.frames, warning, bank.histograms() if bank is not None else None


def finish_chunked(video: str, out_json: Path, chunks: list[Chunk], rows: list[VideoResult], config,
                   render: Path | None) -> VideoResult:
    """Join the finished chunks of one video and write its outputs as ``run_video`` does (tracks.json, the other
    formats, the overlay); the chunk streams are deleted. ``rows`` are the chunks' results."""
    start = time.perf_counter()
    info = probe(video)
    frames, warning, appearance = join_chunks(info, chunks, out_json, config.max_frames)
    stats = write_outputs(info, out_json, config, render, appearance)
    for chunk in chunks:
        chunk.stream_path(out_json).unlink(missing_ok=True)
    profile: dict[str, float] = {}
    for row in rows:
        for stage, sec in row.profile.items():
            profile[stage] = profile.get(stage, 0.0) + sec
    profile["write"] = profile.get("write", 0.0) + time.perf_counter() - start
    return VideoResult(video, str(out_json), "done", frames, stats["people"], stats["tracks"],
                       sum(r.seconds for r in rows) + time.perf_counter() - start, warning, profile=profile)
