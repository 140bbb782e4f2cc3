"""Training configuration: frozen dataclasses parsed from one YAML file (``posetrack train CONFIG.yaml``).

The schedule is data: a list of phases, each naming its datasets, frozen parts, epochs, learning-rate steps and the
epoch OHKM starts. Paper values are the defaults and carry their source; examples/train/*.yaml are the recipes.
Relative paths in the YAML are resolved against the current working directory (as MMPose does).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from posetrack_cli.config import NETWORK_NAMES
from posetrack_cli.errors import InputError, one_line

FORMATS = ("coco", "mpii", "posetrack18")
DEFAULT_DOMAIN = {"coco": "coco", "mpii": "mpii", "posetrack18": "posetrack"}  # dataset format -> MDPN head


class ConfigError(InputError):
    """A training config that cannot be used: unknown key, wrong type, missing dataset, bad value."""


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "mspn"  # "mspn" (posetrack_cli.nets.mspn.MSPN) or "mdpn" (posetrack_cli.nets.mdpn.MDPN)
    num_stages: int = 2  # MSPN stages (paper: 2xMSPN-50 is the 74.5 AP model of Table 2)
    backbone: str = "resnet50"  # MDPN backbone (paper: ResNet-152 at 384x288; ablations ResNet-50 at 256x192)
    domains: tuple[str, ...] = ("coco", "mpii", "posetrack")  # MDPN heads; keypoint counts come from the datasets
    intermediate_skip: bool = False  # MDPN paper 2.2: conv3 intermediate prediction (ResNet-152 model; off for R-50)
    input_size: tuple[int, int] = (192, 256)  # crop (w, h) in pixels (MSPN COCO 256x192; 384x288 in paper 4.5)
    # MSPN size (kind mspn); None keeps nets.mspn.MSPN's MSPN-50 value. Smaller values give a small network for CPU
    # trials (examples/train/tiny.yaml); ``posetrack run`` then needs a model card with the same network_args.
    num_blocks: tuple[int, ...] | None = None  # residual blocks in each of the 4 ResNet layers (ResNet-50: 3, 4, 6, 3)
    unit_channels: int | None = None  # channels of the up-path units and heatmap heads (MSPN-50: 256)
    base_channels: int | None = None  # stem channels; ResNet layer i outputs base x 2^i x 4 (ResNet: 64)
    init_weights: str | None = None  # torchvision ImageNet ResNet state dict; None/missing: random init + warning
    pretrained: str | None = None  # a posetrack/MMPose checkpoint to start from (fine-tuning), loaded strictly
    sync_bn: bool = False  # SyncBatchNorm under torchrun (megvii trained with synchronised BN on 8 GPUs)

    @property
    def heatmap_size(self) -> tuple[int, int]:
        return self.input_size[0] // 4, self.input_size[1] // 4  # both networks predict at stride 4


@dataclass(frozen=True)
class DatasetConfig:
    name: str  # key used by phases and validation
    format: str  # "coco" | "mpii" | "posetrack18"
    annotations: str  # COCO/MPII JSON file; PoseTrack 2018: one JSON or a folder of per-sequence JSONs
    images: str  # folder the file names of the annotation are relative to
    domain: str = ""  # MDPN head trained by this data; "" = from the format (coco, mpii, posetrack)
    weight: float = 1.0  # samples drawn per epoch = weight x people in the file (1.0 = each person once)


@dataclass(frozen=True)
class AugmentConfig:
    scale: tuple[float, float] = (0.7, 1.35)  # MSPN paper 4.2: scaling range 0.7-1.35 (crop size multiplier)
    rotation_deg: float = 45.0  # MSPN paper 4.2: rotation -45..45 degrees
    rotation_prob: float = 0.5  # megvii MSPN code (PROB_ROTATION 0.5); the paper gives no probability
    flip_prob: float = 0.5  # megvii MSPN code (PROB_FLIP 0.5)
    half_body_prob: float = 0.3  # megvii MSPN code (PROB_HALF_BODY 0.3)
    half_body_min_joints: int = 8  # MSPN paper 4.2: "instances with more than eight joints" (megvii code uses 3)
    half_body_extend: tuple[float, float] = (0.6, 0.8)  # megvii: half box w x (1 + U*0.6), h x (1 + U*0.8)
    padding: float = 1.25  # box enlargement before cropping; the same 1.25 as test time (MMPose top-down)


@dataclass(frozen=True)
class TargetConfig:
    kind: str = "mspn"  # "mspn": coarse-to-fine blurred points; "gaussian": one sigma for every output (MDPN)
    kernels_early: tuple[int, ...] = (15, 11, 9, 7)  # MSPN: every non-final stage, coarsest unit first
    kernels_last: tuple[int, ...] = (11, 9, 7, 5)  # MSPN: the final stage (also the only stage of a 1-stage model)
    sigma: float = 2.25  # heatmap px for kind "gaussian"; MDPN paper "sigma 9" read in input px at stride 4 (9/4)
    peak: float = 255.0  # target maximum; MSPN heatmaps are on a 0..255 scale (the decoder divides by 255)


@dataclass(frozen=True)
class LossConfig:
    unit_weight: float = 0.25  # MSPN: MSE of the three coarser units of a stage x 0.25 (megvii and MMPose)
    ohkm_topk: int = 8  # MSPN/MDPN/CPN: OHKM keeps the 8 hardest keypoints per sample


@dataclass(frozen=True)
class PhaseConfig:
    name: str
    datasets: tuple[str, ...]  # names from ``datasets``; mixed: drawn together, shuffled
    epochs: int
    lr: float
    batch_size: int = 32  # per GPU (MSPN: 32/GPU on 8 GPUs; MDPN: 128 in all)
    optimizer: str = "adam"  # Adam in both papers
    weight_decay: float = 0.0  # megvii MSPN 1e-5
    warmup_iters: int = 0  # linear warm-up from lr x warmup_ratio (MMPose: 500 iterations from 0.001)
    warmup_ratio: float = 0.001
    decay: str = "step"  # "step" (lr x gamma at each of lr_steps), "linear" (to 0 at the phase end), "constant"
    lr_steps: tuple[int, ...] = ()  # epochs of this phase at which lr is multiplied by lr_gamma
    lr_gamma: float = 0.1
    frozen: tuple[str, ...] = ()  # state-dict prefixes kept fixed (weights and BN statistics), e.g. "backbone."
    ohkm_from_epoch: int | None = 0  # epoch of this phase the finest unit switches to OHKM; None = never
    val_every: int = 0  # validate every N epochs of this phase (0 = only at the phase end, if validation is set)


@dataclass(frozen=True)
class ValidationConfig:
    dataset: str  # a name from ``datasets`` (no augmentation, ground-truth boxes)
    metric: str = "auto"  # "coco_ap" | "pckh" | "posetrack_map" | "auto" (from the dataset format)
    domain: str = ""  # MDPN head to evaluate; "" = the dataset's domain
    batch_size: int = 64


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig
    datasets: tuple[DatasetConfig, ...]
    phases: tuple[PhaseConfig, ...]
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    validation: ValidationConfig | None = None
    output_dir: str = "runs/train"
    seed: int = 0  # data order and augmentation are derived from (seed, phase, epoch, position): resumable
    workers: int = 4  # DataLoader worker processes per GPU
    amp: bool = True  # fp16 autocast + GradScaler on CUDA (ignored on the CPU)
    device: str = "auto"
    cpu_threads: int = 0  # PyTorch threads for training on the CPU; 0 = PyTorch's default (one per core). 1 suits
    # small networks on shared machines, where the threads of one step wait on each other while other work holds cores
    log_every: int = 50  # iterations between metrics-log lines
    max_iters_per_epoch: int | None = None  # cut epochs short (smoke tests, quick looks); None = whole epoch

    def dataset(self, name: str) -> DatasetConfig:
        for d in self.datasets:
            if d.name == name:
                return d
        raise ConfigError(f"unknown dataset {name!r}; defined: {', '.join(d.name for d in self.datasets)}")

    def domain_of(self, name: str) -> str:
        d = self.dataset(name)
        return d.domain or DEFAULT_DOMAIN[d.format]


def _tupled(value: Any) -> Any:
    return tuple(_tupled(v) for v in value) if isinstance(value, list) else value


def _build(cls, data: Any, where: str, **fixed):
    """A dataclass from a YAML mapping: unknown keys and missing required keys are one-line errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(names))}")
    try:
        return cls(**{k: _tupled(v) for k, v in data.items()}, **fixed)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def parse_config(data: dict) -> TrainConfig:
    """A ``TrainConfig`` from the YAML document (a dict); checks names and values across sections."""
    if not isinstance(data, dict):
        raise ConfigError("training config: expected a YAML mapping at the top level")
    data = dict(data)
    datasets = data.pop("datasets", None)
    if not isinstance(datasets, dict) or not datasets:
        raise ConfigError("training config: 'datasets' must map names to {format, annotations, images}")
    phases = data.pop("phases", None)
    if not isinstance(phases, list) or not phases:
        raise ConfigError("training config: 'phases' must be a non-empty list")
    sections = {"model": ModelConfig, "augment": AugmentConfig, "target": TargetConfig, "loss": LossConfig}
    built = {key: _build(cls, data.pop(key, {}) or {}, key) for key, cls in sections.items()}
    validation = data.pop("validation", None)
    config = _build(
        TrainConfig, data, "training config",
        datasets=tuple(_build(DatasetConfig, v, f"datasets.{k}", name=k) for k, v in datasets.items()),
        phases=tuple(_build(PhaseConfig, p, f"phases[{i}]") for i, p in enumerate(phases)),
        validation=None if validation is None else _build(ValidationConfig, validation, "validation"),
        **built,
    )
    check_config(config)
    return config


