"""MOTChallenge export: lines checked against hand-written ones, and motmetrics reads the file back."""

import numpy as np

from posetrack_cli.config import OutputConfig
from posetrack_cli.export.mot import write_mot
from posetrack_cli.records import COCO17, FrameResult, Poses, Tracks, VideoInfo

INFO = VideoInfo("clip.mp4", 10.0, 640, 480, 2)


def frame(index, ids, boxes, box_scores, scores):
    n = len(ids)
    poses = Poses(np.array(boxes, np.float32).reshape(-1, 4), np.array(box_scores), np.zeros((n, 17, 3)),
                  np.array(scores), COCO17)
    return FrameResult(index, index / 10, Tracks(poses, np.array(ids), np.arange(n)))


def test_lines_are_one_based_frames_and_corners_with_xywh_boxes(tmp_path):
    frames = [frame(0, [3, 7], [[10, 20, 50, 120], [100.5, 40, 130, 90]], [0.9, 0.4], [0.8, 0.35]),
              frame(1, [3], [[12, 21, 52, 121]], [0.95], [0.85])]
    out = tmp_path / "t.mot.txt"
    write_mot(out, frames, INFO, OutputConfig())  # box threshold 0.5 drops id 7 (box score 0.4)
    assert out.read_text().splitlines() == [
        "1,3,11.00,21.00,40.00,100.00,0.8000,-1,-1,-1",
        "2,3,13.00,22.00,40.00,100.00,0.8500,-1,-1,-1",
    ]


def test_motmetrics_reads_it_back_in_our_pixels(tmp_path):
    import motmetrics as mm

    out = tmp_path / "t.mot.txt"
    write_mot(out, [frame(0, [3, 7], [[10, 20, 50, 120], [100, 40, 130, 90]], [0.9, 0.9], [0.8, 0.7])], INFO,
              OutputConfig())
    table = mm.io.loadtxt(str(out), fmt="mot15-2D")
    assert sorted(table.index.get_level_values("Id").tolist()) == [3, 7]
    row = table.loc[(1, 7)]
    assert (row["X"], row["Y"], row["Width"], row["Height"]) == (100.0, 40.0, 30.0, 50.0)
