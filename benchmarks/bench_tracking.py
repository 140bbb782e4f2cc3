"""Tracking ablation on synthetic sequences, scored with the built-in PoseTrack evaluator (poseval rules).

Ground truth: people (PoseTrack-15 figures of random size) walking with random velocities under a panning camera,
some occluded for 3-10 frames (then neither annotated nor detected). Simulated pose estimates: joint jitter,
missed detections, wrong low-score joints and false-positive people (some lasting 2-3 frames). Frames are rendered
(a textured background and one textured body per person, nearer people in front) so the optical flow is real
(OpenCV DIS by default). Each configuration tracks, prunes, exports PoseTrack 2017 files and is evaluated:

    python benchmarks/bench_tracking.py [--sequences 8] [--frames 80] [--flow dis|farneback|none] [--json out.json]

Rows: MDPN (Hungarian, L = 8, prune < 2 frames), then one change at a time (MDPN section 2 ablation), then the
offline refinement pass (``track.refine``, the default for files) on the MDPN tracks, in the same run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from posetrack_cli.config import OutputConfig, RefineConfig, TrackConfig
from posetrack_cli.evaluate.posetrack import evaluate_posetrack
from posetrack_cli.export.posetrack import write_posetrack17
from posetrack_cli.export.prune import count_track_lengths, short_tracks
from posetrack_cli.records import POSETRACK15, FrameResult, Poses, Tracks, VideoInfo
from posetrack_cli.track.propagate import make_propagator
from posetrack_cli.track.refine import refine_tracks
from posetrack_cli.track.tracker import PoseTracker

WIDTH, HEIGHT = 640, 360
# PoseTrack-15 figure (joint ids of POSETRACK_EVAL.md), pixels at scale 1, centred on the hips' midpoint.
FIGURE = np.array([(-10, 45), (-10, 25), (-10, 0), (10, 0), (10, 25), (10, 45), (-22, 0), (-20, -18), (-15, -35),
                   (15, -35), (20, -18), (22, 0), (0, -40), (0, -48), (0, -62)], np.float64)
HEAD_BOX = np.array([-10.0, -64.0, 10.0, -38.0])  # x1, y1, x2, y2 at scale 1: diagonal 32.8 -> head size 19.7 px


@dataclass(frozen=True)
class Noise:
    jitter_px: float = 2.0  # joint position noise (sigma, at scale 1)
    miss_rate: float = 0.08  # a visible person is not detected
    bad_joint_rate: float = 0.05  # a joint lands 15-40 px off with a low score (0.05-0.35)
    fp_per_frame: float = 0.3  # false-positive people per frame (Poisson); 30 % of them last 2-3 frames
    occlusion_rate: float = 0.5  # share of people hidden once for 3-10 frames


@dataclass
class Sequence:
    frames: list[np.ndarray]  # rendered BGR frames
    gt: dict  # PT17 annolist
    poses: list[Poses]  # simulated pose estimates per frame


def _trajectories(rng, n_people: int, n_frames: int, noise: Noise):
    pan = rng.uniform(-5, 5, 2) * [1, 0.3]
    pos = np.c_[rng.uniform(60, WIDTH - 60, n_people), rng.uniform(80, HEIGHT - 80, n_people)]
    vel = rng.uniform(-9, 9, (n_people, 2)) * [1, 0.4]
    scale = rng.uniform(0.8, 1.3, n_people)
    hidden = np.zeros((n_frames, n_people), bool)
    for p in range(n_people):
        if rng.random() < noise.occlusion_rate:
            start, length = rng.integers(5, n_frames - 12), rng.integers(3, 11)
            hidden[start:start + length, p] = True
    out = []
    for _ in range(n_frames):
        out.append(pos.copy())
        vel += rng.normal(0, 0.3, vel.shape)
        pos = pos + vel + pan
        low, high = np.array([40, 80]), np.array([WIDTH - 40, HEIGHT - 60])
        vel = np.where((pos < low) | (pos > high), -vel, vel)
        pos = np.clip(pos, low, high)
    return np.array(out), scale, hidden, pan


def _texture(rng, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Smooth random colour texture stretched to the full 0..255 range (DIS needs contrast to follow it)."""
    noise = cv2.GaussianBlur(rng.integers(0, 255, (*shape, 3), dtype=np.uint8), (0, 0), sigma)
    return cv2.normalize(noise, None, 0, 255, cv2.NORM_MINMAX)