def check_config(config: TrainConfig) -> None:
    m = config.model
    if m.kind not in NETWORK_NAMES:
        raise ConfigError(f"model.kind {m.kind!r}: use one of {', '.join(NETWORK_NAMES)}")
    if any(s % 4 for s in m.input_size) or len(m.input_size) != 2:
        raise ConfigError(f"model.input_size {m.input_size}: two sizes (w, h), each a multiple of 4")
    if m.kind == "mdpn" and m.backbone != "mspn" and any(s % 32 for s in m.input_size):
        raise ConfigError(f"model.input_size {m.input_size}: an MDPN ResNet-deconv needs multiples of 32")
    _check_mspn_size(m)
    for d in config.datasets:
        if d.format not in FORMATS:
            raise ConfigError(f"datasets.{d.name}.format {d.format!r}: use one of {', '.join(FORMATS)}")
        if m.kind == "mdpn" and config.domain_of(d.name) not in m.domains:
            raise ConfigError(f"datasets.{d.name}: domain {config.domain_of(d.name)!r} is not in model.domains")
    if config.target.kind not in ("mspn", "gaussian"):
        raise ConfigError(f"target.kind {config.target.kind!r}: use mspn or gaussian")
    for p in config.phases:
        for name in p.datasets:
            config.dataset(name)
        if p.decay not in ("step", "linear", "constant"):
            raise ConfigError(f"phase {p.name}: decay {p.decay!r}: use step, linear or constant")
        if p.optimizer != "adam":
            raise ConfigError(f"phase {p.name}: optimizer {p.optimizer!r}: only adam (both papers) is supported")
        if p.epochs < 1 or p.batch_size < 1 or p.lr <= 0:
            raise ConfigError(f"phase {p.name}: epochs, batch_size and lr must be positive")
    if not isinstance(config.cpu_threads, int) or config.cpu_threads < 0:
        raise ConfigError(f"cpu_threads {config.cpu_threads}: 0 (PyTorch's default) or a positive number")
    if len({p.name for p in config.phases}) != len(config.phases):
        raise ConfigError("phases: names must be unique (checkpoints refer to them)")
    if config.validation is not None:
        config.dataset(config.validation.dataset)
        if config.validation.metric not in ("auto", "coco_ap", "pckh", "posetrack_map"):
            raise ConfigError(f"validation.metric {config.validation.metric!r}: use coco_ap, pckh or posetrack_map")


