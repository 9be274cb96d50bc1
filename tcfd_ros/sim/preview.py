"""A PNG contact sheet of simulated silhouettes and depth maps, to check at a glance that they look
like SUSTech1K's (aligned 64x64 silhouettes; jet depth maps with near = red, far = blue)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tcfd_ros.errors import ConfigError
from tcfd_ros.sim.dataset import DatasetSpec, Rig, simulate_sequence

#: Pixels of one tile (a 64x64 map upscaled x2) and of the row label strip.
TILE_PX = 128
LABEL_PX = 150


def contact_sheet(identities: tuple[int, ...] = (0, 1, 2), views: tuple[int, ...] = (0, 90),
                  conditions: tuple[str, ...] = ("nm", "bg", "cl", "ub"), frames_per_row: int = 4,
                  seed: int = 0, lidar: str = "os128") -> np.ndarray:
    """BGR image: one row per (identity, view, condition) with silhouettes then depth maps."""
    spec = DatasetSpec(out=Path("unused"), identities=max(max(identities) + 1, 2), views=views,
                       conditions=conditions, frames=max(frames_per_row * 3, 6), seed=seed, lidar=lidar)
    spec.validate()
    rig = Rig(spec)
    rows = []
    for pid in identities:
        for view in views:
            for ci, cond in enumerate(conditions):
                res = simulate_sequence(spec, rig, pid, ci + 1, f"01-{cond}", cond, view)
                pick = np.linspace(0, spec.frames - 1, frames_per_row).astype(int)
                tiles = []
                for i in pick:
                    s = res["sils"][i]
                    tiles.append(cv2.cvtColor(s if s is not None else np.zeros((64, 64), np.uint8),
                                              cv2.COLOR_GRAY2BGR))
                for i in pick:
                    d = res["depths"][i]
                    rgb = d.transpose(1, 2, 0) if d is not None else np.zeros((64, 64, 3), np.uint8)
                    tiles.append(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                strip = np.concatenate([cv2.resize(t, (TILE_PX, TILE_PX), interpolation=cv2.INTER_NEAREST)
                                        for t in tiles], axis=1)
                label = np.full((TILE_PX, LABEL_PX, 3), 255, np.uint8)
                for k, text in enumerate((f"id {pid:04d}", f"view {view:03d}", f"cond {cond}")):
                    cv2.putText(label, text, (6, 30 + 34 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2)
                row = np.concatenate([label, strip], axis=1)
                row[-2:] = 128
                rows.append(row)
    return np.concatenate(rows, axis=0)


def write_preview(out: Path, **kwargs) -> Path:
    """Render the contact sheet and write it as PNG (the parent folder must exist or be creatable)."""
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"preview output must end in .png, got {out}")
    sheet = contact_sheet(**kwargs)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create {out.parent}: {e}") from e
    tmp = out.with_name(f".{out.name}.tmp.png")
    if not cv2.imwrite(str(tmp), sheet):
        raise ConfigError(f"cannot write {out}")
    tmp.replace(out)
    return out


__all__ = ["contact_sheet", "write_preview"]
