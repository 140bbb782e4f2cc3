"""``posetrack doctor``: what is installed and whether it works, as sections of checks (the CLI prints them).

Versions of the dependencies, the CPU's vector extensions, the CUDA devices, every bundled file against the sha256
in ``weights/MANIFEST.md``, which pose model cards have their weights, and a two-frame run of the default pipeline
on the bundled clip. A failed check carries one line of what is wrong and one of how to fix it.

The doctor must still run when a dependency is broken, so the dependencies and the pipeline (which imports torch,
OpenCV, ...) are imported inside the checks, never at module level.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from posetrack_cli import zoo
from posetrack_cli.config import PipelineConfig
from posetrack_cli.errors import DependencyError, PosetrackError, dependency_failure
from posetrack_cli.io.cpuinfo import read_cpuinfo
from posetrack_cli.io.download import sha256_of

EXAMPLE_CLIP = Path(__file__).resolve().parents[2] / "examples" / "vtest.avi"  # in a checkout, not in a wheel
SMOKE_FRAMES = 2
# (label, module, distribution to install when the module is missing)
PACKAGES = (("torch", "torch", "torch"), ("torchvision", "torchvision", "torchvision"),
            ("OpenCV", "cv2", "opencv-python"), ("ONNX Runtime", "onnxruntime", "onnxruntime"),
            ("Ultralytics", "ultralytics", "ultralytics"), ("numpy", "numpy", "numpy"))
# /proc/cpuinfo flags behind each extension the networks' kernels can use
CPU_FEATURES = (("AVX2", "avx2"), ("AVX-512", "avx512f"), ("AVX512-VNNI", "avx512_vnni"), ("AVX-VNNI", "avx_vnni"),
                ("AVX512-BF16", "avx512_bf16"), ("AMX", "amx_tile"))


@dataclass(frozen=True)
class Check:
    name: str
    detail: str
    status: str = "ok"  # "ok", "info" (nothing to fix) or "FAIL"
    fix: str = ""  # one sentence, for a failed check

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"


@dataclass(frozen=True)
class Section:
    title: str
    checks: list[Check]


@dataclass(frozen=True)
class ManifestRow:
    file: str
    sha256: str
    source: str  # how to get the file again


def run_checks(weights_folder: Path | None = None, clip: Path | None = EXAMPLE_CLIP,
               smoke: bool = True) -> Iterator[Section]:
    """Every section in turn (the slow ones last); ``weights_folder``: check another folder with its own
    MANIFEST.md instead of the bundled one."""
    yield Section("versions", [python_check(), *(package_check(*p) for p in PACKAGES), ffmpeg_check()])
    yield Section("CPU", cpu_checks())
    yield Section("CUDA", cuda_checks())
    folder = weights_folder or zoo.weights_dir()
    yield Section(f"bundled files ({folder / 'MANIFEST.md'})", bundled_checks(folder))
    yield Section(f"pose models (weights in {zoo.weights_dir()} or {zoo.cache_dir()})", card_checks())
    if smoke:
        yield Section(f"smoke run ({SMOKE_FRAMES} frames of {clip} through the default pipeline, no downloads)",
                      [smoke_check(clip)])


# ------------------------------------------------------------------------------------------------------ versions
def python_check() -> Check:
    return Check("Python", f"{platform.python_version()} ({sys.executable})")


def package_check(label: str, module: str, distribution: str) -> Check:
    """The installed version of ``module``'s distribution, or a failed check naming the package."""
    try:
        imported = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - whatever a broken install raises, it is reported as a line
        found = _distributions(module)
        fix = f"pip install --force-reinstall {found[0][0]}=={found[0][1]}" if found else \
            f"pip install {distribution}"
        return Check(label, f"{module} does not import ({type(exc).__name__}: {exc})".split("\n")[0], "FAIL", fix)
    found = _distributions(module)
    if len(found) > 1:
        names = ", ".join(f"{name} {version}" for name, version in found)
        return Check(label, f"{module} is installed by several packages ({names}); they overwrite each other",
                     "FAIL", f"pip uninstall them all, then pip install {distribution}")
    version = getattr(imported, "__version__", "unknown")
    detail = f"{found[0][0]} {found[0][1]}" if found else f"{module} {version} (no package metadata)"
    if found and str(version) != found[0][1]:
        detail += f" ({module} {version})"
    return Check(label, detail + _extra(module, imported))