def _render(background, offset, centres, scale, hidden_row, textures) -> np.ndarray:
    ox, oy = int(round(offset[0])) % WIDTH, int(round(offset[1])) % HEIGHT
    frame = np.roll(background, (-oy, -ox), axis=(0, 1))[:HEIGHT, :WIDTH].copy()
    for p in np.argsort(scale):  # bigger (nearer) people drawn last, in front
        if hidden_row[p]:
            continue
        w, h = int(24 * scale[p]), int(60 * scale[p])
        cx, cy = int(round(centres[p, 0])), int(round(centres[p, 1] - 8 * scale[p]))
        x0, y0, x1, y1 = max(cx - w, 0), max(cy - h, 0), min(cx + w, WIDTH), min(cy + h, HEIGHT)
        if x1 > x0 and y1 > y0:
            patch = cv2.resize(textures[p], (2 * w, 2 * h))
            frame[y0:y1, x0:x1] = patch[y0 - (cy - h):y1 - (cy - h), x0 - (cx - w):x1 - (cx - w)]
    return frame


def _estimate(rng, noise: Noise, centre, scale, box_score=None) -> tuple[np.ndarray, np.ndarray, float]:
    kp = centre + FIGURE * scale + rng.normal(0, noise.jitter_px * scale, FIGURE.shape)
    scores = rng.uniform(0.5, 1.0, 15)
    bad = rng.random(15) < noise.bad_joint_rate
    kp[bad] += rng.uniform(15, 40, (bad.sum(), 1)) * rng.choice([-1, 1], (bad.sum(), 2))
    scores[bad] = rng.uniform(0.05, 0.35, bad.sum())
    box = np.r_[kp.min(0) - 8 * scale, kp.max(0) + 8 * scale]
    return np.c_[kp, scores], box, rng.uniform(0.6, 1.0) if box_score is None else box_score


def _frame_poses(rng, noise: Noise, centres, scale, hidden_row, ghosts) -> Poses:
    people = [_estimate(rng, noise, centres[p], scale[p]) for p in range(len(centres))
              if not hidden_row[p] and rng.random() >= noise.miss_rate]
    people += [_estimate(rng, noise, c, s, rng.uniform(0.2, 0.8)) for c, s in ghosts]
    kp = np.array([p[0] for p in people]).reshape(-1, 15, 3)
    boxes = np.array([p[1] for p in people]).reshape(-1, 4)
    box_scores = np.array([p[2] for p in people])
    return Poses(boxes, box_scores, kp, box_scores * kp[:, :, 2].mean(1) if len(kp) else box_scores, POSETRACK15)


def make_sequence(seed: int, n_frames: int, noise: Noise = Noise()) -> Sequence:
    rng = np.random.default_rng(seed)
    n_people = int(rng.integers(3, 7))
    traj, scale, hidden, pan = _trajectories(rng, n_people, n_frames, noise)
    background = _texture(rng, (HEIGHT * 2, WIDTH * 2), 4.0)
    textures = [_texture(rng, (160, 80), 2.0) for _ in range(n_people)]
    frames, poses, annolist, ghosts = [], [], [], []  # ghost: (centre, scale, frames it lives on)
    for k in range(n_frames):
        frames.append(_render(background, -pan * k, traj[k], scale, hidden[k], textures))
        ghosts = [(c + rng.normal(0, 3, 2), s, left - 1) for c, s, left in ghosts if left > 0]
        for _ in range(rng.poisson(noise.fp_per_frame)):
            ghosts.append((rng.uniform([40, 80], [WIDTH - 40, HEIGHT - 60]), rng.uniform(0.7, 1.2),
                           int(rng.integers(1, 3)) if rng.random() < 0.3 else 0))
        poses.append(_frame_poses(rng, noise, traj[k], scale, hidden[k], [(c, s) for c, s, _ in ghosts]))
        annolist.append({"image": [{"name": f"{seed:03d}/{k:06d}.jpg"}], "annorect": [
            _gt_rect(p, traj[k, p], scale[p]) for p in range(n_people) if not hidden[k, p]]})
    return Sequence(frames, {"annolist": annolist}, poses)


