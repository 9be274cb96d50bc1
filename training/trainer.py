"""The training loop: paired cross-modal P x K batches, TCFDNet's objective, exact resume, DDP.

One ``Trainer`` per process. Under ``torchrun`` (``WORLD_SIZE`` > 1) it joins a process group (gloo on
CPU, NCCL on CUDA), wraps the model in DDP and lets rank 0 alone write logs and checkpoints. Resume
restores model, optimiser, scheduler, AMP scaler, sampler and RNG state, so a resumed run continues
with exactly the batches (and, on CPU, the parameters) an uninterrupted run would have had.

CPU practicality (``clip_cache``): the frozen CLIP tower is deterministic given its input, so when no
augmentation touches CLIP's input (Patch Exchange off) its tokens for every training frame are computed
once, kept in memory as float16 and indexed per batch, which removes the CLIP forward from every
iteration after the first visit of a sequence.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from tcfd_ros.config_io import to_dict
from tcfd_ros.errors import CheckpointError, ConfigError
from tcfd_ros.model.preprocess import frames_to_input
from tcfd_ros.progress import progress
from training.augment import patch_exchange
from training.calibrate import calibrate_levels
from training.checkpoints import save_trained
from training.config import TrainConfig
from training.datasets import FreeGait, GaitDataset, SUSTech1K
from training.embed import embed_pair_tracklets
from training.losses import total_loss
from training.sampler import CrossModalPKSampler, frame_indices

log = logging.getLogger(__name__)

STATE_FILE = "train_state.pt"
MODEL_FILE = "model.pt"
LOG_FILE = "log.csv"
#: Parameters sized by the number of training identities (BNNeck's classifier): a fine-tune on other
#: identities (``init_from``) re-initialises them and takes every other weight from the checkpoint.
CLASSIFIER_KEYS = ("bnneck.classifier.weight",)


def open_dataset(fmt: str, root: str, partition: str, split: str, sync: bool, cache_size: int) -> GaitDataset:
    """A data set in SUSTech1K's layout (which the synthetic set uses too) or FreeGait's."""
    if fmt == "sustech1k":
        return SUSTech1K(root, partition, split=split,  # type: ignore[arg-type]
                         sync=sync, cache_size=cache_size)
    return FreeGait(root, partition, split=split, cache_size=cache_size)  # type: ignore[arg-type]


def build_dataset(cfg: TrainConfig, split: str, sync: bool = True) -> GaitDataset:
    """The configured data set (``cfg.data``)."""
    d = cfg.data
    return open_dataset(d.format, d.root, d.partition, split, sync, d.cache_size)


def split_held_out(ds: GaitDataset, val_identities: int) -> tuple[list[int], list[int]]:
    """Record indices for training and for calibration: the last ``val_identities`` subjects in the
    partition file's order (``ds.subjects``), so identities added in front of TRAIN_SET
    (``training/harvest.py``) leave the held-out ones as they were."""
    present = {r.subject for r in ds.records}
    subjects = [s for s in ds.subjects if s in present]
    if val_identities >= len(subjects) - 1:
        raise ConfigError(f"data.val_identities = {val_identities} leaves fewer than 2 of the "
                          f"{len(subjects)} training identities for training")
    held = set(subjects[len(subjects) - val_identities:]) if val_identities > 0 else set()
    train = [i for i, r in enumerate(ds.records) if r.subject not in held]
    val = [i for i, r in enumerate(ds.records) if r.subject in held]
    return train, val


def build_model(cfg: TrainConfig, num_classes: int) -> nn.Module:
    """TCFDNet (with its head sized to the training identities) or the ResNet-9 baseline."""
    if cfg.architecture == "baseline":
        from training.baseline import ResNet9Baseline
        return ResNet9Baseline(cfg.baseline, num_classes)
    from tcfd_ros.model import TCFDNet
    mcfg = dataclasses.replace(cfg.model, head=dataclasses.replace(cfg.model.head, num_classes=num_classes))
    return TCFDNet(mcfg)


def same_recipe(trained: dict[str, Any], ours: dict[str, Any], defaults: dict[str, Any]) -> bool:
    """Whether config ``ours`` is the one a run was ``trained`` with, the calibration section aside. A key
    the run's record lacks (a field added to the config since) matches when ours has its default."""
    def same(t: dict[str, Any], o: dict[str, Any], d: dict[str, Any]) -> bool:
        for k, v in o.items():
            if k not in t:
                if v != d.get(k):
                    return False
            elif isinstance(v, dict) and isinstance(t[k], dict):
                if not same(t[k], v, d.get(k) if isinstance(d.get(k), dict) else {}):
                    return False
            elif t[k] != v:
                return False
        return set(t) <= set(o)
    skip = ("calibration",)
    return same({k: v for k, v in trained.items() if k not in skip},
                {k: v for k, v in ours.items() if k not in skip}, defaults)


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda requested but CUDA is not available; use device: cpu or auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def calibrate_model(model: nn.Module, ds: GaitDataset, val_idx: list[int], cfg: TrainConfig,
                    device: torch.device | str = "cpu") -> dict[str, Any]:
    """Embed the held-out records' tracklets in both modalities and calibrate both levels."""
    c = cfg.calibration
    f2, f3, labels, seq_of = embed_pair_tracklets(model, ds, val_idx, c.tracklet_frames, c.tracklet_hop,
                                                  c.max_frames, cfg.eval.batch_sequences, device)
    out = calibrate_levels(f2, f3, labels, seq_of, c.target_fmr, c.track_tracklets)
    out["calibration_data"] = c.root or f"{cfg.data.root}: last {cfg.data.val_identities} training identities"
    out["calibration_track_tracklets"] = c.track_tracklets
    return out