def _distributions(module: str) -> list[tuple[str, str]]:
    """(name, version) of every installed distribution that provides the top-level ``module``."""
    names = importlib.metadata.packages_distributions().get(module, [])
    return [(name, importlib.metadata.version(name)) for name in dict.fromkeys(names)]


def _extra(module: str, imported) -> str:
    """What else matters about a package: torch's CUDA build, ONNX Runtime's execution providers."""
    if module == "torch":
        return f", CUDA build {imported.version.cuda}" if imported.version.cuda else ", CPU-only build"
    if module == "onnxruntime":
        return f", providers {', '.join(imported.get_available_providers())}"
    return ""


def ffmpeg_check() -> Check:
    """imageio-ffmpeg's binary and its version (H.264 overlays with audio; without it overlays are mp4v)."""
    try:
        import imageio_ffmpeg

        exe, version = imageio_ffmpeg.get_ffmpeg_exe(), imageio_ffmpeg.get_ffmpeg_version()
    except Exception as exc:  # noqa: BLE001 - ImportError, RuntimeError (no binary), OSError
        return Check("ffmpeg", f"imageio-ffmpeg has no ffmpeg ({type(exc).__name__}: {exc})".split("\n")[0],
                     "FAIL", "pip install --force-reinstall imageio-ffmpeg (without it overlays are mp4v, no audio)")
    return Check("ffmpeg", f"{version} ({exe}, imageio-ffmpeg {importlib.metadata.version('imageio-ffmpeg')})")


