"""Identity across gaps on real footage: the bundled clip with stretches of black frames (a camera glitch) or with a
synthetic occluder wiping across the people, against the same frames untouched.

Ground truth: the ids of the online tracker on the untouched frames. Its detections are exactly those of the runs
with gaps, but its ids are a tracker's: where two people cross behind each other it can exchange them, and a
crossing then pairs two different people (``--losses`` lists the lost crossings, frames included, to look at).
Detection and pose estimation run once per frame of the untouched clip (cached with ``--cache``); a black frame has
no people, and under the occluder the people whose box centre it covers are removed (a detector would not see them;
partly covered people at its edges are kept as detected untouched). The occluded or blacked-out frames themselves
are what the optical flow sees.
A person crosses a gap when the untouched run has them in the frame before it and within 1 s after it; they keep
their id when the final output of the run with the gap (tracklets under 2 frames pruned, as the outputs do) gives
their last entry before the gap and their first entry after it the same id.

    python benchmarks/bench_identity.py [--frames 300] [--cache /tmp/vtest_poses.npz] [--json out.json] [--losses]

Rows: gap kind and length; columns: the papers' tracker (flow followed blindly), with the flow check (the shipped
online tracker, ``--no-refine``), and refined (the default for files). The bar covers a still point for its length,
but a person walking with it stays behind it longer (and one walking against it, shorter), so a second table counts
the occluder crossings again by how long each person went unseen. The refine pass is timed on the whole clip.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

from posetrack_cli.config import PipelineConfig, RefineConfig, TrackConfig  # noqa: E402
from posetrack_cli.io.sources import iter_timed_frames, probe  # noqa: E402
from posetrack_cli.pipeline import build_stages, detect_frames, suppress_poses  # noqa: E402
from posetrack_cli.records import SKELETONS, FrameResult, Poses  # noqa: E402
from posetrack_cli.track.propagate import make_propagator  # noqa: E402
from posetrack_cli.track.refine import refine_tracks  # noqa: E402
from posetrack_cli.track.refine.appearance import AppearanceBank  # noqa: E402
from posetrack_cli.track.tracker import PoseTracker  # noqa: E402

CLIP = Path(__file__).resolve().parent.parent / "examples" / "vtest.avi"
GAP_SECONDS = (0.5, 1.0, 1.5, 2.0, 3.0)
GAP_STARTS = (60, 100, 140, 180, 220)  # frames where a gap begins (each gap length is tried at each start)
AFTER_S = 1.0  # a person must reappear within this long after the gap to count as crossing it
TRACKERS = ("papers", "online", "refined")  # the columns: flow followed blindly, with the flow check, refined


def cached_poses(frames: int, cache: Path | None) -> tuple[list[np.ndarray], list[Poses], float]:
    """Frames of the clip and their poses (default pipeline: ensemble detection, pose, OKS-NMS), poses cached."""
    info = probe(CLIP)
    images = [f.image for f in iter_timed_frames(info, frames)]
    if cache is not None and cache.exists():
        data = np.load(cache, allow_pickle=False)
        skeleton = SKELETONS[str(data["skeleton"])]
        poses = [Poses(data[f"b{k}"], data[f"bs{k}"], data[f"k{k}"], data[f"s{k}"], skeleton) for k in range(frames)]
        return images, poses, info.fps
    config = PipelineConfig(offline=True)
    stages = build_stages(config)
    tracker = stages.new_tracker()
    poses = []
    for start in range(0, len(images), config.frame_batch):
        batch = [f for f in iter_timed_frames(info, start + config.frame_batch, start)]
        dets = detect_frames(stages, tracker, info, batch)
        est = stages.estimator.estimate([f.image for f in batch], dets)
        poses += [suppress_poses(p, config.pose.min_pose_score, config.pose.oks_nms) for p in est]
        print(f"  poses of frame {len(poses)}/{len(images)}", file=sys.stderr, flush=True)
    if cache is not None:
        arrays = {"skeleton": np.array(poses[0].skeleton.name)}
        for k, p in enumerate(poses):
            arrays.update({f"b{k}": p.boxes_xyxy, f"bs{k}": p.box_scores, f"k{k}": p.keypoints, f"s{k}": p.scores})
        np.savez_compressed(cache, **arrays)
    return images, poses, info.fps


def blackout(images, poses, start: int, length: int):
    """Frames ``[start, start + length)`` black, without people; returns images, poses, kept rows per frame."""
    black = range(start, start + length)
    imgs = [np.zeros_like(im) if k in black else im for k, im in enumerate(images)]
    kept = [np.zeros(0, np.int64) if k in black else np.arange(len(p)) for k, p in enumerate(poses)]
    return imgs, [p.select(i) for p, i in zip(poses, kept)], kept


def occluder(images, poses, start: int, length: int):
    """A textured bar a third of the frame wide wiping left to right from frame ``start``, at the speed that
    covers a still point for ``length`` frames; people whose box centre it covers are removed."""
    h, w = images[0].shape[:2]
    bar_w = w // 3
    speed = bar_w / length
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 255, (h, bar_w, 3), dtype=np.uint8), (0, 0), 3)
    imgs, kept = [], []
    for k, (im, p) in enumerate(zip(images, poses)):
        left = -bar_w + speed * (k - start)
        if k < start or left >= w:
            imgs.append(im)
            kept.append(np.arange(len(p)))
            continue
        x0 = round(left)
        c0, c1 = max(x0, 0), min(x0 + bar_w, w)
        im = im.copy()
        im[:, c0:c1] = texture[:, c0 - x0:c1 - x0]  # the bar's texture moves with it
        cx = (p.boxes_xyxy[:, 0] + p.boxes_xyxy[:, 2]) / 2
        imgs.append(im)
        kept.append(np.flatnonzero((cx < x0) | (cx >= x0 + bar_w)))
    return imgs, [p.select(i) for p, i in zip(poses, kept)], kept


def track(images, poses, config: TrackConfig, fps: float, bank: AppearanceBank | None = None) -> list[FrameResult]:
    tracker = PoseTracker(config, make_propagator(config.flow, config.flow_scale, config.flow_check))
    out = []
    for k, (im, p) in enumerate(zip(images, poses)):
        t = tracker.update(im, p)
        if bank is not None:
            bank.add(im, t.track_ids, t.poses.boxes_xyxy, t.poses.box_scores)
        out.append(FrameResult(k, k / fps, t))
    return out


def clean_ids(results: list[FrameResult]) -> list[np.ndarray]:
    """Per frame, the ground-truth id of each clean pose row."""
    out = []
    for r in results:
        ids = np.zeros(len(r.tracks.pose_index), np.int64)
        ids[r.tracks.pose_index] = r.tracks.track_ids
        out.append(ids)
    return out


def run_ids(results: list[FrameResult], kept: list[np.ndarray]) -> list[dict]:
    """Per frame, {clean pose row: id in the final output of the run with the gap}: the ids of ``results`` (online or
    refined; ``Tracks.pose_index`` is the row of the gap run's poses an entry came from, -1 for a filled one) less
    the tracks the outputs prune (< 2 frames)."""
    counts = {}
    for r in results:
        for tid in r.tracks.track_ids.tolist():
            counts[tid] = counts.get(tid, 0) + 1
    shown = {tid for tid, n in counts.items() if n >= TrackConfig().min_track_length}
    out = []
    for r, rows in zip(results, kept):
        out.append({int(rows[i]): tid for tid, i in zip(r.tracks.track_ids.tolist(), r.tracks.pose_index.tolist())
                    if tid in shown and i >= 0})
    return out


def crossings(gt: list[np.ndarray], kept: list[np.ndarray], fps: float) -> list[tuple[int, list, list]]:
    """(person, [(frame, row)] in the second before their gap, latest first, [(frame, row)] in the second after it)
    for every person that the gap hid and who was seen just before it and within 1 s after it."""
    out = []
    window = round(fps * AFTER_S)
    for g in np.unique(np.concatenate(gt)):
        where = {k: int(np.flatnonzero(ids == g)[0]) for k, ids in enumerate(gt) if g in ids}
        hidden = [k for k, row in where.items() if row not in set(kept[k].tolist())]
        if not hidden or min(hidden) - 1 not in where:
            continue
        shown = [(k, where[k]) for k in sorted(where) if where[k] in set(kept[k].tolist())]
        before = [(k, r) for k, r in reversed(shown) if min(hidden) - window <= k < min(hidden)]
        after = [(k, r) for k, r in shown if max(hidden) < k <= max(hidden) + window]
        if before and after:
            out.append((int(g), before, after))
    return out


def ids_across(before: list, after: list, ids: list[dict]) -> tuple[int | None, int | None]:
    """A crossing person's output id at their last output entry before the gap and at their first after it (None
    where no output entry has them)."""
    return tuple(next((ids[k][r] for k, r in side if r in ids[k]), None) for side in (before, after))


def unseen_seconds(before: list, after: list, fps: float) -> float:
    """How long a crossing person went unseen: the frames between their last entry before the gap and their first
    after it, in seconds. Under the occluder this is the person's own time behind the bar (longer than the bar's
    length for someone walking with it, shorter against it), plus any frames the detectors missed them."""
    return (after[0][0] - before[0][0] - 1) / fps


def scenario(images, poses, fps, gt, kind, start, length) -> list[dict]:
    """One record per person crossing one gap: who, unseen how long, and whether each of the three trackers kept
    their id (with the ids they had before and after the gap in the refined output)."""
    imgs, ps, kept = (blackout if kind == "blackout" else occluder)(images, poses, start, length)
    crossed = crossings(gt, kept, fps)
    papers = track(imgs, ps, replace(TrackConfig(), flow_check=False), fps)
    bank = AppearanceBank()
    online = track(imgs, ps, TrackConfig(), fps, bank)
    refined = refine_tracks(online, fps, RefineConfig(), ps[0].skeleton, TrackConfig().min_track_length,
                            bank.histograms())
    outputs = {name: run_ids(results, kept) for name, results in zip(TRACKERS, (papers, online, refined.results))}
    records = []
    for person, before, after in crossed:
        pairs = {name: ids_across(before, after, ids) for name, ids in outputs.items()}
        records.append({"kind": kind, "start": start, "length": length, "person": person,
                        "last_before": before[0][0], "first_after": after[0][0],
                        "unseen_s": unseen_seconds(before, after, fps), "refined_ids": list(pairs["refined"]),
                        **{name: old is not None and old == new for name, (old, new) in pairs.items()}})
    return records


def share_cells(records: list[dict]) -> str:
    """Table cells "kept/crossing (share)" of the three trackers over ``records``."""
    n = len(records)
    kept = [sum(r[name] for r in records) for name in TRACKERS]
    return " | ".join(f"{k}/{n} ({100 * k / max(n, 1):.0f} %)" for k in kept)


TORSO = [5, 6, 11, 12]  # COCO shoulders and hips: they move steadily when people walk, so what shakes is jitter


def jitter(results: list[FrameResult], joints=slice(None), min_score: float = 0.5) -> float:
    """Mean |second difference| (px / frame^2) of confident ``joints`` over three consecutive frames of one track."""
    tracks: dict[int, dict[int, np.ndarray]] = {}
    for r in results:
        for tid, kp in zip(r.tracks.track_ids.tolist(), r.tracks.poses.keypoints):
            tracks.setdefault(tid, {})[r.frame_index] = kp[joints]
    acc = []
    for frames in tracks.values():
        for k, kp in frames.items():
            if k + 1 in frames and k + 2 in frames:
                a, b, c = kp, frames[k + 1], frames[k + 2]
                ok = (a[:, 2] >= min_score) & (b[:, 2] >= min_score) & (c[:, 2] >= min_score)
                acc += np.linalg.norm(a[ok, :2] - 2 * b[ok, :2] + c[ok, :2], axis=1).tolist()
    return float(np.mean(acc)) if acc else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--cache", type=Path, default=None, help="poses of the clip's frames (written if absent)")
    parser.add_argument("--kinds", default="blackout,occluder")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--losses", action="store_true", help="list every crossing the refined output loses")
    args = parser.parse_args(argv)
    print(describe())
    images, poses, fps = cached_poses(args.frames, args.cache)
    clean = track(images, poses, TrackConfig(), fps)
    gt = clean_ids(clean)
    rows = []
    print(f"\nbundled clip, first {args.frames} frames at {fps:g} fps; gaps start at frames {GAP_STARTS}\n")
    print("| gap | length | crossing | papers' tracker | + flow check (--no-refine) | refined (default) |")
    print("|---|---:|---:|---:|---:|---:|")
    records = []
    for kind in [k for k in args.kinds.split(",") if k]:
        for seconds in GAP_SECONDS:
            length = round(seconds * fps)
            these = [r for start in GAP_STARTS for r in scenario(images, poses, fps, gt, kind, start, length)]
            print(f"| {kind} | {seconds:g} s | {len(these)} | {share_cells(these)} |", flush=True)
            rows.append({"kind": kind, "seconds": seconds,
                         **{name: [sum(r[name] for r in these), len(these)] for name in TRACKERS}})
            records += these
    occluded = [r for r in records if r["kind"] == "occluder"]
    if occluded:
        # The bar covers a still point for its length; someone walking with it stays behind it longer. The same
        # crossings (every occluder length together), by the time each person was unseen.
        print("\noccluder crossings of every bar length, by how long each person went unseen (last entry before the "
              "gap to first after it)\n")
        print("| unseen | crossing | papers' tracker | + flow check (--no-refine) | refined (default) |")
        print("|---|---:|---:|---:|---:|")
        low = 0.0
        for high in (*GAP_SECONDS, np.inf):
            these = [r for r in occluded if low < r["unseen_s"] <= high + 1e-9]
            label = f"{low:g}-{high:g} s" if np.isfinite(high) else f"over {low:g} s"
            if these:
                print(f"| {label} | {len(these)} | {share_cells(these)} |")
            low = high
    if args.losses:
        print("\ncrossings the refined output loses (gap start frame, ground-truth person, refined id before -> "
              "after, unseen):")
        for r in records:
            if not r["refined"]:
                print(f"  {r['kind']} {r['length'] / fps:g} s from frame {r['start']}: person {r['person']} "
                      f"(frames {r['last_before']} -> {r['first_after']}, unseen {r['unseen_s']:g} s), "
                      f"id {r['refined_ids'][0]} -> {r['refined_ids'][1]}")
    bank = AppearanceBank()
    online = track(images, poses, TrackConfig(), fps, bank)
    start = time.perf_counter()
    refined = refine_tracks(online, fps, RefineConfig(), poses[0].skeleton, TrackConfig().min_track_length,
                            bank.histograms())
    seconds = time.perf_counter() - start
    print(f"\nrefine pass on the {args.frames}-frame clean run: {seconds:.3f} s ({refined.stats})")
    plain = refine_tracks(online, fps, replace(RefineConfig(), lean_scores=False), poses[0].skeleton,
                          TrackConfig().min_track_length, bank.histograms())
    leaned = np.concatenate([r.tracks.poses.keypoints[:, :, 2].ravel() for r in refined.results])
    unleaned = np.concatenate([r.tracks.poses.keypoints[:, :, 2].ravel() for r in plain.results])
    print(f"joint scores leaned on their neighbours: of {leaned.size} joints, {int((unleaned < 0.3).sum())} scored "
          f"under 0.3, {int((leaned > unleaned).sum())} raised, {int(((leaned >= 0.3) & (unleaned < 0.3)).sum())} to "
          f">= 0.3, {int(((leaned >= 0.4) & (unleaned < 0.4)).sum())} to >= 0.4 (PoseTrack exports)")
    jitters = {}
    for name, joints in (("all joints", slice(None)), ("shoulders and hips", TORSO)):
        raw, smooth = jitter(online, joints), jitter(refined.results, joints)
        jitters[name] = [raw, smooth]
        print(f"jitter of {name} (mean |x[t] - 2 x[t+1] + x[t+2]|, joints scored >= 0.5, px): online {raw:.2f}, "
              f"refined {smooth:.2f} ({100 * (1 - smooth / raw):.0f} % less)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "crossings": records, "refine_seconds": seconds,
                                         "jitter": jitters}, default=int))
    return 0


if __name__ == "__main__":
    sys.exit(main())