def calibration_set(cfg: TrainConfig) -> GaitDataset:
    """The separate calibration data set of ``cfg.calibration.root`` (its TRAIN_SET identities)."""
    c = cfg.calibration
    partition = c.partition or str(Path(c.root) / "partition.json")
    return open_dataset(cfg.data.format, c.root, partition, "train", sync=True, cache_size=0)


class Trainer:
    """Trains one experiment; ``run()`` returns the path of the final model checkpoint (rank 0)."""

    def __init__(self, cfg: TrainConfig, resume: bool = False, show_progress: bool | None = None) -> None:
        self.cfg = cfg
        self.resume = resume
        self.show_progress = show_progress
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.device = resolve_device(cfg.device)
        if self.world_size > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        self.run_dir = cfg.run_dir
        self._clip_cache: dict[tuple[int, str], np.ndarray] = {}

    # ---- setup -------------------------------------------------------------------------------------
    def _setup(self) -> None:
        cfg = self.cfg
        if cfg.threads > 0:
            torch.set_num_threads(cfg.threads)
        if self.world_size > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        self.ds = build_dataset(cfg, "train")
        self.train_idx, self.val_idx = split_held_out(self.ds, cfg.data.val_identities)
        labels = [self.ds.records[i].subject for i in self.train_idx]
        self.sampler = CrossModalPKSampler(labels, cfg.sampler, seed=cfg.seed, rank=self.rank,
                                           world_size=self.world_size)
        self.num_classes = len(self.sampler.classes)
        # channels-last (NHWC) convolutions: the same model up to float rounding, a quarter less time per
        # step of the reference recipe on CPU (oneDNN's NHWC kernels; RESULTS.md, "Channels-last training").
        # Checkpoints load into a default-layout model as before (load_state_dict copies).
        self.model = build_model(cfg, self.num_classes).to(self.device, memory_format=torch.channels_last)
        if cfg.init_from and not self.resume:
            self._init_weights(Path(cfg.init_from))
        self.net: nn.Module = self.model
        if self.world_size > 1:
            # every variant (ablations build only the modules they use) and the baseline use every
            # parameter in every iteration, so DDP need not search the graph for unused ones
            self.net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=False)
        params = [p for p in self.model.parameters() if p.requires_grad]
        o = cfg.optim
        self.optimizer = torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, list(o.milestones), o.gamma)
        self.use_amp = cfg.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.start_iteration = 0
        if self.resume:
            self._load_state()

    def _init_weights(self, path: Path) -> None:
        """Copy a trained checkpoint's weights into the fresh model (a fine-tune of that model)."""
        from training.checkpoints import load_trained

        trained, meta, arch = load_trained(path)
        if arch != self.cfg.architecture:
            raise ConfigError(f"init_from: {path} is a {arch} checkpoint, this config trains a "
                              f"{self.cfg.architecture}")
        state = trained.state_dict()
        ours = self.model.state_dict()
        fresh = {k: state[k].shape[-1] for k in CLASSIFIER_KEYS
                 if k in state and k in ours and state[k].shape != ours[k].shape}
        for k in fresh:  # other identities: the per-identity classifier cannot carry over, it starts anew
            state[k] = ours[k]
        try:
            self.model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise ConfigError(f"init_from: {path} does not fit this config's model (the model section "
                              f"must match): {first}") from e
        for k, theirs in fresh.items():
            log.info("init_from: %s was trained on %d identities, this data set has %d: the classifier "
                     "starts from random weights", path, theirs, ours[k].shape[-1])
        log.info("initialised from %s (%s iterations)", path, meta.get("train_iterations", "?"))

    @torch.no_grad()
    def _go_back_towards_init(self, path: Path, share: float) -> None:
        """Every float weight and buffer becomes ``share`` x ``path``'s plus the rest of the fine-tuned one
        (weight-space ensembling: both lie in one basin, so the mixture keeps what each is good at); a
        tensor the checkpoint lacks or shapes otherwise (the per-identity classifier of other identities)
        and integer counters stay the fine-tuned ones."""
        from training.checkpoints import load_trained

        start = load_trained(path)[0].state_dict()
        mixed = 0
        for k, v in self.model.state_dict().items():
            s = start.get(k)
            if s is not None and s.shape == v.shape and v.is_floating_point():
                v.copy_(share * s.to(v.device, v.dtype) + (1.0 - share) * v)
                mixed += 1
        log.info("init_from_share %.2f: %d tensors moved that share back towards %s", share, mixed, path)

    # ---- state -------------------------------------------------------------------------------------
    def _state(self, iteration: int) -> dict[str, Any]:
        return {
            "iteration": iteration,
            "config": to_dict(self.cfg),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "sampler": self.sampler.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]),
                    "python_version": random.getstate()[0], "python_gauss": random.getstate()[2]},
        }

    def _save_state(self, iteration: int) -> None:
        if self.rank != 0:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.run_dir / (STATE_FILE + ".tmp")
        torch.save(self._state(iteration), tmp)
        tmp.replace(self.run_dir / STATE_FILE)  # atomic: a crash never leaves a half-written state

    def _save_snapshot(self, iteration: int) -> None:
        """model_it<N>.pt: the network at iteration N for learning curves (no calibrated threshold)."""
        if self.rank != 0:
            return
        meta = {"train_iterations": iteration, "experiment": self.cfg.name, "snapshot": True,
                "train_identities": self.num_classes}
        save_trained(self.run_dir / f"model_it{iteration}.pt", self.model, self.cfg, meta)

    def _load_state(self) -> None:
        path = self.run_dir / STATE_FILE
        if not path.is_file():
            raise CheckpointError(f"--resume: no training state at {path}; start without --resume")
        try:
            st = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as e:  # torch raises many types for a corrupt file
            raise CheckpointError(f"{path}: cannot read training state ({type(e).__name__}: {e})") from e
        if st.get("config") != to_dict(self.cfg):
            raise CheckpointError(f"{path} was written with a different config; resume needs the same "
                                  "config file (start a new run name to change it)")
        self.model.load_state_dict(st["model"])
        self.optimizer.load_state_dict(st["optimizer"])
        self.scheduler.load_state_dict(st["scheduler"])
        self.scaler.load_state_dict(st["scaler"])
        self.sampler.load_state_dict(st["sampler"])
        rng = st["rng"]
        torch.set_rng_state(rng["torch"].cpu())
        random.setstate((rng["python_version"], tuple(rng["python"]), rng["python_gauss"]))
        self.start_iteration = int(st["iteration"])
        log.info("resumed %s at iteration %d", self.run_dir, self.start_iteration)

    # ---- batches -----------------------------------------------------------------------------------
    def _clip_tokens(self, ds_index: int, modality: str, frames: np.ndarray) -> np.ndarray:
        key = (ds_index, modality)
        if key not in self._clip_cache:
            x = torch.from_numpy(frames_to_input(frames, modality))[None].to(self.device)
            with torch.no_grad():
                feats = self.model.clip_features(x)
            self._clip_cache[key] = feats.tokens[0].to(torch.float16).cpu().numpy()  # [T, 1+o, c_clip]
        return self._clip_cache[key]

    def batch(self, iteration: int) -> dict[str, Any]:
        """Inputs of one iteration for this rank: x [2n, t, 3, 64, 64], modality, labels (+ CLIP tokens)."""
        plan = self.sampler.plan(iteration)
        rng = np.random.default_rng(list(plan.rng_seed))
        x2, x3, tok2, tok3 = [], [], [], []
        for r in plan.records:
            ds_i = self.train_idx[r]
            sil, dep = self.ds.load_pair(ds_i)
            idx = frame_indices(sil.shape[0], self.cfg.sampler.frames, self.cfg.sampler.order, rng)
            x2.append(frames_to_input(sil[idx], "2d"))
            x3.append(frames_to_input(dep[idx], "3d"))
            if self.cfg.clip_cache:
                tok2.append(self._clip_tokens(ds_i, "2d", sil)[idx])
                tok3.append(self._clip_tokens(ds_i, "3d", dep)[idx])
        t2, t3 = torch.from_numpy(np.stack(x2)), torch.from_numpy(np.stack(x3))
        t2, t3, _ = patch_exchange(t2, t3, self.cfg.patch_exchange, rng)
        n = t2.shape[0]
        labels = torch.tensor(plan.labels, dtype=torch.int64)
        out = {"x": torch.cat([t2, t3]).to(self.device),
               "modality": torch.cat([torch.zeros(n, dtype=torch.int64), torch.ones(n, dtype=torch.int64)]
                                     ).to(self.device),
               "labels": torch.cat([labels, labels]).to(self.device)}
        if self.cfg.clip_cache:
            tokens = torch.from_numpy(np.concatenate([np.stack(tok2), np.stack(tok3)])).float()
            out["clip_tokens"] = tokens.to(self.device)
        return out

    def _forward(self, b: dict[str, Any]) -> Any:
        if "clip_tokens" in b:
            from tcfd_ros.model import ClipFeatures
            return self.net(b["x"], b["modality"], clip_feats=ClipFeatures(tokens=b["clip_tokens"]))
        return self.net(b["x"], b["modality"])

    # ---- loop --------------------------------------------------------------------------------------
    def train_steps(self, until: int | None = None) -> dict[str, float]:
        """Run iterations from the current state up to ``until`` (default: the configured total)."""
        cfg = self.cfg
        end = cfg.iterations if until is None else min(until, cfg.iterations)
        self.model.train()
        diag: dict[str, float] = {}
        # a bar on a terminal, a line with iteration, loss and ETA every LINE_PERIOD_S in a log (rank 0)
        disable = self.rank != 0 or self.show_progress is False
        bar = progress(range(self.start_iteration, end), initial=self.start_iteration, total=end,
                       disable=disable, desc=f"train {cfg.name}", unit="it")
        t0 = time.perf_counter()
        for it in bar:
            b = self.batch(it)
            with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp):
                out = self._forward(b)
                loss, diag = total_loss(out, b["labels"], b["modality"], cfg.loss)
            if not torch.isfinite(loss):
                raise ConfigError(f"iteration {it}: loss is {loss.item()} ({diag}); lower optim.lr or "
                                  "enable gradient clipping")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if cfg.optim.grad_clip_norm > 0:
                self.scaler.unscale_(self.optimizer)
                diag["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(
                    [p for p in self.model.parameters() if p.requires_grad], cfg.optim.grad_clip_norm))
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            self.sampler.iteration = it + 1
            done = it + 1
            if done % cfg.log_every == 0 or done == end:
                row = {"iteration": done, "lr": self.scheduler.get_last_lr()[0],
                       "seconds": round(time.perf_counter() - t0, 3), **diag}
                self._append_log([row])
                bar.set_postfix(loss=f"{diag['loss']:.3f}", tri=f"{diag['triplet']:.3f}",
                                lr=f"{self.scheduler.get_last_lr()[0]:.2e}")
            if done % cfg.checkpoint_every == 0 or done == end:
                self._save_state(done)
            if cfg.snapshot_every and done % cfg.snapshot_every == 0 and done < cfg.iterations:
                self._save_snapshot(done)
            self.start_iteration = done
        bar.close()
        return diag

    def _append_log(self, rows: list[dict[str, Any]]) -> None:
        if self.rank != 0 or not rows:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / LOG_FILE
        fields = list(rows[0])
        new = not path.is_file()
        if not new:
            with path.open(newline="") as f:
                header = next(csv.reader(f), None)
            fields = header or fields
        with path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerows(rows)

    def calibrate(self) -> dict[str, Any]:
        """Open-set thresholds per tracklet and per track on ``calibration.root``'s identities or else the
        held-out training identities (empty dict when neither exists); ``training.calibrate`` says how
        tracklets and tracks are formed."""
        if self.cfg.calibration.root:
            ds = calibration_set(self.cfg)
            return calibrate_model(self.model, ds, list(range(len(ds))), self.cfg, self.device)
        if not self.val_idx:
            log.warning("data.val_identities = 0: no held-out identities, the checkpoint gets no "
                        "calibrated open-set threshold")
            return {}
        return calibrate_model(self.model, self.ds, self.val_idx, self.cfg, self.device)

    def calibrate_only(self) -> Path:
        """Recalibrate the finished run's model.pt with this config's ``calibration`` section, no training.

        The run must have been trained with this config apart from ``calibration`` (checked)."""
        from training.checkpoints import load_trained, trained_config

        path = self.run_dir / MODEL_FILE
        model, meta, _ = load_trained(path)
        if not same_recipe(trained_config(path), to_dict(self.cfg),
                           to_dict(TrainConfig(name=self.cfg.name))):
            raise ConfigError(f"--calibrate-only: {path} was trained with a different config (only the "
                              "calibration section may differ)")
        if self.cfg.threads > 0:
            torch.set_num_threads(self.cfg.threads)
        self.model = model
        if not self.cfg.calibration.root:
            self.ds = build_dataset(self.cfg, "train")
            self.val_idx = split_held_out(self.ds, self.cfg.data.val_identities)[1]
        stale = ("open_set_", "genuine_accept_rate", "calibration_")
        keep = {k: v for k, v in meta.items() if not k.startswith(stale)}
        keep.update(self.calibrate())
        save_trained(path, model, self.cfg, keep)
        log.info("recalibrated %s", path)
        return path

    def run(self) -> Path | None:
        """Set up, train to the end, calibrate and write the final checkpoint (rank 0)."""
        self._setup()
        t0 = time.perf_counter()
        start = self.start_iteration
        self.train_steps()
        train_s = time.perf_counter() - t0
        path = None
        if self.rank == 0:
            meta: dict[str, Any] = {"train_iterations": self.cfg.iterations, "train_seconds_this_run":
                                    round(train_s, 1), "resumed_from": start, "experiment": self.cfg.name,
                                    "world_size": self.world_size, "train_identities": self.num_classes}
            if self.cfg.init_from_share > 0.0:
                self._go_back_towards_init(Path(self.cfg.init_from), self.cfg.init_from_share)
                meta["init_from_share"] = self.cfg.init_from_share
            meta.update(self.calibrate())
            path = self.run_dir / MODEL_FILE
            save_trained(path, self.model, self.cfg, meta)
            log.info("wrote %s (%.1f s training)", path, train_s)
        if self.world_size > 1:
            dist.barrier()
            dist.destroy_process_group()
        return path