def _gt_rect(track_id: int, centre, scale) -> dict:
    kp = centre + FIGURE * scale
    head = np.r_[centre, centre] + HEAD_BOX * scale
    return {"track_id": [track_id], "x1": [head[0]], "y1": [head[1]], "x2": [head[2]], "y2": [head[3]],
            "annopoints": [{"point": [{"id": [j], "x": [x], "y": [y]} for j, (x, y) in enumerate(kp)]}]}


def run_tracker(seq: Sequence, config: TrackConfig,
                refine: RefineConfig | None = None) -> tuple[list[FrameResult], float]:
    tracker = PoseTracker(config, make_propagator(config.flow, config.flow_scale))
    results, start = [], time.perf_counter()
    for k, (frame, poses) in enumerate(zip(seq.frames, seq.poses)):
        results.append(FrameResult(k, k / 25.0, tracker.update(frame, poses)))
    if refine is not None:
        results = refine_tracks(results, 25.0, refine, POSETRACK15, config.min_track_length).results
    elapsed = time.perf_counter() - start
    pruned = short_tracks(count_track_lengths(r.tracks.track_ids for r in results), config.min_track_length)
    kept = []
    for r in results:
        keep = np.flatnonzero([t not in pruned for t in r.tracks.track_ids])
        kept.append(FrameResult(r.frame_index, r.time_s, Tracks(r.tracks.poses.select(keep),
                                                                r.tracks.track_ids[keep], keep)))
    return kept, 1000 * elapsed / len(results)


