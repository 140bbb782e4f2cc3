"""Keypoint HOTA against the numbers of the official PoseTrack21 evaluation kit on the same files.

Each case below is written as PoseTrack21 JSON (one file per sequence, ``<name>.json`` in a ground-truth folder and
in a prediction folder: ``images`` with ``id``, ``file_name``, ``is_labeled`` and empty ignore regions;
``annotations`` with ``image_id``, ``track_id``, COCO-17 ``keypoints`` and ``bbox_head`` (GT) or ``scores``
(predictions)), a layout that both our reader and the kit read. ``KIT`` holds the kit's totals for each case.

To regenerate KIT (the kit is never a dependency of this project: install it in a separate environment):
1. take the folder ``eval/posetrack21`` of the kit's repository (anDoer/PoseTrack21, commit ``KIT_COMMIT``) and a
   Python 3.11 venv with ``numpy==1.23.5`` (the kit uses ``np.float``/``np.int``), ``scipy<1.12``, ``shapely``,
   ``sparse`` and ``tqdm`` (the numbers below came from numpy 1.23.5, scipy 1.11.4, shapely 2.1.2);
2. write the cases with this project's venv, in ``tests/evaluate``::

       python -c "import pathlib; from test_hota_kit import CASES, write_pt21
       for name, case in CASES.items(): write_pt21(pathlib.Path('/tmp/cases') / name, case)"

3. for each case, in the kit's venv with ``PYTHONPATH=<repository>/eval/posetrack21``::

       import posetrack21.api as api
       ev = api.get_api(trackers_folder='/tmp/cases/<case>/pred', gt_folder='/tmp/cases/<case>/gt',
                        eval_type='tracking', use_parallel=False, num_parallel_cores=1)
       avg = ev.get_avg_results(ev.eval())  # means over the 19 alphas; column -1 = total over the joints
       print(repr(avg['HOTA'][-1]), repr(avg['DetA'][-1]), repr(avg['AssA'][-1]), list(avg['HOTA'][:15]))

   The kit's ``eval_type`` for pose tracking is ``'tracking'`` (``'pose_tracking'``, named in its docstring, is
   refused); it finds the predictions by the ``_test`` in their file names and writes ``pose_hota_results.txt``
   into the prediction folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from posetrack_cli.evaluate.posetrack import evaluate_posetrack
from posetrack_cli.records import PT18_COCO_ORDER, PT18_SLOTS

# Joint offsets from a person's origin, in COCO-17 slots as PoseTrack21 writes them; the ears (3, 4) are never
# annotated in PoseTrack and are written as 0, 0, 0.
SKELETON = ((0.0, 0.0), (0.0, 14.0), (0.0, -14.0), None, None, (-16.0, 24.0), (16.0, 24.0), (-22.0, 50.0),
            (22.0, 50.0), (-24.0, 76.0), (24.0, 76.0), (-10.0, 80.0), (10.0, 80.0), (-11.0, 115.0), (11.0, 115.0),
            (-12.0, 150.0), (12.0, 150.0))
UNIT = ((1.0, 0.0), (0.0, 1.0), (-0.6, 0.8), (-1.0, 0.0), (0.8, -0.6), (0.0, -1.0))  # directions of the shifts


def gt(track_id: int, x: float, y: float, head: float = 30.0, hidden=(), override=None) -> dict:
    """A GT person at (x, y) with a head box head x 4/3 head (head size 0.6 x diagonal = ``head``); joints in
    ``hidden`` written as 0, 0, 0; ``override`` = {slot: (x, y, v)} writes a joint as given."""
    kps = []
    for slot, off in enumerate(SKELETON):
        kps += [0.0, 0.0, 0] if off is None or slot in hidden else [x + off[0], y + off[1], 1]
    for slot, xyv in (override or {}).items():
        kps[3 * slot:3 * slot + 3] = list(xyv)
    return {"track_id": track_id, "keypoints": kps, "bbox_head": [x - head / 2, y - head, head, 4 * head / 3],
            "_head": head}


def pred(track_id: int, person: dict, seed: int, missing=(), override=None) -> dict:
    """A prediction of GT ``person``: joint ``slot`` moved by (0.013 + 0.05 k) head sizes, k = (7 slot + seed) % 12
    (similarity 1 - d / 0.5001 = 0.974 - 0.1 k, never within 0.02 of an alpha; k = 10, 11 never match), in
    direction UNIT[(slot + seed) % 6]; joints in ``missing`` written as 0, 0, 0 (score 0); ``override`` = {slot:
    (x, y, score)} writes a joint as given."""
    head, kps, scores = person["_head"], [], []
    for slot in range(17):
        x, y, v = person["keypoints"][3 * slot:3 * slot + 3]
        if v == 0 or slot in missing:
            kps, scores = kps + [0.0, 0.0, 0], scores + [0.0]
            continue
        d = (0.013 + 0.05 * ((7 * slot + seed) % 12)) * head
        ux, uy = UNIT[(slot + seed) % 6]
        kps, scores = kps + [x + d * ux, y + d * uy, 1], scores + [0.9 - 0.01 * slot]
    for slot, (x, y, s) in (override or {}).items():
        kps[3 * slot:3 * slot + 3], scores[slot] = [x, y, 1], s
    return {"track_id": track_id, "keypoints": kps, "scores": scores}


def frame(gt_people: list, pred_people: list, labeled: bool = True) -> dict:
    return {"labeled": labeled, "gt": gt_people, "pred": pred_people}


def write_pt21(root: Path, sequences: dict) -> tuple[Path, Path]:
    """Write {name: [frame, ...]} as ``root/gt/<name>.json`` and ``root/pred/<name>.json`` (PoseTrack21 layout)."""
    gt_dir, pred_dir = root / "gt", root / "pred"
    gt_dir.mkdir(parents=True, exist_ok=True)
    pred_dir.mkdir(parents=True, exist_ok=True)
    categories = [{"id": 1, "name": "person", "keypoints": list(PT18_COCO_ORDER)}]
    for index, (name, frames) in enumerate(sequences.items()):
        images = [{"id": 10000 * (index + 1) + t, "file_name": f"images/val/{name}/{t:06d}.jpg",
                   "is_labeled": f["labeled"], "ignore_regions_x": [], "ignore_regions_y": []}
                  for t, f in enumerate(frames)]
        gt_anns = [{"id": len(frames) * k + t, "image_id": images[t]["id"], "category_id": 1,
                    **{key: v for key, v in p.items() if key != "_head"}}
                   for t, f in enumerate(frames) for k, p in enumerate(f["gt"])]
        pred_anns = [{"image_id": images[t]["id"], "category_id": 1, **p}
                     for t, f in enumerate(frames) for p in f["pred"]]
        (gt_dir / f"{name}.json").write_text(json.dumps(
            {"images": images, "annotations": gt_anns, "categories": categories}))
        (pred_dir / f"{name}.json").write_text(json.dumps(
            {"images": images, "annotations": pred_anns, "categories": categories}))
    return gt_dir, pred_dir


def switches_case() -> dict:
    """Three people of head sizes 30, 18 and 24 over 8 frames. A keeps id 10 except frame 5, where A and B swap
    ids; B is id 20 in frames 0-3 and id 21 after; C (id 30) is missed in frames 3-5 and never has its wrists
    predicted; a false positive (id 99) in frames 1-2; B's wrists invisible in frames 2-4; C's ankles invisible in
    frame 6; A's nose written at x = 0 in frame 7 (not a valid joint for either side); a predicted joint with score
    0, and one at a negative x (not valid)."""
    frames = []
    for t in range(8):
        a = gt(1, 100.0 + 4 * t, 100.0, 30.0, override={0: (0.0, 100.0, 1)} if t == 7 else None)
        b = gt(2, 400.0 - 3 * t, 120.0, 18.0, hidden=(9, 10) if 2 <= t <= 4 else ())
        c = gt(3, 700.0, 90.0 + 2 * t, 24.0, hidden=(15, 16) if t == 6 else ())
        id_a, id_b = (21, 10) if t == 5 else (10, 20 if t < 4 else 21)
        people = [pred(id_a, a, 3 * t, override={15: (a["keypoints"][45] + 2.0, a["keypoints"][46], 0.0)}
                       if t == 3 else None),
                  pred(id_b, b, 3 * t + 5, override={6: (-3.0, 150.0, 0.8)} if t == 0 else None)]
        if t not in (3, 4, 5):
            people.append(pred(30, c, 3 * t + 10, missing=(9, 10)))
        if t in (1, 2):
            people.append(pred(99, gt(0, 1000.0, 300.0), t))
        frames.append(frame([a, b, c], people))
    return {"000001_mpii_test": frames}


def gaps_case() -> dict:
    """Two people over 8 frames: frames 0 and 3 unlabeled without GT people but with predictions (left out by
    both); frame 5 labeled without predictions (the kit adds the sequence's GT joints to FN); frame 7 holds a
    predicted person without any joint; person 1 switches from id 6 to id 8 after the gap."""
    frames = []
    for t in range(8):
        p, q = gt(4, 200.0 + 5 * t, 150.0), gt(7, 600.0, 150.0 - 2 * t, 24.0, hidden=(0, 1, 2) if t == 6 else ())
        people = [pred(5, p, 2 * t), pred(6 if t < 5 else 8, q, 2 * t + 7)]
        if t in (0, 3):
            frames.append(frame([], people + [pred(9, gt(0, 900.0, 400.0), t)], labeled=False))
        elif t == 5:
            frames.append(frame([p, q], []))
        elif t == 7:
            frames.append(frame([p, q], people + [{"track_id": 11, "keypoints": [0.0] * 51, "scores": [0.0] * 17}]))
        else:
            frames.append(frame([p, q], people))
    return {"000002_mpii_test": frames}


def crowd_case() -> dict:
    """Two people of head size 30 crossing (same joints 30, 18, 6, 6, 18, 30 px apart in x, 4 px in y), so the
    per-joint Hungarian matching has real choices; the tracker swaps their ids from frame 3 on."""
    frames = []
    for t in range(6):
        p, q = gt(1, 300.0 + 6 * t, 200.0), gt(2, 330.0 - 6 * t, 204.0)
        first, second = (1, 2) if t < 3 else (2, 1)
        frames.append(frame([p, q], [pred(first, p, 5 * t + 1), pred(second, q, 5 * t + 4)]))
    return {"000003_mpii_test": frames}


def sequences_case() -> dict:
    """Three sequences combined: a clean one (2 people, 5 frames), one without any prediction (1 person, 6
    frames: the kit's early return adds its GT joints to FN once) and one with a switch, a person lost after frame
    1 and a false positive in frames 3-4."""
    clean = [frame([gt(1, 100.0, 100.0 + t), gt(2, 500.0, 100.0, 20.0)],
                   [pred(1, gt(1, 100.0, 100.0 + t), t), pred(2, gt(2, 500.0, 100.0, 20.0), t + 6)]) for t in range(5)]
    unseen = [frame([gt(5, 300.0 + t, 300.0, 24.0)], []) for t in range(6)]
    mixed = []
    for t in range(5):
        a, b = gt(3, 150.0 + 3 * t, 250.0), gt(4, 450.0, 250.0, 27.0)
        people = [pred(7 if t < 2 else 8, a, 4 * t + 2)]
        if t < 2:
            people.append(pred(9, b, 4 * t + 3))
        if t >= 3:
            people.append(pred(12, gt(0, 800.0, 250.0), t))
        mixed.append(frame([a, b], people))
    return {"000010_mpii_test": clean, "000011_mpii_test": unseen, "000012_mpii_test": mixed}


CASES = {"switches": switches_case(), "gaps": gaps_case(), "crowd": crowd_case(), "sequences": sequences_case()}

# The kit's (HOTA, DetA, AssA) totals, as fractions: avg['HOTA'][-1], avg['DetA'][-1], avg['AssA'][-1] printed with
# repr by the script of the module docstring, run on the files write_pt21 writes for each case, with the kit of
# github.com/anDoer/PoseTrack21 at commit 3e61960e05d84999bce7a06fc3bf411f5ee5f7eb (eval/posetrack21).
KIT_COMMIT = "3e61960e05d84999bce7a06fc3bf411f5ee5f7eb"
KIT = {"switches": (0.24078369743222916, 0.25732667550978305, 0.22870407782834287),
       "gaps": (0.21221862491929505, 0.16232230215246976, 0.2789866183315431),
       "crowd": (0.24423898111740877, 0.33176404474216453, 0.18304273079392694),
       "sequences": (0.2869193211001159, 0.21162057373350487, 0.3921576264006383)}
# Same run, case "switches": list(avg['HOTA'][:15]), per joint in the kit's order (COCO-17 without the ears).
KIT_SWITCHES_JOINT_HOTA = (0.26544682422383414, 0.24195410368928294, 0.2290335091459397, 0.23216803753412107,
                           0.2557030615830736, 0.24783725577357357, 0.25787254494727746, 0.23663226273460544,
                           0.2040937276624171, 0.21317180319673013, 0.24894531887711688, 0.24195410368928294,
                           0.2290335091459397, 0.24942709547182149, 0.23845632983494766)


@pytest.mark.parametrize("name", list(CASES))
def test_keypoint_hota_equals_the_kit(tmp_path, name):
    h = evaluate_posetrack(*write_pt21(tmp_path, CASES[name]))["hota"]
    hota, deta, assa = KIT[name]
    assert (h["hota"], h["deta"], h["assa"]) == pytest.approx((100 * hota, 100 * deta, 100 * assa), rel=1e-9)


def test_per_joint_hota_equals_the_kit(tmp_path):
    h = evaluate_posetrack(*write_pt21(tmp_path, CASES["switches"]))["hota"]
    kit_index = [slot - 2 if slot > 4 else slot for slot in PT18_SLOTS]  # PT17 joint id -> the kit's column
    assert h["per_joint"]["hota"] == pytest.approx([100 * KIT_SWITCHES_JOINT_HOTA[k] for k in kit_index], rel=1e-9)
