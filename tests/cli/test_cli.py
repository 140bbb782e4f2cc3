"""CLI behaviour through click.testing: bad input gives one line and an exit code, folders run as a batch, and one
real run on the first 40 frames of the bundled clip."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import EXAMPLE_CLIP

from posetrack_cli.cli import main
from posetrack_cli.export.native import SCHEMA


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line_error(result, code, text):
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and text in lines[0], result.output
    assert "Traceback" not in result.output


def test_missing_path(tmp_path):
    assert_one_line_error(invoke("run", tmp_path / "nope.mp4", "--out", tmp_path / "t.json"), 2, "no such file")


def test_folder_without_videos(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "readme.txt").write_text("x")
    assert_one_line_error(invoke("run", tmp_path / "in", "--out", tmp_path / "out", "-q"), 2, "no videos found")


def test_text_file_named_mp4(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("hello\n" * 100)
    assert_one_line_error(invoke("run", fake, "--out", tmp_path / "t.json", "-q"), 2, "cannot decode")


def test_unknown_format_and_detector(tmp_path):
    assert_one_line_error(invoke("run", EXAMPLE_CLIP, "--out", tmp_path / "t.json", "--format", "xml"), 1,
                          "unknown format")
    assert_one_line_error(invoke("run", EXAMPLE_CLIP, "--out", tmp_path / "t.json", "--detectors", "hog"), 1,
                          "unknown detector")


def test_wrong_yolo_weights_file(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    result = invoke("run", EXAMPLE_CLIP, "--out", tmp_path / "t.json", "--pose", "yolo-crop", "-q",
                    "--detectors", "yolo", "--yolo-weights", bad)
    assert_one_line_error(result, 3, "cannot load YOLO weights")


def test_video_with_nobody_gives_valid_empty_tracks(tmp_path, empty_scene_video):
    out = tmp_path / "out" / "empty.json"
    result = invoke("run", empty_scene_video, "--out", out, "-q", "--pose", "yolo-crop")
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["schema"] == SCHEMA and len(doc["frames"]) == 12 and doc["tracks"] == []
    assert all(f["people"] == [] for f in doc["frames"])
    assert doc["stats"]["complete"] is True
    assert (tmp_path / "out" / "empty.jsonl").exists()


def test_folder_batch_isolates_failures_and_resumes(tmp_path, empty_scene_video):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    empty_scene_video.rename(folder / "sub" / "good.avi")
    (folder / "broken.mp4").write_bytes(b"\x00" * 2048)
    (folder / "notes.txt").write_text("junk")
    (folder / ".hidden.mp4").write_bytes(b"x")
    out = tmp_path / "out"
    result = invoke("run", folder, "--out", out, "-q", "--pose", "yolo-crop")
    assert result.exit_code == 1, result.output  # one video failed
    assert (out / "sub" / "good.json").exists() and not (out / "broken.json").exists()
    summary = json.loads((out / "summary.json").read_text())
    status = {row["video"].split("/")[-1]: row["status"] for row in summary["videos"]}
    assert status == {"broken.mp4": "failed", "good.avi": "done"}
    assert "failed" in result.output and "cannot decode" in result.output
    before = (out / "sub" / "good.json").stat().st_mtime_ns
    again = invoke("run", folder, "--out", out, "-q", "--pose", "yolo-crop", "--resume")
    status = {r["video"].split("/")[-1]: r["status"] for r in json.loads((out / "summary.json").read_text())["videos"]}
    assert status == {"broken.mp4": "failed", "good.avi": "skipped"} and again.exit_code == 1
    assert (out / "sub" / "good.json").stat().st_mtime_ns == before


@pytest.fixture(scope="module")
def clip_run(tmp_path_factory):
    """One real run of the default pipeline on the first 40 frames of the bundled clip, with an overlay."""
    out = tmp_path_factory.mktemp("clip")
    result = invoke("run", EXAMPLE_CLIP, "--out", out / "tracks.json", "--render", out / "overlay.mp4",
                    "--max-frames", "40", "-q")
    assert result.exit_code == 0, result.output
    return out, json.loads((out / "tracks.json").read_text())


def test_clip_json_schema(clip_run):
    _, doc = clip_run
    assert doc["schema"] == SCHEMA
    assert doc["video"]["fps"] == 10.0 and doc["video"]["width"] == 768 and doc["video"]["height"] == 576
    assert doc["models"]["detectors"] == ["yolo", "ssdlite"] and doc["models"]["skeleton"] == "coco17"
    assert [f["frame_index"] for f in doc["frames"]] == list(range(40))
    for frame in doc["frames"]:
        assert frame["time_s"] == pytest.approx(frame["frame_index"] / 10.0)
        ids = [p["track_id"] for p in frame["people"]]
        assert len(ids) == len(set(ids))
        for p in frame["people"]:
            assert len(p["keypoints"]) == 17 and all(len(k) == 3 for k in p["keypoints"])
            x1, y1, x2, y2 = p["box_xyxy"]
            assert 0 <= x1 < x2 <= 768 and 0 <= y1 < y2 <= 576
            assert 0 <= p["score"] <= p["box_score"] <= 1


def test_clip_people_found_and_ids_persist(clip_run):
    out, doc = clip_run
    counts = [len(f["people"]) for f in doc["frames"]]
    assert sum(c >= 2 for c in counts) >= 0.9 * len(counts), counts  # the clip shows 3-6 walkers from frame 0
    lengths = sorted((t["length"] for t in doc["tracks"]), reverse=True)
    assert lengths[0] >= 30 and lengths[1] >= 30, lengths  # at least two people tracked through most of the clip
    assert all(t["length"] >= 2 for t in doc["tracks"])  # tracklets shorter than 2 frames are pruned
    # the final file = the .jsonl stream less the tracklets seen in fewer than 2 frames (MDPN 2.3), recounted here
    stream = [json.loads(line) for line in (out / "tracks.jsonl").read_text().splitlines()]
    streamed = [[p["track_id"] for p in r["people"]] for r in stream if r.get("type", "frame") == "frame"]
    seen = {tid: sum(tid in ids for ids in streamed) for tid in {t for ids in streamed for t in ids}}
    assert counts == [sum(seen[t] >= 2 for t in ids) for ids in streamed]
    # Keypoints lie inside (or near) their person's box for confident keypoints.
    for frame in doc["frames"]:
        for p in frame["people"]:
            kp = np.array(p["keypoints"])
            x1, y1, x2, y2 = p["box_xyxy"]
            good = kp[kp[:, 2] > 0.5]
            pad = 0.3 * (y2 - y1)
            assert np.all((good[:, 0] > x1 - pad) & (good[:, 0] < x2 + pad) & (good[:, 1] > y1 - pad)
                          & (good[:, 1] < y2 + pad))


def test_clip_overlay_and_render_command(clip_run, tmp_path):
    out, doc = clip_run
    import cv2

    cap = cv2.VideoCapture(str(out / "overlay.mp4"))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 40 and cap.get(cv2.CAP_PROP_FPS) == 10.0
    cap.release()
    result = invoke("render", EXAMPLE_CLIP, out / "tracks.json", "--out", tmp_path / "again.avi", "--max-frames", 50)
    assert result.exit_code == 0, result.output
    cap = cv2.VideoCapture(str(tmp_path / "again.avi"))
    assert cap.get(cv2.CAP_PROP_FRAME_COUNT) == 50  # frames past the tracked ones are copied unchanged
    cap.release()


def test_smoothing_moves_keypoints_of_continuing_tracks_only(tmp_path):
    """Smoothing moves keypoints of continuing tracks but never ids or boxes; a first sighting passes unchanged."""
    plain, smooth = tmp_path / "plain.json", tmp_path / "smooth.json"
    # --no-refine: the online One-Euro filter is what is tested (refinement smooths every frame, offline)
    common = ("--max-frames", 6, "-q", "--pose", "yolo-crop", "--detectors", "ssdlite", "--no-refine")
    assert invoke("run", EXAMPLE_CLIP, "--out", plain, *common).exit_code == 0
    result = invoke("run", EXAMPLE_CLIP, "--out", smooth, *common, "--smooth")
    assert result.exit_code == 0, result.output
    a, b = json.loads(plain.read_text()), json.loads(smooth.read_text())
    ids = lambda doc: [[p["track_id"] for p in f["people"]] for f in doc["frames"]]  # noqa: E731
    assert ids(a) == ids(b)
    boxes = lambda doc: [[p["box_xyxy"] for p in f["people"]] for f in doc["frames"]]  # noqa: E731
    assert boxes(a) == boxes(b)
    kp_a = [p["keypoints"] for p in a["frames"][-1]["people"]]
    kp_b = [p["keypoints"] for p in b["frames"][-1]["people"]]
    assert kp_a != kp_b  # continuing tracks are smoothed
    assert a["frames"][0]["people"] == b["frames"][0]["people"]  # the first sighting passes through unchanged


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_box_propagation_recovers_a_person_the_boxes_miss(tmp_path):
    """Supplied boxes of the clip's first 6 frames with one person's box left out of frame 3: without box
    propagation nobody stands there in frame 3; with it (Xiao et al.) the tracker's moved box finds them again,
    under the id they had in frame 2."""
    detected = tmp_path / "detected.json"
    # --no-refine: the online tracker is tested (refinement would fill frame 3 by interpolation)
    common = ("--max-frames", 6, "-q", "--pose", "yolo-crop", "--no-refine")
    assert invoke("run", EXAMPLE_CLIP, "--out", detected, *common, "--detectors", "yolo").exit_code == 0
    frames = json.loads(detected.read_text())["frames"]
    tracks = [{p["track_id"] for p in f["people"]} for f in frames]
    target = min(set.intersection(*tracks))  # a person seen in all six frames
    box_of = {f["frame_index"]: next(p["box_xyxy"] for p in f["people"] if p["track_id"] == target) for f in frames}
    gone = box_of[3]
    boxes = {"frames": [{"frame": f["frame_index"], "boxes": [p["box_xyxy"] + [p["box_score"]] for p in f["people"]
                                                              if not (f["frame_index"] == 3 and p["box_xyxy"] == gone)]}
                        for f in frames]}
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    runs = {}
    for name, extra in (("plain", ()), ("propagated", ("--box-propagation",))):
        out = tmp_path / f"{name}.json"
        result = invoke("run", EXAMPLE_CLIP, "--out", out, *common, "--boxes", tmp_path / "boxes.json", *extra)
        assert result.exit_code == 0, result.output
        runs[name] = json.loads(out.read_text())["frames"]
    assert max((_iou(p["box_xyxy"], gone) for p in runs["plain"][3]["people"]), default=0.0) < 0.3
    found = [p for p in runs["propagated"][3]["people"] if _iou(p["box_xyxy"], gone) >= 0.5]
    assert len(found) == 1, runs["propagated"][3]["people"]
    before = [p["track_id"] for p in runs["propagated"][2]["people"] if _iou(p["box_xyxy"], box_of[2]) >= 0.5]
    assert before == [found[0]["track_id"]]  # the person keeps the id of frame 2
