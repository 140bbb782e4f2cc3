"""Reading a tracks.json: columns equal to the file's values; bad files are one-line input errors."""

import json

import numpy as np
import pytest
from scene import tracks_doc

from posetrack_cli.errors import InputError
from posetrack_cli.report.data import load_tracks


def test_columns_match_the_file(tmp_path):
    doc = tracks_doc()
    path = tmp_path / "t.json"
    path.write_text(json.dumps(doc))
    run = load_tracks(path)
    people = [(f["frame_index"], p) for f in doc["frames"] for p in f["people"]]
    assert run.track_id.tolist() == [p["track_id"] for _, p in people]
    assert run.frame_index[run.person_frame].tolist() == [f for f, _ in people]
    assert np.allclose(run.keypoints[5], people[5][1]["keypoints"])
    assert np.allclose(run.boxes_xyxy[-1], people[-1][1]["box_xyxy"])


@pytest.mark.parametrize("text, message", [
    (None, "cannot read the tracks.json"),
    ("{not json", "not valid JSON"),
    ('{"schema": "other"}', "not a posetrack tracks.json"),
    ('{"schema": "posetrack.tracks/1", "models": {"skeleton": "coco17"}}', "not a posetrack tracks.json"),
])
def test_bad_files(tmp_path, text, message):
    path = tmp_path / "t.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        load_tracks(path)
    assert "\n" not in str(info.value)
