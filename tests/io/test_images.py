"""Image sequences: natural order, fast probe, frames equal to the images written, skipped bad images keep their
positions, the folder scan and the input-kind guess, output paths, PoseTrack names/ids that line up with the GT, and
one pipeline run showing that a folder of PNG frames gives the same tracks as the same frames in a lossless video."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from videogen import clip_frames, pattern_frames

from posetrack_cli.config import DetectConfig, OutputConfig, PipelineConfig, PoseConfig
from posetrack_cli.errors import InputError
from posetrack_cli.evaluate.posetrack_io import load_sequences, read_posetrack
from posetrack_cli.export.posetrack import sequence_frame_names, write_posetrack17, write_posetrack18
from posetrack_cli.io import images as sequence
from posetrack_cli.io.images import natural_key, probe_sequence
from posetrack_cli.io.sources import input_kind
from posetrack_cli.io.sources import iter_timed_frames, probe, scan_folder, truncation_note
from posetrack_cli.records import COCO17, FrameResult, Poses, Tracks
from posetrack_cli.runs.folder import output_paths


def write_frames(folder: Path, frames: list[np.ndarray], pattern: str = "{:06d}.png") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / pattern.format(k) for k in range(len(frames))]
    for path, frame in zip(paths, frames):
        assert cv2.imwrite(str(path), frame)
    return paths


# ------------------------------------------------------------------------------------------------ order and probe
def test_natural_order_puts_frame2_before_frame10():
    names = ["frame10.png", "frame2.png", "Frame1.png", "frame02.png", "a.png", "frame1b.png"]
    assert sorted(names, key=natural_key) == ["a.png", "Frame1.png", "frame1b.png", "frame02.png", "frame2.png",
                                              "frame10.png"]


def test_probe_lists_reads_one_image_and_ignores_hidden_and_junk(tmp_path, monkeypatch):
    seq = tmp_path / "seq"
    write_frames(seq, pattern_frames(12, 64, 48), "frame{}.png")
    (seq / "notes.txt").write_text("not a frame")
    (seq / "._frame3.png").write_bytes(b"AppleDouble junk")  # hidden: never a frame
    (seq / "sub").mkdir()
    reads = []
    real_imread = cv2.imread
    monkeypatch.setattr(sequence.cv2, "imread", lambda *a: reads.append(a[0]) or real_imread(*a))
    info = probe(seq, sequence_fps=12.5)
    assert reads == [str(seq / "frame0.png")]  # one image read, the rest only listed
    assert (info.kind, info.fps, info.width, info.height, info.frame_count) == ("frames", 12.5, 64, 48, 12)
    assert info.frame_names == tuple(f"frame{k}.png" for k in range(12))
    assert info.to_dict()["kind"] == "frames" and "frame_names" not in info.to_dict()


def test_probe_refuses_a_folder_without_images_or_without_one_readable_image(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("x")
    with pytest.raises(InputError, match="is a folder with no images"):
        probe(tmp_path / "empty")
    (tmp_path / "broken").mkdir()
    for name in ("0.jpg", "1.png"):
        (tmp_path / "broken" / name).write_bytes(b"not an image")
    with pytest.raises(InputError, match="none of its 2 images can be read"):
        probe(tmp_path / "broken")


def test_frames_are_the_images_with_names_indices_and_times(tmp_path):
    frames = pattern_frames(5, 64, 48)
    frames[1] = cv2.cvtColor(cv2.cvtColor(frames[1], cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    paths = write_frames(tmp_path / "s", frames, "img_{}.png")
    cv2.imwrite(str(paths[1]), frames[1][:, :, 0])  # a grayscale PNG comes back as BGR
    info = probe(tmp_path / "s", sequence_fps=10)
    got = list(iter_timed_frames(info))
    assert [(f.index, f.name) for f in got] == [(k, f"img_{k}.png") for k in range(5)]
    assert [f.time_s for f in got] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert all(np.array_equal(f.image, want) for f, want in zip(got, frames))
    assert [f.index for f in iter_timed_frames(info, max_frames=3)] == [0, 1, 2]


def test_unreadable_and_other_size_images_are_skipped_and_keep_positions(tmp_path, caplog):
    paths = write_frames(tmp_path / "s", pattern_frames(6, 64, 48))
    paths[2].write_bytes(b"truncated jpeg")
    cv2.imwrite(str(paths[4]), np.zeros((24, 32, 3), np.uint8))
    info = probe(tmp_path / "s")
    with caplog.at_level(logging.WARNING, logger="posetrack_cli.io.images"):
        got = list(iter_timed_frames(info))
    assert [f.index for f in got] == [0, 1, 3, 5]
    assert [f.time_s for f in got] == pytest.approx([0.0, 0.04, 0.12, 0.2])  # default 25 fps
    assert "000002.png: cannot read" in caplog.text and "000004.png: 32x24, not the sequence's 64x48" in caplog.text
    assert truncation_note(info, 4, got[-1].time_s, None).startswith("2 of 6 images unreadable")
    assert truncation_note(info, 3, got[2].time_s, 4).startswith("1 of 4 images")  # --max-frames 4: 0, 1, 3
    assert truncation_note(info, 6, 0.2, None) == ""



def test_overlay_keeps_every_position_of_a_sequence_with_unreadable_images(tmp_path):
    from posetrack_cli.render import render_video, unreadable_frame

    frames = pattern_frames(6, 64, 48)
    paths = write_frames(tmp_path / "s", frames)
    paths[2].write_bytes(b"truncated jpeg")
    paths[5].write_bytes(b"")  # the last image too
    info = probe(tmp_path / "s")
    assert render_video(info, [], tmp_path / "o.avi") == 6  # 4 readable images + 2 stand-ins, in place
    cap = cv2.VideoCapture(str(tmp_path / "o.avi"))
    written = [cap.read()[1] for _ in range(6)]
    cap.release()
    # each overlay frame is closest to what belongs at its position (lossy MJPG: nearest candidate, not equality)
    # (the two stand-ins differ only in the named file, a few pixels at this size: either may be nearest)
    candidates = frames + [unreadable_frame(info, 2), unreadable_frame(info, 5)]
    nearest = [int(np.argmin([np.abs(got.astype(int) - c.astype(int)).mean() for c in candidates]))
               for got in written]
    assert nearest[:2] == [0, 1] and nearest[3:5] == [3, 4] and nearest[2] >= 6 and nearest[5] >= 6, nearest
    assert render_video(info, [], tmp_path / "o3.avi", max_frames=3) == 3  # --max-frames: positions 0, 1, 2

# ----------------------------------------------------------------------------------------------- scan and guess
@pytest.fixture
def tree(tmp_path) -> Path:
    """root/val/seq_a (3 PNG + junk), root/val/seq_b (2 JPG), root/clips/v.avi + poster.jpg, root/empty/,
    root/.cache/x.png (hidden), root/seq_a.avi (a video named like a sequence folder)."""
    root = tmp_path / "root"
    write_frames(root / "val" / "seq_a", pattern_frames(3, 32, 24))
    (root / "val" / "seq_a" / "info.json").write_text("{}")
    write_frames(root / "val" / "seq_b", pattern_frames(2, 32, 24), "{:06d}.jpg")
    (root / "clips").mkdir()
    for name in ("v.avi", "seq_a.avi"):
        (root / "clips" / name).write_bytes(b"0")
    write_frames(root / "clips", pattern_frames(1, 32, 24), "poster.jpg")
    (root / "empty").mkdir()
    write_frames(root / ".cache", pattern_frames(1, 32, 24))
    return root


def test_scan_finds_sequences_and_videos_and_notes_what_it_ignores(tree):
    scan = scan_folder(tree)
    assert scan.sequences == [tree / "val" / "seq_a", tree / "val" / "seq_b"]
    assert scan.videos == [tree / "clips" / "seq_a.avi", tree / "clips" / "v.avi"]
    assert len(scan.notes) == 2
    assert "clips: 1 image(s) beside videos ignored" in scan.notes[0]
    assert "seq_a: 1 file(s) that are not frames ignored" in scan.notes[1]


def test_input_kind_guesses_and_obeys_overrides(tree, tmp_path, caplog):
    seq = tree / "val" / "seq_a"
    assert input_kind(tree / "clips" / "v.avi") == "video"
    with caplog.at_level(logging.WARNING, logger="posetrack_cli.io.sources"):
        assert input_kind(seq) == "frames"
    assert "1 file(s) that are not frames ignored (info.json)" in caplog.text
    assert input_kind(tree / "val") == "batch" and input_kind(tree) == "batch"
    assert input_kind(tree / "clips") == "batch"  # images beside a video are not a sequence...
    assert input_kind(tree / "clips", "frames") == "frames"  # ...unless asked for
    assert input_kind(seq, "batch") == "batch"
    mixed = tmp_path / "mixed"  # a sequence folder that also holds a sequence folder: a batch of both
    write_frames(mixed, pattern_frames(2, 32, 24))
    write_frames(mixed / "inner", pattern_frames(2, 32, 24))
    assert input_kind(mixed) == "batch" and scan_folder(mixed).sequences == [mixed, mixed / "inner"]
    for path, kind, message in [(seq, "video", "needs a video file"), (tree / "clips" / "v.avi", "frames",
                                "needs a folder"), (tree / "clips" / "v.avi", "batch", "needs a folder")]:
        with pytest.raises(InputError, match=message):
            input_kind(path, kind)


def test_output_paths_of_sequences_videos_and_the_root_itself(tree, tmp_path):
    items = sorted(scan_folder(tree).videos + scan_folder(tree).sequences)
    (tree / "clips" / "seq_a").mkdir()  # a sequence folder beside a video of the same stem
    items.append(tree / "clips" / "seq_a")
    assert output_paths(items, tree, Path("o")) == [Path("o/clips/seq_a.avi.json"), Path("o/clips/v.json"),
                                                    Path("o/val/seq_a.json"), Path("o/val/seq_b.json"),
                                                    Path("o/clips/seq_a.json")]
    dotted = tmp_path / "run.v2"
    dotted.mkdir()
    assert output_paths([dotted], dotted, Path("o")) == [Path("o/run.v2.json")]


# -------------------------------------------------------------------------------------------- PoseTrack exports
def one_person(index: int, track_id: int) -> FrameResult:
    kp = np.zeros((1, 17, 3), np.float32)
    kp[0, :, 0], kp[0, :, 1], kp[0, :, 2] = 10 + np.arange(17), 20 + np.arange(17), 0.9
    poses = Poses(np.array([[5, 5, 40, 60]], np.float32), np.array([0.95], np.float32), kp,
                  np.array([0.8], np.float32), COCO17)
    return FrameResult(index, index / 25, Tracks(poses, np.array([track_id]), np.array([0])))


def test_posetrack_exports_of_a_sequence_use_the_gt_names_ids_and_frame_count(tmp_path):
    seq = tmp_path / "images" / "val" / "000342_mpii_test"
    write_frames(seq, pattern_frames(4, 32, 24), "{:06d}.jpg")
    info = probe(seq)
    names = [f"images/val/000342_mpii_test/{k:06d}.jpg" for k in range(4)]
    assert sequence_frame_names(info) == names
    gt_images = [{"file_name": n, "id": 10003420000 + k, "frame_id": 10003420000 + k, "vid_id": "000342",
                  "nframes": 4, "is_labeled": True} for k, n in enumerate(names)]
    gt_people = [{"image_id": 10003420000 + k, "track_id": 0, "keypoints": [12, 22, 1] * 17,
                  "bbox_head": [0, 0, 10, 10]} for k in (0, 1, 3)]  # labelled people in frames 0, 1 and 3
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir(), pred_dir.mkdir()
    (gt_dir / "000342_mpii_test.json").write_text(json.dumps({"images": gt_images, "annotations": gt_people}))
    # a run stopped after 2 frames (--max-frames 2) still writes all 4 positions: the evaluator's count check passes
    write_posetrack18(pred_dir / "000342_mpii_test.json", [one_person(0, 7), one_person(1, 7)], info, OutputConfig())
    doc = json.loads((pred_dir / "000342_mpii_test.json").read_text())
    assert [(im["file_name"], im["id"], im["vid_id"]) for im in doc["images"]] == \
        [(im["file_name"], im["id"], im["vid_id"]) for im in gt_images]
    assert [a["image_id"] for a in doc["annotations"]] == [10003420000, 10003420001]
    (matched,), total = load_sequences(gt_dir, pred_dir)  # frames paired by position, unlabelled frame 2 dropped
    assert [(g.name, p.name, len(p.people)) for g, p in zip(matched.gt, matched.pred)] == \
        [(names[0], names[0], 1), (names[1], names[1], 1), (names[3], names[3], 0)]
    write_posetrack17(tmp_path / "p17.json", [one_person(1, 3)], info, OutputConfig())
    assert [f.name for f in read_posetrack(tmp_path / "p17.json")] == names


def test_posetrack_names_of_a_custom_sequence_stay_parsable(tmp_path):
    info = probe_sequence(Path(write_frames(tmp_path / "my take", pattern_frames(3, 32, 24), "shot_{}.png")[0]
                               .parent))
    names = sequence_frame_names(info)
    folder = names[0].split("/")[2]
    assert names == [f"images/val/{folder}/{k:06d}.jpg" for k in range(3)] and folder.endswith("_mpii_test")


# ---------------------------------------------------------------------------------------------- the same tracks
@pytest.mark.usefixtures("one_torch_thread")
def test_png_folder_tracks_equal_lossless_video_tracks(tmp_path):
    from posetrack_cli.pipeline import build_stages, run_video

    frames = clip_frames(4, 320, 240, start=40)
    write_frames(tmp_path / "frames", frames)
    video = tmp_path / "same.avi"  # FFV1: lossless, so both inputs hold exactly the same pixels
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"FFV1"), 10, (320, 240))
    for f in frames:
        writer.write(f)
    writer.release()
    from_video = [f.image for f in iter_timed_frames(probe(video))]
    if len(from_video) != 4 or not all(np.array_equal(a, b) for a, b in zip(from_video, frames)):
        pytest.skip("this OpenCV build has no lossless FFV1 round trip")
    config = PipelineConfig(DetectConfig(detectors=("ssdlite",)), PoseConfig(model="yolo-crop"), device="cpu",
                            frame_batch=2)
    stages = build_stages(config)
    run_video(video, tmp_path / "video.json", stages)
    run_video(tmp_path / "frames", tmp_path / "frames.json", replace(stages, config=config.with_(sequence_fps=10)))
    a, b = (json.loads((tmp_path / name).read_text()) for name in ("video.json", "frames.json"))
    assert sum(len(f["people"]) for f in a["frames"]) > 0  # the clip shows people
    assert [f.pop("name") for f in b["frames"]] == [f"{k:06d}.png" for k in range(4)]
    assert b["frames"] == a["frames"] and b["tracks"] == a["tracks"]
    assert (b["video"]["kind"], b["video"]["fps"], a["video"]["kind"]) == ("frames", 10.0, "video")
