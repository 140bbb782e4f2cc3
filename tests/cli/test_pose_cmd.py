"""``posetrack run --boxes``, ``posetrack pose`` on still images, ``--limit`` and ``posetrack eval --coco`` on a
miniature COCO val made in the test, all through the CLI (click.testing)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import EXAMPLE_CLIP, write_video

from posetrack_cli.cli import main
from posetrack_cli.records import COCO17

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# The three people of the bundled clip's first frames (x1, y1, x2, y2; they move < 3 px over 3 frames), at
# quarter-pixel positions that survive float32 and the outputs' 0.01 px rounding exactly.
PEOPLE = [[246.25, 214.5, 290.75, 312.0], [494.5, 152.25, 536.0, 238.75], [634.0, 234.25, 690.5, 326.5]]
SCORES = [0.875, 0.75, 0.625]


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def clip(n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(EXAMPLE_CLIP))
    frames = [cap.read()[1] for _ in range(n)]
    cap.release()
    return frames


@pytest.mark.parametrize("fmt", ["json", "csv", "coco"])
def test_run_with_supplied_boxes_keeps_them_exactly(tmp_path, fmt):
    video = write_video(tmp_path / "walk.avi", clip(3))
    rows = [(f, box, s) for f in range(3) for box, s in zip(PEOPLE, SCORES)]
    if fmt == "coco":  # COCO detection results; a video's image ids are its frame indices
        boxes = tmp_path / "dets.json"
        boxes.write_text(json.dumps([{"image_id": f, "category_id": 1, "score": s,
                                      "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]]} for f, b, s in rows]))
    elif fmt == "json":
        boxes = tmp_path / "boxes.json"
        boxes.write_text(json.dumps({"frames": [{"frame": f, "boxes": [b + [s] for _, b, s in
                                                                       filter(lambda r: r[0] == f, rows)]}
                                                for f in range(3)]}))
    else:
        boxes = tmp_path / "boxes.csv"
        boxes.write_text("frame,x1,y1,x2,y2,score\n" + "".join(f"{f},{','.join(map(str, b))},{s}\n"
                                                              for f, b, s in rows))
    out = tmp_path / "t.json"
    result = invoke("run", video, "--out", out, "--boxes", boxes, "--pose", "yolo-crop", "-q",
                    "--min-track-length", "1")
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["models"]["detectors"] == [f"supplied:{boxes.name}"]
    assert len(doc["frames"]) == 3
    for f in doc["frames"]:
        got = sorted((p["box_xyxy"], p["box_score"]) for p in f["people"])
        assert got == sorted(zip(PEOPLE, SCORES)), f["frame_index"]
        assert all(p["score"] > 0.3 for p in f["people"])  # real poses were found in every supplied box


def _still_images(tmp_path, n: int = 3) -> tuple:
    """``n`` frames of the clip as JPEGs named by COCO image id, a COCO annotation file listing them with the three
    people as ground truth, and COCO detection results with the same boxes."""
    folder = tmp_path / "val"
    folder.mkdir()
    images, anns, dets = [], [], []
    for k, image in enumerate(clip(n)):
        image_id = 1000 + k
        cv2.imwrite(str(folder / f"{image_id:012d}.jpg"), image)
        images.append({"id": image_id, "file_name": f"{image_id:012d}.jpg", "width": 768, "height": 576})
        for (x1, y1, x2, y2), s in zip(PEOPLE, SCORES):
            kp = np.zeros((17, 3))
            kp[0] = ((x1 + x2) / 2, y1 + 8, 2)  # the nose only: enough for an annotation pycocotools scores
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                         "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "num_keypoints": 1,
                         "keypoints": kp.ravel().tolist()})
            dets.append({"image_id": image_id, "category_id": 1, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s})
    ann = tmp_path / "person_keypoints_val.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns,
                               "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17.keypoints)}]}))
    det_file = tmp_path / "detections.json"
    det_file.write_text(json.dumps(dets))
    return folder, ann, det_file


def _pycocotools_ap(ann, results, image_ids=None) -> float:
    """AP computed directly with pycocotools, independently of posetrack's evaluator."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(ann))
        e = COCOeval(gt, gt.loadRes(str(results)), "keypoints")
        if image_ids is not None:
            e.params.imgIds = image_ids
        e.evaluate()
        e.accumulate()
        e.summarize()
    return float(e.stats[0])