# ------------------------------------------------------------------------------------------------ CPU and CUDA
def cpu_checks(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[Check]:
    model, flags = read_cpuinfo(cpuinfo)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if flags is None:
        features = f"unknown (no CPU flags in {cpuinfo}: not Linux)"
    else:
        features = ", ".join(f"{name} {'yes' if flag in flags else 'no'}" for name, flag in CPU_FEATURES)
    checks = [Check("model", f"{model}, {cores} cores usable"), Check("features", features, "info")]
    try:
        import torch

        checks.append(Check("torch kernels", torch.backends.cpu.get_cpu_capability(), "info"))
    except Exception:  # noqa: BLE001 - a broken torch is reported under versions
        pass
    return checks


def cuda_checks() -> list[Check]:
    try:
        import torch

        if not torch.cuda.is_available():
            return [Check("devices", "none (runs on the CPU)", "info")]
        return [Check(f"cuda:{i}", _cuda_device(torch, i)) for i in range(torch.cuda.device_count())]
    except Exception as exc:  # noqa: BLE001 - a driver or CUDA library problem
        return [Check("devices", f"torch.cuda fails ({type(exc).__name__}: {exc})".split("\n")[0], "FAIL",
                      "check the NVIDIA driver against torch's CUDA build (see versions), or use --device cpu")]


def _cuda_device(torch, index: int) -> str:
    props = torch.cuda.get_device_properties(index)
    return f"{props.name}, {props.total_memory / 2 ** 30:.0f} GiB, compute capability {props.major}.{props.minor}"


# --------------------------------------------------------------------------------------------- bundled files
def read_manifest(path: Path) -> list[ManifestRow]:
    """The rows of the Markdown table(s) in ``path`` whose header has a ``file`` and a ``sha256`` column."""
    rows, columns = [], None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip().startswith("|"):
            columns = None  # a table ends at the first line that is not a row
            continue
        cells = [cell.strip().strip("`").strip() for cell in line.strip().strip("|").split("|")]
        names = [cell.lower() for cell in cells]
        if columns is None:
            if "file" in names and "sha256" in names:
                columns = (names.index("file"), names.index("sha256"), names.index("source") if "source" in names
                           else None)
            continue
        if all(re.fullmatch(r":?-+:?", cell) for cell in cells) or len(cells) <= max(c or 0 for c in columns):
            continue  # the separator line, or a row too short to hold the columns
        source = cells[columns[2]] if columns[2] is not None else "the source the MANIFEST names"
        rows.append(ManifestRow(cells[columns[0]], cells[columns[1]].lower(), source.replace("`", "")))
    return rows


def bundled_checks(folder: Path) -> list[Check]:
    """Each file the MANIFEST lists: present and of its sha256; files it does not list are noted."""
    manifest = folder / "MANIFEST.md"
    if not manifest.is_file():
        return [Check("MANIFEST.md", f"missing from {folder}", "FAIL", "reinstall posetrack-cli")]
    rows = read_manifest(manifest)
    if not rows:
        return [Check("MANIFEST.md", "has no table with file and sha256 columns", "FAIL", "reinstall posetrack-cli")]
    checks = [_bundled_check(folder / row.file, row) for row in rows]
    listed = {row.file for row in rows}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name not in listed and not path.name.startswith(("MANIFEST", ".", "_")):
            checks.append(Check(path.name, "not listed in MANIFEST.md (not checked)", "info"))
    return checks


def _bundled_check(path: Path, row: ManifestRow) -> Check:
    if not re.fullmatch(r"[0-9a-f]{8,64}", row.sha256):
        return Check(row.file, f"MANIFEST.md gives no sha256 for it ({row.sha256!r})", "FAIL",
                     "restore MANIFEST.md (reinstall posetrack-cli)")
    if not path.is_file():
        return Check(row.file, f"missing from {path.parent}", "FAIL", f"get it again: {row.source}")
    digest = sha256_of(path)
    if not digest.startswith(row.sha256):
        return Check(row.file, f"sha256 mismatch: the file has {digest[:12]}..., MANIFEST.md says "
                               f"{row.sha256[:12]}... (damaged or replaced)", "FAIL", f"get it again: {row.source}")
    return Check(row.file, f"sha256 {digest[:12]}... as in MANIFEST.md")


# ----------------------------------------------------------------------------------------------- model cards
def card_checks() -> list[Check]:
    """Every model card: its weights present and intact, or where to get them; then what ``--pose auto`` runs."""
    checks = []
    for name in zoo.list_cards():
        try:
            card = zoo.load_card(name)
            path = zoo.locate_weights(card)
            if path is not None:
                zoo.verify_file(path, card)
        except PosetrackError as exc:
            checks.append(Check(name, str(exc), "FAIL", "see models/README.md"))
            continue
        checks.append(Check(name, f"present: {path}") if path else Check(name, _absent(card), "info"))
    try:
        auto = zoo.auto_card()
    except PosetrackError:
        return checks  # a malformed card, reported above
    how = "offline: yolo-crop" if zoo.is_offline() else f"the first online run downloads {zoo.DEFAULT_CARD}"
    checks.append(Check("--pose auto", f"runs {auto.name}" if auto else f"no MSPN/MDPN weights present; {how}",
                        "info"))
    return checks


def _absent(card: zoo.ModelCard) -> str:
    if zoo.weights_url(card):
        return f"absent ({card.weights.file}): `posetrack weights fetch {card.name}`"
    return f"absent ({card.weights.file}), no public download: {card.weights.source or 'see models/README.md'}"


# ------------------------------------------------------------------------------------------------ smoke run
def smoke_config() -> PipelineConfig:
    """The default pipeline on a few frames, never downloading (the doctor only looks)."""
    return PipelineConfig(max_frames=SMOKE_FRAMES, offline=True)


def smoke_check(clip: Path | None, config: PipelineConfig | None = None) -> Check:
    """Build the stages and track the first frames of ``clip`` into a temporary folder, timed."""
    if clip is None or not clip.is_file():
        return Check("run", f"skipped: no example clip at {clip} (a wheel install ships none)", "info")
    config = config or smoke_config()
    start = time.perf_counter()
    try:
        from posetrack_cli.pipeline import build_stages, run_video

        with tempfile.TemporaryDirectory(prefix="posetrack-doctor-") as tmp:
            stages = build_stages(config)
            result = run_video(clip, Path(tmp) / "tracks.json", stages)
    except Exception as exc:  # noqa: BLE001 - every failure becomes the check's line
        return _run_failure(exc)
    models = stages.models()
    return Check("run", f"{result.frames} frames in {time.perf_counter() - start:.1f} s with models loaded "
                        f"(detectors {'+'.join(models['detectors'])}, pose {models['pose']}), {result.people} people")


def _run_failure(exc: Exception) -> Check:
    error = exc if isinstance(exc, DependencyError) else dependency_failure(exc)
    if error is not None:
        fix = "; or ".join(part for part in (error.hint, f"install a release of {error.package or 'it'} that "
                                                         "has it") if part)
        return Check("run", error.what, "FAIL", fix)
    if isinstance(exc, PosetrackError):
        return Check("run", str(exc), "FAIL", "as the message says")
    return Check("run", f"{type(exc).__name__}: {exc}".split("\n")[0], "FAIL",
                 "a bug: rerun `posetrack -vv run examples/vtest.avi --out /tmp/t.json --max-frames 2` and report it")
