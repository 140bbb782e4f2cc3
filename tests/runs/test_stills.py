"""Image lists of ``posetrack pose``: natural order, image ids from names, an annotation file or positions."""

from __future__ import annotations

import json
import logging

import pytest

from posetrack_cli.detect.supplied import ImageIds
from posetrack_cli.errors import InputError
from posetrack_cli.runs.stills import images_from_annotation, images_from_paths


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_folders_recursive_natural_order_numeric_ids(tmp_path):
    for name in ("10.jpg", "2.png", "sub/000000397133.JPG", ".hidden/5.jpg", "notes.txt"):
        touch(tmp_path / "in" / name)
    images = images_from_paths([tmp_path / "in"])
    assert [im.path.name for im in images] == ["2.png", "10.jpg", "000000397133.JPG"]
    assert [im.image_id for im in images] == [2, 10, 397133]


def test_ids_from_image_list_else_positions(tmp_path, caplog):
    a, b = touch(tmp_path / "seq" / "a.jpg"), touch(tmp_path / "seq" / "b.jpg")
    named = images_from_paths([b, a], ImageIds([("images/val/seq/a.jpg", 71), ("images/val/seq/b.jpg", 72)]))
    assert [(im.path.name, im.image_id) for im in named] == [("b.jpg", 72), ("a.jpg", 71)]
    with caplog.at_level(logging.WARNING):
        unnamed = images_from_paths([a, b, touch(tmp_path / "7.jpg")])
    assert [im.image_id for im in unnamed] == [0, 1, 2] and "positions 0..2" in caplog.text


def test_annotation_image_list_keeps_its_order_and_ids(tmp_path):
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps({"images": [{"id": 9, "file_name": "x/9.jpg"}, {"id": 3, "file_name": "x/3.jpg"}],
                               "annotations": []}))
    images, ids = images_from_annotation(ann, tmp_path / "root")
    assert [(str(im.path), im.image_id) for im in images] == [(str(tmp_path / "root/x/9.jpg"), 9),
                                                            (str(tmp_path / "root/x/3.jpg"), 3)]
    assert ids.lookup("x", "3.jpg") == 3
    with pytest.raises(InputError, match="needs --image-root"):
        images_from_annotation(ann, None)


@pytest.mark.parametrize("name, problem", [("missing.jpg", "no such file"), ("clip.mp4", "not an image")])
def test_bad_paths(tmp_path, name, problem):
    path = tmp_path / name
    if name.endswith(".mp4"):
        touch(path)
    with pytest.raises(InputError, match=problem):
        images_from_paths([path])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images found"):
        images_from_paths([tmp_path / "empty"])