def test_pose_on_annotation_images_with_limit_then_eval(tmp_path):
    folder, ann, dets = _still_images(tmp_path)
    out = tmp_path / "results.json"
    result = invoke("pose", ann, "--image-root", folder, "--boxes", dets, "--pose", "yolo-crop", "--limit", "2",
                    "--oks-nms", "0.9", "--min-pose-score", "0", "-q")
    assert result.exit_code == 2 and "--out" in result.output  # --out is required
    result = invoke("pose", ann, "--image-root", folder, "--boxes", dets, "--pose", "yolo-crop", "--limit", "2",
                    "--oks-nms", "0.9", "--min-pose-score", "0", "-q", "--out", out)
    assert result.exit_code == 0, result.output
    assert "pose: 2 images (0 failed), 6 people" in result.output
    assert "has boxes for 1 of 3 images/frames that were not in the input" in result.output
    res = json.loads(out.read_text())
    assert sorted(r["image_id"] for r in res) == [1000] * 3 + [1001] * 3
    assert all(r["category_id"] == 1 and len(r["keypoints"]) == 51 for r in res)
    # re-scoring: box score x mean keypoint score above 0.2, so each score is at most its box's
    for image_id in (1000, 1001):
        scores = sorted((r["score"] for r in res if r["image_id"] == image_id), reverse=True)
        assert all(0 < s <= b for s, b in zip(scores, sorted(SCORES, reverse=True)))

    metrics = tmp_path / "metrics.json"
    result = invoke("eval", "--coco", ann, "--pred", out, "--json", metrics, "--only-covered")
    assert result.exit_code == 0, result.output
    assert "evaluated on the 2 of 3 images that have predictions" in result.output
    got = json.loads(metrics.read_text())
    assert got["images"] == 2
    assert got["stats"]["AP"] == pytest.approx(_pycocotools_ap(ann, out, [1000, 1001]), abs=1e-12)