def evaluate(sequences: list[Sequence], config: TrackConfig, output: OutputConfig,
             refine: RefineConfig | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        gt_dir, pred_dir, ms = Path(tmp, "gt"), Path(tmp, "pred"), []
        gt_dir.mkdir()
        for i, seq in enumerate(sequences):
            (gt_dir / f"{i:03d}.json").write_text(json.dumps(seq.gt))
            results, t = run_tracker(seq, config, refine)
            ms.append(t)
            info = VideoInfo(f"{i:03d}.mp4", 25.0, WIDTH, HEIGHT, len(seq.frames))
            write_posetrack17(pred_dir / f"{i:03d}.json", results, info, output)
        r = evaluate_posetrack(gt_dir, pred_dir)
    counts = r["mot"]["counts"]
    return {"mAP": r["ap"]["total"], "MOTA": r["mot"]["total"]["mota"], "switches": sum(counts["num_switches"]),
            "IDF1": r["mot"]["identity"]["idf1"], "HOTA": r["hota"]["hota"], "DetA": r["hota"]["deta"],
            "AssA": r["hota"]["assa"],
            "false_pos": sum(counts["num_false_positives"]), "misses": sum(counts["num_misses"]),
            "ms_per_frame": float(np.mean(ms))}


def joint_errors(sequences: list[Sequence], config: TrackConfig, output: OutputConfig) -> dict:
    """Where mAP cannot see it: the distance of every exported joint (score >= the export threshold) to the same
    joint of the true person nearest its pose, online and after the refinement pass (the same entries, through
    ``Tracks.pose_index``), and how many lie within poseval's match radius (half the head size, 0.6 x the head box
    diagonal)."""
    before, after, radius = [], [], []
    for seq in sequences:
        online, _ = run_tracker(seq, config)
        refined = refine_tracks(online, 25.0, RefineConfig(), POSETRACK15, config.min_track_length).results
        for k, (r0, r1) in enumerate(zip(online, refined)):
            people = [(np.array([[p["x"][0], p["y"][0]] for p in rect["annopoints"][0]["point"]]),
                       0.6 * np.hypot(rect["x2"][0] - rect["x1"][0], rect["y2"][0] - rect["y1"][0]))
                      for rect in seq.gt["annolist"][k]["annorect"]]
            rows0 = {int(row): i for i, row in enumerate(r0.tracks.pose_index.tolist())}
            for i, row in enumerate(r1.tracks.pose_index.tolist()):
                if row < 0 or not people or row not in rows0:
                    continue
                kp0, kp1 = r0.tracks.poses.keypoints[rows0[row]], r1.tracks.poses.keypoints[i]
                truth, head = min(people, key=lambda g: np.linalg.norm(g[0] - kp0[:, :2], axis=1).mean())
                shown = kp0[:, 2] >= output.keypoint_threshold
                before += np.linalg.norm(kp0[shown, :2] - truth[shown], axis=1).tolist()
                after += np.linalg.norm(kp1[shown, :2] - truth[shown], axis=1).tolist()
                radius += [0.5 * head] * int(shown.sum())
    b, a, r = np.array(before), np.array(after), np.array(radius)
    return {"joints": len(b), "online_mean": float(b.mean()), "online_median": float(np.median(b)),
            "refined_mean": float(a.mean()), "refined_median": float(np.median(a)),
            "online_within": int((b < r).sum()), "refined_within": int((a < r).sum()),
            "lost": int(((b < r) & (a >= r)).sum()), "gained": int(((b >= r) & (a < r)).sum())}


def configurations(flow: str) -> list[tuple[str, TrackConfig, OutputConfig, RefineConfig | None]]:
    mdpn = TrackConfig(matching="hungarian", memory_frames=8, min_track_length=2, flow=flow)
    paper = OutputConfig()  # its defaults are the Simple Baselines / MDPN export thresholds
    return [
        ("MDPN: Hungarian, L=8, prune<2", mdpn, paper, None),
        ("greedy matching", replace(mdpn, matching="greedy"), paper, None),
        ("L=1 (previous frame only)", replace(mdpn, memory_frames=1), paper, None),
        ("no pruning", replace(mdpn, min_track_length=1), paper, None),
        ("greedy, L=1, no pruning (Xiao et al.)", replace(mdpn, matching="greedy", memory_frames=1,
                                                          min_track_length=1), paper, None),
        ("no flow (poses stay put)", replace(mdpn, flow="none"), paper, None),
        ("no export thresholds", mdpn, OutputConfig(), None),
        ("MDPN + refine (default)", mdpn, paper, RefineConfig()),
        ("MDPN + refine, no smoothing", mdpn, paper, RefineConfig(smooth_cutoff_hz=0)),
        ("MDPN + refine, scores not leaned", mdpn, paper, RefineConfig(lean_scores=False)),
        ("MDPN + refine, smoothing only", mdpn, paper, RefineConfig(max_gap_s=0, fill_gap=0)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sequences", type=int, default=8)
    parser.add_argument("--frames", type=int, default=80)
    parser.add_argument("--flow", default="dis", choices=["dis", "farneback", "none"])
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    sequences = [make_sequence(seed, args.frames) for seed in range(args.sequences)]
    rows = []
    print(f"{args.sequences} sequences x {args.frames} frames, flow {args.flow}\n")
    print("| configuration | mAP | MOTA | IDF1 | HOTA | DetA | AssA | ID switches | FP | misses | ms/frame |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, track, output, refine in configurations(args.flow):
        row = {"configuration": name, **evaluate(sequences, track, output, refine)}
        rows.append(row)
        print(f"| {name} | {row['mAP']:.2f} | {row['MOTA']:.2f} | {row['IDF1']:.1f} | {row['HOTA']:.1f} | "
              f"{row['DetA']:.1f} | {row['AssA']:.1f} | {row['switches']:.0f} | {row['false_pos']:.0f} | "
              f"{row['misses']:.0f} | {row['ms_per_frame']:.1f} |", flush=True)
    mdpn = configurations(args.flow)[0][1]
    e = joint_errors(sequences, mdpn, OutputConfig())
    print(f"\nexported joints ({e['joints']}), distance to the true joint, online -> refined (default): mean "
          f"{e['online_mean']:.2f} -> {e['refined_mean']:.2f} px, median {e['online_median']:.2f} -> "
          f"{e['refined_median']:.2f} px; within the match radius {e['online_within']} -> {e['refined_within']} "
          f"({e['lost']} moved out, {e['gained']} moved in)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "joint_errors": e}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