def _check_mspn_size(m: ModelConfig) -> None:
    sizes = {"num_blocks": m.num_blocks, "unit_channels": m.unit_channels, "base_channels": m.base_channels}
    given = [k for k, v in sizes.items() if v is not None]
    if given and m.kind != "mspn":
        raise ConfigError(f"model.{given[0]}: sets the size of an MSPN; remove it for kind {m.kind}")
    blocks = m.num_blocks
    if blocks is not None and (not isinstance(blocks, tuple) or len(blocks) != 4
                               or not all(isinstance(b, int) and b >= 1 for b in blocks)):
        raise ConfigError(f"model.num_blocks {blocks}: four positive integers (ResNet-50: [3, 4, 6, 3])")
    for key in ("unit_channels", "base_channels"):
        if sizes[key] is not None and (not isinstance(sizes[key], int) or sizes[key] < 1):
            raise ConfigError(f"model.{key} {sizes[key]}: a positive integer")


def load_config(path: str | Path) -> TrainConfig:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({one_line(exc, with_type=False)})") from None
    try:
        return parse_config(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def config_to_dict(config: TrainConfig) -> dict:
    """Plain types (for checkpoint meta and the run folder's config copy)."""
    out = dataclasses.asdict(config)
    out["datasets"] = {d.pop("name"): d for d in out["datasets"]}
    return _listed(out)


def _listed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _listed(v) for k, v in value.items()}
    return [_listed(v) for v in value] if isinstance(value, (list, tuple)) else value