def test_pose_on_folder_reports_unreadable_images(tmp_path):
    folder, _, dets = _still_images(tmp_path, 2)
    (folder / "000000000007.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "r.json"
    result = invoke("pose", folder, "--boxes", dets, "--pose", "yolo-crop", "-q", "--out", out)
    assert result.exit_code == 1, result.output
    assert "failed: " in result.output and "000000000007.jpg: cannot decode" in result.output
    res = json.loads(out.read_text())  # the readable images are still written
    assert sorted({r["image_id"] for r in res}) == [1000, 1001] and len(res) == 6


def _mini_val(tmp_path) -> tuple:
    """A miniature COCO val: 3 images (drawn stick figures) with 5 people of known keypoints."""
    rng = np.random.default_rng(3)
    images, anns, people = [], [], []
    for image_id, count in ((1, 2), (2, 1), (3, 2)):
        canvas = np.full((400, 600, 3), 90, np.uint8)
        for k in range(count):
            xy = np.stack([np.linspace(60, 140, 17), np.linspace(40, 320, 17)], 1) + (250 * k + 20, 20)
            xy += rng.uniform(-6, 6, xy.shape)
            for a, b in COCO17.links:
                cv2.line(canvas, tuple(map(int, xy[a])), tuple(map(int, xy[b])), (240, 240, 240), 3)
            kp = np.concatenate([xy, np.full((17, 1), 2.0)], 1).round(2)
            x1, y1 = xy.min(0)
            x2, y2 = xy.max(0)
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                         "num_keypoints": 17, "keypoints": kp.ravel().tolist(),
                         "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                         "area": float((x2 - x1) * (y2 - y1))})
            people.append((image_id, kp))
        cv2.imwrite(str(tmp_path / f"{image_id:012d}.png"), canvas)
        images.append({"id": image_id, "file_name": f"{image_id:012d}.png", "width": 600, "height": 400})
    ann = tmp_path / "mini_val.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns,
                               "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17.keypoints)}]}))
    return ann, people


def _results(path, people, noise: float, seed: int = 0, keep=lambda image_id: True):
    rng = np.random.default_rng(seed)
    res = []
    for k, (image_id, kp) in enumerate(people):
        if keep(image_id):
            moved = kp.copy()
            moved[:, :2] += rng.normal(0, noise, (17, 2))
            res.append({"image_id": image_id, "category_id": 1, "keypoints": moved.ravel().round(2).tolist(),
                        "score": round(0.9 - 0.1 * k, 2)})
    path.write_text(json.dumps(res))
    return path


def _eval(ann, pred, *extra) -> dict:
    out = pred.with_suffix(".metrics.json")
    result = invoke("eval", "--coco", ann, "--pred", pred, "--json", out, *extra)
    assert result.exit_code == 0, result.output
    return {**json.loads(out.read_text()), "output": result.output}


def test_mini_coco_val_ap_through_the_cli_equals_pycocotools(tmp_path):
    ann, people = _mini_val(tmp_path)
    perfect = _eval(ann, _results(tmp_path / "perfect.json", people, 0.0))
    assert perfect["stats"]["AP"] == pytest.approx(1.0) and perfect["stats"]["AR"] == pytest.approx(1.0)
    noisy = _results(tmp_path / "noisy.json", people, 7.0)
    got = _eval(ann, noisy)
    expected = _pycocotools_ap(ann, noisy)
    assert 0.0 < expected < 1.0  # the noise makes a case where the value matters
    assert got["stats"]["AP"] == pytest.approx(expected, abs=1e-12)
    assert got["images"] == got["images_total"] == 3 and "evaluated on the" not in got["output"]
    assert "note:" not in got["output"]


def test_mini_coco_val_subset_and_all_images(tmp_path):
    ann, people = _mini_val(tmp_path)
    subset = _results(tmp_path / "subset.json", people, 0.0, keep=lambda image_id: image_id != 3)
    only = _eval(ann, subset, "--only-covered")
    assert "evaluated on the 2 of 3 images that have predictions" in only["output"]
    assert only["stats"]["AP"] == pytest.approx(1.0)  # perfect on the images it covers
    everything = _eval(ann, subset)  # the default, as the COCO server: images without results are misses
    assert "note: predictions cover 2 of 3 images" in everything["output"]
    assert everything["images"] == 3
    assert everything["stats"]["AP"] == pytest.approx(_pycocotools_ap(ann, subset), abs=1e-12)
    assert everything["stats"]["AR"] == pytest.approx(3 / 5)  # 3 of the 5 people found


def test_run_folder_limit_takes_the_first_videos(tmp_path, empty_scene_video):
    folder = tmp_path / "in"
    folder.mkdir()
    frames = [np.full((48, 64, 3), 100, np.uint8)] * 3
    for name in ("a.avi", "b.avi", "c.avi"):
        write_video(folder / name, frames)
    boxes = tmp_path / "none.json"
    boxes.write_text(json.dumps({"frames": []}))  # nobody anywhere: no detector or pose network work
    out = tmp_path / "out"
    result = invoke("run", folder, "--out", out, "--limit", "2", "--boxes", boxes, "--pose", "yolo-crop", "-q")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert [r["video"].split("/")[-1] for r in summary["videos"]] == ["a.avi", "b.avi"]
    assert not (out / "c.json").exists()
    one = invoke("run", folder / "a.avi", "--out", tmp_path / "t.json", "--limit", "1", "-q")
    assert one.exit_code == 2 and "--limit takes the first N videos of a folder" in one.output


def test_pose_and_run_take_the_same_model_options(tmp_path, monkeypatch):
    from posetrack_cli.cli import pose as pose_command
    from posetrack_cli.cli import run as run_command
    from posetrack_cli.config import DetectConfig, PipelineConfig, PoseConfig
    from posetrack_cli.errors import InputError

    weights = tmp_path / "y.pt"
    shared = ["--detectors", "yolo", "--nms-iou", "0.5", "--det-score", "0.3", "--yolo-imgsz", "640",
              "--yolo-weights", weights, "--pose", "mspn-2x50-coco", "--no-flip-test", "--oks-nms", "0.9",
              "--pose-batch", "8", "--pose-runtime", "int8", "--int8-calibration", "40", "--bf16", "--no-fp16",
              "--device", "cpu"]
    seen = {}

    def stopper(command):  # records the config the command built, then stops it before any model loads
        def stop(*args, **kwargs):
            seen[command] = next(a for a in args if isinstance(a, PipelineConfig))
            raise InputError("stopped by the test")
        return stop

    monkeypatch.setattr(pose_command, "build_stages", stopper("pose"))
    monkeypatch.setattr(run_command, "run_single", stopper("run"))
    folder, _, _ = _still_images(tmp_path, 1)
    video = tmp_path / "v.avi"
    video.write_bytes(b"")
    for result in (invoke("pose", folder, "--out", tmp_path / "r.json", *shared),
                   invoke("run", video, "--out", tmp_path / "t.json", *shared)):
        assert result.exit_code == 2 and "stopped by the test" in result.output, result.output

    detect = DetectConfig(detectors=("yolo",), nms_iou=0.5, min_score=0.3, yolo_imgsz=640, yolo_weights=str(weights),
                          bf16=True)
    pose = PoseConfig(model="mspn-2x50-coco", flip_test=False, oks_nms=0.9, batch_size=8, runtime="int8",
                      int8_calibration=40, bf16=True, amp=False)
    for name in ("pose", "run"):
        assert seen[name].detect == detect and seen[name].pose == pose and seen[name].device == "cpu", name
    with_defaults = invoke("pose", folder, "--out", tmp_path / "r.json")
    assert "stopped by the test" in with_defaults.output
    assert seen["pose"].detect == DetectConfig() and seen["pose"].pose == PoseConfig()
