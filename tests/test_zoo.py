"""Model cards, weights resolution (explicit / folder / cache / download), sha256 checks, `posetrack weights`."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from posetrack_cli import zoo
from posetrack_cli.cli.weights import weights
from posetrack_cli.errors import PosetrackError, WeightsError

# MSPN.md section 4 (MMPose model zoo): name -> (url, COCO val2017 AP)
PUBLIC = {
    "mspn-1x50-coco": ("https://download.openmmlab.com/mmpose/top_down/mspn/"
                       "mspn50_coco_256x192-8fbfb5d0_20201123.pth", 0.723),
    "mspn-2x50-coco": ("https://download.openmmlab.com/mmpose/top_down/mspn/"
                       "2xmspn50_coco_256x192-c8765a5c_20201123.pth", 0.754),
    "mspn-3x50-coco": ("https://download.openmmlab.com/mmpose/top_down/mspn/"
                       "3xmspn50_coco_256x192-e348f18e_20201123.pth", 0.758),
    "mspn-4x50-coco": ("https://download.openmmlab.com/mmpose/top_down/mspn/"
                       "4xmspn50_coco_256x192-7b837afb_20201123.pth", 0.765),
}


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """Empty weights folder and cache, and a models folder for test cards."""
    for name in ("weights", "cache", "models"):
        (tmp_path / name).mkdir()
    monkeypatch.setattr(zoo, "weights_dir", lambda: tmp_path / "weights")
    monkeypatch.setattr(zoo, "models_dir", lambda: tmp_path / "models")
    monkeypatch.setenv("POSETRACK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("POSETRACK_OFFLINE", raising=False)  # these tests download (from file:// URLs)
    return tmp_path


def make_card(file="w.pth", sha256="0" * 8, url=None, name="test", ap=None) -> zoo.ModelCard:
    return zoo.ModelCard(name=name, network="mspn", input_size=(192, 256), skeleton="coco17", color="rgb",
                         mean=(1, 2, 3), std=(1, 1, 1), weights=zoo.WeightsSpec(file, sha256, url), coco_ap=ap)


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def test_shipped_cards_match_the_public_table():
    names = zoo.list_cards()
    assert set(PUBLIC) <= set(names) and any(n.startswith("mdpn-") for n in names)
    for name in names:
        card = zoo.load_card(name)
        assert card.name == name
    for name, (url, ap) in PUBLIC.items():
        card = zoo.load_card(name)
        assert card.weights.url == url and url.endswith("/" + card.weights.file)
        assert card.weights.sha256 == url.rsplit("-", 1)[1].split("_")[0]  # the 8 hex digits of the file name
        assert card.coco_ap == ap and card.color == "rgb" and card.input_size == (192, 256)
        assert card.network_args["num_stages"] == int(name.split("-")[1][0])
    assert zoo.load_card("mspn-2x50-coco-megvii").color == "bgr"


def test_unchanged_bundled_paths():
    assert zoo.bundled_path("yolo11n-pose.pt") == zoo.weights_dir() / "yolo11n-pose.pt"
    assert (zoo.models_dir() / "mspn-2x50-coco.yaml").is_file()


def test_data_folders_of_an_installed_wheel(tmp_path, monkeypatch):
    """Outside a checkout the weights and cards come from the packages setuptools maps the folders to. They hold no
    __init__.py, so a wheel installs them as namespace packages: the folder itself must come back, not the text of a
    MultiplexedPath."""
    site = tmp_path / "site"
    (site / "plain_ns_data").mkdir(parents=True)
    (site / "plain_ns_data" / "w.pt").write_bytes(b"w")
    (site / "plain_regular_data").mkdir()
    (site / "plain_regular_data" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(zoo, "_CHECKOUT_ROOT", tmp_path / "no-checkout")
    assert zoo._resource_dir("plain_ns_data", "weights") == site / "plain_ns_data"
    assert (zoo._resource_dir("plain_ns_data", "weights") / "w.pt").read_bytes() == b"w"
    assert zoo._resource_dir("plain_regular_data", "models") == site / "plain_regular_data"
    # neither installed nor in a checkout: the checkout path, which callers report as a missing file
    assert zoo._resource_dir("posetrack_cli_no_such_data", "weights") == tmp_path / "no-checkout" / "weights"


def test_unknown_and_malformed_cards(folders):
    (folders / "models" / "bad.yaml").write_text("name: bad\nnetwork: mspn\n")
    (folders / "models" / "odd.yaml").write_text("name: odd\nnetwork: [\n")
    with pytest.raises(PosetrackError, match="unknown pose model 'nope'.*bad"):
        zoo.load_card("nope")
    with pytest.raises(PosetrackError, match="bad.yaml is malformed"):
        zoo.load_card("bad")
    with pytest.raises(PosetrackError, match="odd.yaml is malformed"):
        zoo.load_card("odd")


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(sha256="xyz"), "8 hex digits"), (dict(file="a/b.pth"), "plain file name"),
    (dict(sha256=None, url="https://x/y.pth"), "needs a sha256"), (dict(sha256=12345678), "quote it"),
])
def test_invalid_weights_specs(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        make_card(**kwargs)


def test_resolution_order_and_sha256_checks(folders):
    digest = write(folders / "cache" / "w.pth", b"cached weights")
    card = make_card(sha256=digest[:8])
    assert zoo.resolve_weights(card) == folders / "cache" / "w.pth"
    folder_digest = write(folders / "weights" / "w.pth", b"bundled weights")
    with pytest.raises(WeightsError, match=r"w.pth: sha256 .* does not match test's"):
        zoo.resolve_weights(card)  # the weights folder comes first, and its file is another one
    assert zoo.resolve_weights(make_card(sha256=folder_digest)) == folders / "weights" / "w.pth"
    explicit = folders / "mine.pth"
    explicit.write_bytes(b"fine-tuned")  # explicit files are taken as they are
    assert zoo.resolve_weights(card, explicit=str(explicit)) == explicit
    with pytest.raises(WeightsError, match="--pose-weights nowhere.pth: file not found"):
        zoo.resolve_weights(card, explicit="nowhere.pth")
    assert zoo.verify_file(explicit, make_card(sha256=None)) == hashlib.sha256(b"fine-tuned").hexdigest()


def test_offline_message_names_file_digest_url_and_option(folders):
    card = make_card(file="2xmspn50.pth", sha256="c8765a5c", url="https://example.org/2xmspn50.pth")
    with pytest.raises(WeightsError) as info:
        zoo.resolve_weights(card)
    message = str(info.value)
    for part in ("2xmspn50.pth", "c8765a5c", "https://example.org/2xmspn50.pth", "--pose-weights PATH",
                 str(folders / "cache")):
        assert part in message
    assert "\n" not in message


def test_download_checks_and_renames_atomically(folders):
    source = folders / "served.bin"
    digest = write(source, b"x" * 3_000_000)
    card = make_card(file="dl.pth", sha256=digest[:8], url=source.as_uri())
    path = zoo.resolve_weights(card, allow_download=True)
    assert path == folders / "cache" / "dl.pth" and path.read_bytes() == source.read_bytes()
    bad = make_card(file="bad.pth", sha256="deadbeef", url=source.as_uri())
    with pytest.raises(WeightsError, match="expected deadbeef; nothing was saved"):
        zoo.resolve_weights(bad, allow_download=True)
    assert sorted(os.listdir(folders / "cache")) == ["dl.pth"]  # no partial files left behind


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
@pytest.mark.parametrize("url", ["https://download.openmmlab.com/x.pth", "file:///no/such/file.pth"])
def test_download_failure_is_one_line(folders, url):
    """Sockets are blocked in the tests (pytest-socket): the same path as a machine without internet."""
    card = make_card(file="x.pth", sha256="c8765a5c", url=url)
    with pytest.raises(WeightsError, match=r"cannot download .*offline\?.*--pose-weights PATH"):
        zoo.resolve_weights(card, allow_download=True)
    assert os.listdir(folders / "cache") == []


def test_auto_card_prefers_the_best_present_model(folders, monkeypatch):
    cards = {"a": make_card(file="a.pth", name="a", ap=0.72), "b": make_card(file="b.pth", name="b", ap=0.76),
             "c": make_card(file="c.pth", name="c", ap=0.80)}
    monkeypatch.setattr(zoo, "list_cards", lambda: sorted(cards))
    monkeypatch.setattr(zoo, "load_card", cards.__getitem__)
    assert zoo.auto_card() is None
    (folders / "cache" / "a.pth").write_bytes(b"a")
    (folders / "weights" / "b.pth").write_bytes(b"b")
    assert zoo.auto_card().name == "b"


def write_card_file(folder: Path, name: str, file: str, sha256, url=None) -> None:
    (folder / f"{name}.yaml").write_text(
        f"name: {name}\nnetwork: mspn\nnetwork_args: {{num_stages: 1}}\ninput_size: [192, 256]\n"
        f"skeleton: coco17\ncolor: rgb\nmean: [1, 2, 3]\nstd: [1, 1, 1]\ncoco_ap: 0.7\n"
        f"weights: {{file: {file}, sha256: {repr(sha256) if sha256 else 'null'}, url: {url or 'null'}}}\n")


def test_weights_cli_list_verify_fetch(folders):
    runner = CliRunner()
    served = folders / "served.bin"
    digest = write(served, b"weights bytes")
    write_card_file(folders / "models", "good", "good.pth", digest[:8], served.as_uri())
    write_card_file(folders / "models", "broken", "broken.pth", "0" * 8)
    write_card_file(folders / "models", "private", "private.pth", None)

    result = runner.invoke(weights, ["list"])
    assert result.exit_code == 0 and "missing: good.pth" in result.output and "0.700" in result.output

    result = runner.invoke(weights, ["fetch", "good"])
    assert result.exit_code == 0 and str(folders / "cache" / "good.pth") in result.output
    result = runner.invoke(weights, ["fetch", "private"])
    assert result.exit_code == 3 and "no public download" in result.output

    (folders / "cache" / "broken.pth").write_bytes(b"something else")
    result = runner.invoke(weights, ["verify"])
    assert result.exit_code == 3
    assert "good: ok" in result.output and "broken: FAILED" in result.output
    result = runner.invoke(weights, ["verify", "good", "private"])
    assert result.exit_code == 3 and "private: missing" in result.output
    assert runner.invoke(weights, ["verify", "good"]).exit_code == 0
    assert str(folders / "cache" / "good.pth") in runner.invoke(weights, ["list"]).output
