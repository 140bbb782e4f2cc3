"""What the page shows besides the drawing: every track's frames and gaps, per-frame series, and the flags a person
would check first. Pure functions of ``RunData``'s columns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posetrack_cli.report.data import RunData

MAX_FLAGS_PER_KIND = 200  # a page lists this many flags of a kind and says how many more there are


@dataclass(frozen=True)
class FlagRules:
    """When something is worth a look. Raising a value flags more (``*_s``) or fewer (``near_box_heights``) cases."""

    handover_s: float = 1.0  # a track that begins at most this long after another ended ...
    near_box_heights: float = 1.0  # ... this many box heights away (centre to centre) is likely the same person
    short_track_s: float = 1.0  # tracks seen for less than this are listed (raising it lists more)
    low_score: float = 0.3  # a pose score below this is low confidence
    low_stretch_s: float = 2.0  # a track's low-confidence stretch at least this long is listed
    empty_min_frames: int = 1  # stretches of frames with nobody at least this long are listed


@dataclass(frozen=True)
class TrackSummary:
    """One track: its frame rows (into ``RunData.frame_index``), where it is seen, and its best pose."""

    track_id: int
    first: int  # first frame row
    last: int  # last frame row
    length: int  # frames in which it is seen
    segments: list[tuple[int, int]]  # (first row, last row) of each unbroken run; gaps lie between them
    mean_score: float
    best: int  # the person row with the highest pose score (the contact sheet's crop)
    first_person: int  # person row of its first and last appearance
    last_person: int


def track_order(run: RunData) -> np.ndarray:
    """Person rows sorted by track, then frame: the order in which consecutive rows are one person moving."""
    return np.lexsort((run.person_frame, run.track_id))


def summarise_tracks(run: RunData) -> list[TrackSummary]:
    """Every track in id order."""
    order = track_order(run)
    ids = run.track_id[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.array([], np.int64)
    ends = np.r_[starts[1:], len(ids)]
    return [_summary(run, order[a:b]) for a, b in zip(starts, ends)]


def _summary(run: RunData, rows: np.ndarray) -> TrackSummary:
    frames = run.person_frame[rows]
    breaks = np.flatnonzero(np.diff(frames) > 1)
    seg_first = np.r_[frames[0], frames[breaks + 1]]
    seg_last = np.r_[frames[breaks], frames[-1]]
    scores = run.score[rows]
    return TrackSummary(int(run.track_id[rows[0]]), int(frames[0]), int(frames[-1]), len(rows),
                        [(int(a), int(b)) for a, b in zip(seg_first, seg_last)], float(scores.mean()),
                        int(rows[int(np.argmax(scores))]), int(rows[0]), int(rows[-1]))


def mean_score_per_frame(run: RunData) -> np.ndarray:
    """(F,) mean pose score of the people in each frame (0 where nobody is)."""
    frames = len(run.frame_index)
    total = np.bincount(run.person_frame, weights=run.score, minlength=frames)
    return total / np.maximum(run.people_per_frame, 1)


def clock(seconds: float) -> str:
    """A time as m:ss.s (h:mm:ss for an hour or more), as the page shows it."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def handovers(run: RunData, tracks: list[TrackSummary], rules: FlagRules) -> list[dict]:
    """Tracks that begin soon after and near where another ended: probably one person given a new id."""
    if not tracks:
        return []
    by_start = sorted(tracks, key=lambda t: t.first)
    start_times = run.time_s[[t.first for t in by_start]]
    found = []
    for ended in tracks:
        end_time = run.time_s[ended.last]
        lo, hi = np.searchsorted(start_times, [end_time, end_time + rules.handover_s + 1e-9], side="right")
        for began in by_start[lo:hi]:
            a, b = run.boxes_xyxy[ended.last_person], run.boxes_xyxy[began.first_person]
            reach = rules.near_box_heights * max(a[3] - a[1], b[3] - b[1])
            distance = float(np.linalg.norm(_centre(a) - _centre(b)))
            if distance <= reach:
                gap = run.time_s[began.first] - end_time
                found.append({"frame": began.first, "track": began.track_id, "other": ended.track_id,
                              "text": f"#{ended.track_id} ends at {clock(end_time)}, #{began.track_id} begins "
                                      f"{gap:.1f} s later {distance:.0f} px away"})
    return sorted(found, key=lambda f: f["frame"])


def short_tracks(run: RunData, tracks: list[TrackSummary], rules: FlagRules) -> list[dict]:
    """Tracks seen for less than ``short_track_s`` (often a false detection or a broken track)."""
    limit = max(1, round(rules.short_track_s * run.fps))
    return [{"frame": t.first, "track": t.track_id,
             "text": f"#{t.track_id}: {t.length} frame{'s' * (t.length != 1)} at {clock(run.time_s[t.first])}"}
            for t in tracks if t.length < limit]


def low_confidence(run: RunData, rules: FlagRules) -> list[dict]:
    """Stretches of at least ``low_stretch_s`` in which one track's pose score stays below ``low_score``."""
    order = track_order(run)
    low = run.score[order] < rules.low_score
    ids = run.track_id[order]
    same = np.r_[False, ids[1:] == ids[:-1]]
    prev_low = same & np.r_[False, low[:-1]]
    next_low = np.r_[same[1:], False] & np.r_[low[1:], False]
    begins, ends = np.flatnonzero(low & ~prev_low), np.flatnonzero(low & ~next_low)  # they alternate, in order
    frames = run.person_frame[order]
    long = np.flatnonzero(run.time_s[frames[ends]] - run.time_s[frames[begins]] >= rules.low_stretch_s)
    found = []
    for begin, end in zip(begins[long], ends[long]):
        t0, t1 = run.time_s[frames[begin]], run.time_s[frames[end]]
        mean = float(run.score[order[begin:end + 1]].mean())
        found.append({"frame": int(frames[begin]), "track": int(ids[begin]),
                      "text": f"#{ids[begin]}: {clock(t0)} to {clock(t1)}, mean score {mean:.2f}"})
    return sorted(found, key=lambda f: f["frame"])


def empty_stretches(run: RunData, rules: FlagRules) -> list[dict]:
    """Runs of frames in which nobody was found (missed people, or an empty scene)."""
    empty = np.r_[False, run.people_per_frame == 0, False].astype(np.int8)
    edges = np.diff(empty)
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    found = []
    for a, b in zip(starts.tolist(), stops.tolist()):
        if b - a + 1 >= rules.empty_min_frames:
            span = f"{clock(run.time_s[a])} to {clock(run.time_s[b])}" if b > a else clock(run.time_s[a])
            found.append({"frame": int(a), "track": None,
                          "text": f"{span} ({b - a + 1} frame{'s' * (b > a)})"})
    return found


def flags(run: RunData, tracks: list[TrackSummary], rules: FlagRules = FlagRules()) -> list[dict]:
    """The page's flag groups: ``{"kind", "title", "items" (at most MAX_FLAGS_PER_KIND), "total"}``."""
    groups = [("handover", "Ended where another began (same person, new id?)", handovers(run, tracks, rules)),
              ("short", f"Tracks shorter than {rules.short_track_s:g} s", short_tracks(run, tracks, rules)),
              ("low", f"Pose score below {rules.low_score:g} for {rules.low_stretch_s:g} s or more",
               low_confidence(run, rules)),
              ("empty", "Frames with nobody", empty_stretches(run, rules))]
    return [{"kind": kind, "title": title, "items": items[:MAX_FLAGS_PER_KIND], "total": len(items)}
            for kind, title, items in groups]
