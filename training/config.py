"""One experiment = one YAML file under ``training/configs/``, loaded strictly into ``TrainConfig``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tcfd_ros.config_io import load_dataclass
from tcfd_ros.errors import ConfigError
from tcfd_ros.model.config import ModelConfig
from training.augment import PatchExchangeConfig
from training.losses import LossConfig
from training.sampler import SamplerConfig


@dataclass(frozen=True)
class DataConfig:
    """Where the data set is and how it is split."""

    format: Literal["sustech1k", "freegait"] = "sustech1k"
    root: str = "out/sim_dataset"  # data set root (the folder holding the subject folders)
    partition: str = "out/sim_dataset/partition.json"  # partition JSON
    val_identities: int = 0  # the last TRAIN_SET identities (partition order): calibration, never training
    cache_size: int = 4096  # decoded sequences kept in memory (LRU); 0 = read every time


@dataclass(frozen=True)
class OptimConfig:
    """Adam with step decay (the paper: lr 3e-4, x0.1 at 10k and 20k of 25k iterations)."""

    lr: float = 3e-4
    weight_decay: float = 0.0
    milestones: tuple[int, ...] = (10000, 20000)
    gamma: float = 0.1
    grad_clip_norm: float = 10.0  # max global gradient norm; 0 disables clipping (our choice: 10)


@dataclass(frozen=True)
class BaselineConfig:
    """GaitBase-like plain ResNet-9 cross-modal baseline: ResNet-9 -> temporal max -> HPP -> FCs + BNNeck."""

    channels: tuple[int, ...] = (64, 128, 256, 512)
    blocks: tuple[int, ...] = (1, 2, 2, 1)
    strides: tuple[int, ...] = (1, 2, 2, 1)
    stem_stride: int = 2  # same as TCFDNet's bypass so both see the same 8x8 map
    dim: int = 512
    bins: tuple[int, ...] = (1, 2, 4, 8)


@dataclass(frozen=True)
class CalibrationConfig:
    """Open-set threshold: the cross-modal distance below which the recogniser accepts a match."""

    target_fmr: float = 0.01  # false-match rate on held-out identities' impostor pairs
    max_frames: int = 30  # first frames of each held-out sequence used for calibration (0 = all)
    tracklet_frames: int = 10  # frames per calibration tracklet (perception's TrackletConfig.frames)
    tracklet_hop: int = 5  # frames between tracklet starts (perception's TrackletConfig.hop)
    track_tracklets: int = 0  # newest tracklets of a sequence that form a track (the recognizer's
    # identity.track_evidence_tracklets); 0 = all of them
    root: str = ""  # a separate calibration data set (SUSTech1K layout, its TRAIN_SET); "" = the
    # data.val_identities held out of the training set
    partition: str = ""  # its partition JSON ("" = root/partition.json)

    def validate(self) -> None:
        if not 0.0 < self.target_fmr < 1.0:
            raise ConfigError(f"calibration.target_fmr = {self.target_fmr} must lie in (0, 1)")
        if (self.tracklet_frames < 1 or self.tracklet_hop < 1 or self.max_frames < 0
                or self.track_tracklets < 0):
            raise ConfigError(f"calibration.tracklet_frames ({self.tracklet_frames}) and tracklet_hop "
                              f"({self.tracklet_hop}) must be >= 1, max_frames ({self.max_frames}) and "
                              f"track_tracklets ({self.track_tracklets}) >= 0")
        if self.partition and not self.root:
            raise ConfigError("calibration.partition is set but calibration.root is not")


@dataclass(frozen=True)
class EvalConfig:
    """How sequences are embedded for evaluation."""

    max_frames: int = 0  # evenly spaced frames per sequence (0 = all frames, as OpenGait)
    batch_sequences: int = 16  # sequences per forward pass
    sync: bool = True  # SUSTech1K: evaluate on the sync files (False: native-rate files)


@dataclass(frozen=True)
class TrainConfig:
    """A whole experiment: model, data, sampling, augmentation, objective, schedule and bookkeeping."""

    name: str
    architecture: Literal["tcfdnet", "baseline"] = "tcfdnet"
    model: ModelConfig = field(default_factory=ModelConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    data: DataConfig = field(default_factory=DataConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    patch_exchange: PatchExchangeConfig = field(default_factory=PatchExchangeConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    iterations: int = 25000
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = True  # mixed precision on CUDA (ignored on CPU)
    clip_cache: bool = False  # cache frozen-CLIP tokens of every training frame (needs no patch exchange)
    threads: int = 0  # torch intra-op threads (0 = torch's default)
    checkpoint_every: int = 1000
    snapshot_every: int = 0  # also write an uncalibrated model_it<N>.pt every N iterations (0 = never)
    log_every: int = 10
    out_dir: str = "out/train"  # run directory = out_dir/name
    init_from: str = ""  # start from this trained checkpoint's weights (same architecture and model config:
    # a fine-tune; with other training identities the classifier starts anew); "" = random initialisation
    init_from_share: float = 0.0  # with init_from: the final weights are this share of init_from's plus the
    # rest of the fine-tuned ones, before calibration (weight-space ensembling, WiSE-FT: a fine-tune on the
    # pipeline's tracklets keeps the clean data's accuracy; RESULTS.md, "Fine-tuned on the pipeline's own
    # tracklets, half way back"); 0 = the fine-tuned weights as they are

    def validate(self) -> None:
        if self.snapshot_every < 0:
            raise ConfigError(f"snapshot_every = {self.snapshot_every} must be >= 0 (0 = no snapshots)")
        if self.iterations < 1 or self.checkpoint_every < 1 or self.log_every < 1:
            raise ConfigError(f"iterations ({self.iterations}), checkpoint_every ({self.checkpoint_every}) "
                              f"and log_every ({self.log_every}) must be >= 1")
        if self.clip_cache and self.patch_exchange.enabled:
            raise ConfigError("clip_cache: true with patch_exchange.enabled: true: Patch Exchange changes "
                              "CLIP's input, so cached frozen-CLIP tokens would be wrong; disable one")
        if not 0.0 <= self.init_from_share < 1.0:
            raise ConfigError(f"init_from_share = {self.init_from_share} must be in [0, 1) "
                              "(0: the fine-tuned weights as they are)")
        if self.init_from_share > 0.0 and not self.init_from:
            raise ConfigError(f"init_from_share = {self.init_from_share} needs init_from (the weights to go "
                              "back towards)")
        if self.clip_cache and self.architecture != "tcfdnet":
            raise ConfigError("clip_cache: true needs architecture: tcfdnet (the baseline has no CLIP)")

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.name


def load_train_config(path: str | Path) -> TrainConfig:
    """Strictly load one experiment YAML (unknown keys raise with their dotted path)."""
    return load_dataclass(TrainConfig, path)
