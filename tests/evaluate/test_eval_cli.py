"""``posetrack eval`` through click.testing (the command on its own; the main CLI registers it)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from posetrack_cases import frames, pred_rect, two_people_gt, write_case

from posetrack_cli.cli.eval import eval_cmd
from posetrack_cli.errors import InputError


def test_eval_prints_table_and_writes_json(tmp_path):
    # The missed-person case: AP 83.3 per joint, MOTA 75 (see test_posetrack_eval).
    pred = frames([[pred_rect(0, 5)], [pred_rect(0, 5), pred_rect(1, 7)], [pred_rect(0, 5), pred_rect(1, 7)]])
    gt_dir, pred_dir = write_case(tmp_path, two_people_gt(3), pred)
    out = tmp_path / "metrics.json"
    result = CliRunner().invoke(eval_cmd, ["--gt", str(gt_dir), "--pred", str(pred_dir), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "&" + " 83.3 &" * 7 + " 83.3 \\\\" in result.output
    assert "& 75.0 &" in result.output
    saved = json.loads(out.read_text())
    assert saved["ap"]["total"] == pytest.approx(250 / 3)
    assert saved["mot"]["total"]["mota"] == pytest.approx(75.0)


def test_eval_needs_gt_or_coco(tmp_path):
    result = CliRunner().invoke(eval_cmd, ["--pred", str(tmp_path)])
    assert isinstance(result.exception, InputError)
    assert "either --gt" in str(result.exception)


def test_eval_missing_folder_is_an_input_error(tmp_path):
    result = CliRunner().invoke(eval_cmd, ["--gt", str(tmp_path / "no"), "--pred", str(tmp_path)])
    assert isinstance(result.exception, InputError)
    assert "\n" not in str(result.exception)


def test_eval_coco_mode(tmp_path):
    from posetrack_cli.records import COCO17

    kp = [[100.0 + 5 * i, 50.0 + 15 * i] for i in range(17)]
    ann = {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "num_keypoints": 17, "area": 20000.0,
           "bbox": [100, 50, 80, 240], "keypoints": [v for x, y in kp for v in (x, y, 2)]}
    gt = {"images": [{"id": 1, "width": 640, "height": 480}], "annotations": [ann],
          "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17.keypoints)}]}
    res = [{"image_id": 1, "category_id": 1, "keypoints": [v for x, y in kp for v in (x, y, 0.9)], "score": 0.9}]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(res))
    result = CliRunner().invoke(eval_cmd, ["--coco", str(tmp_path / "gt.json"), "--pred", str(tmp_path / "res.json")])
    assert result.exit_code == 0, result.output
    assert "100.0" in result.output.splitlines()[-1]  # AP 1.0 printed in percent


def test_eval_reads_a_run_output_folder_and_only_covered_sequences(tmp_path):
    """A `posetrack run` output folder holds `<sequence>.posetrack18.json` beside the native `<sequence>.json`: the
    export is the prediction. A ground-truth sequence without a prediction is an error, as in poseval, unless
    --only-covered, which scores the others (here the perfect one: AP 100, MOTA 100)."""
    perfect = frames([[pred_rect(0, 5), pred_rect(1, 7)] for _ in range(3)])
    gt_dir, pred_dir = write_case(tmp_path, [two_people_gt(3), two_people_gt(3)], [perfect, perfect])
    (pred_dir / "seq0.json").rename(pred_dir / "seq0.posetrack18.json")
    (pred_dir / "seq0.json").write_text('{"schema": "posetrack.tracks/1"}')  # the native output: not read
    (pred_dir / "seq1.json").unlink()
    result = CliRunner().invoke(eval_cmd, ["--gt", str(gt_dir), "--pred", str(pred_dir)])
    assert isinstance(result.exception, InputError)
    assert "no prediction for seq1.json" in str(result.exception) and "--only-covered" in str(result.exception)
    out = tmp_path / "m.json"
    result = CliRunner().invoke(eval_cmd, ["--gt", str(gt_dir), "--pred", str(pred_dir), "--only-covered",
                                           "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "evaluated on the 1 of 2 sequences that have predictions (--only-covered)" in result.output
    saved = json.loads(out.read_text())
    assert (saved["sequences"], saved["sequences_total"]) == (1, 2)
    assert saved["ap"]["total"] == pytest.approx(100.0) and saved["mot"]["total"]["mota"] == pytest.approx(100.0)
