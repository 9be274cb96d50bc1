"""Difficulty of the synthetic data set: nearest neighbour on mean templates must not saturate.

Templates: the mean aligned silhouette (camera, file 06/14), the mean jet depth map (LiDAR, 01/09)
and the mean LiDAR silhouette (occupancy of the depth maps, 02/10) of each sequence. Protocol as for
SUSTech1K (training/retrieval_metrics.py): test identities, gallery ``00-nm``, probes ``01-*``, cross-view
(same-view pairs excluded), cosine distance. Cross-modal: camera silhouette templates against LiDAR
silhouette templates (both binary shape maps, so nearest neighbour between them is meaningful).
Usage:
    .venv/bin/python benchmarks/sim_difficulty.py --root out/bench_ds
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from tcfd_ros.distance import cross_modal_distance
from tcfd_ros.safe_pickle import safe_load
from tcfd_ros.sim.dataset import GALLERY_SEQ, file_names
from training.retrieval_metrics import SUSTECH1K_CONDITIONS, evaluate_cross_modal


def templates(root: Path, ids: list[str]) -> dict[str, dict[str, np.ndarray]]:
    rows: dict[str, list] = {"sil": [], "depth": [], "lsil": [], "labels": [], "conditions": [], "views": []}
    for pid in ids:
        for seq in sorted(p for p in (root / pid).iterdir() if p.is_dir()):
            for view in sorted(p for p in seq.iterdir() if p.is_dir()):
                n = file_names(view.name)
                sil = safe_load(view / n["sync_sil"]).astype(np.float32) / 255.0
                depth = safe_load(view / n["sync_depth"]).astype(np.float32) / 255.0
                lsil = safe_load(view / n["sync_lidar_sil"]).astype(np.float32) / 255.0
                rows["sil"].append(sil.mean(axis=0).reshape(1, -1))
                rows["depth"].append(depth.mean(axis=0).reshape(1, -1))
                rows["lsil"].append(lsil.mean(axis=0).reshape(1, -1))
                rows["labels"].append(int(pid))
                rows["conditions"].append(seq.name)
                rows["views"].append(view.name)
    out = {k: np.stack(v) for k, v in rows.items() if k in ("sil", "depth", "lsil")}
    out.update({k: np.array(rows[k]) for k in ("labels", "conditions", "views")})
    return out


def side(t: dict, mask: np.ndarray, key: str) -> dict:
    return {"features": t[key][mask], "labels": t["labels"][mask], "conditions": t["conditions"][mask],
            "views": t["views"][mask]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--root", type=Path, required=True)
    args = ap.parse_args()
    part = json.loads((args.root / "partition.json").read_text())
    t = templates(args.root, part["TEST_SET"])
    gal = t["conditions"] == GALLERY_SEQ
    probe = ~gal
    groups = {k: v for k, v in SUSTECH1K_CONDITIONS.items()
              if any(any(s in c for s in v) for c in set(t["conditions"][probe].tolist()))}
    result = {"benchmark": "sim_difficulty", "test_identities": len(part["TEST_SET"]),
              "probe_sequences": int(probe.sum()), "gallery_sequences": int(gal.sum())}
    for name, pkey, gkey in (("2d->2d silhouette", "sil", "sil"), ("3d->3d depth map", "depth", "depth"),
                             ("2d->3d sil vs LiDAR sil", "sil", "lsil"), ("3d->2d LiDAR sil vs sil", "lsil",
                                                                          "sil")):
        r = evaluate_cross_modal(side(t, probe, pkey), side(t, gal, gkey), exclude_same_view=True,
                                 condition_groups=groups)
        result[name] = {"overall": {k: round(r["overall"][k], 2) for k in ("rank1", "rank5", "mAP")},
                        **{c: round(v["rank1"], 2) for c, v in r["conditions"].items()}}
        same = evaluate_cross_modal(side(t, probe, pkey), side(t, gal, gkey), exclude_same_view=False,
                                    condition_groups=groups)
        result[name]["overall_incl_same_view_rank1"] = round(same["overall"]["rank1"], 2)
        result[name]["same_view_only_rank1"] = same_view_rank1(t, probe, gal, pkey, gkey)
    print(json.dumps(result))


def same_view_rank1(t: dict, probe: np.ndarray, gal: np.ndarray, pkey: str, gkey: str) -> dict[str, float]:
    """Rank-1 (%) when probe and gallery share the view (the easy case the protocol excludes)."""
    out = {}
    for cond in sorted(set(t["conditions"][probe].tolist())):
        accs = []
        for v in sorted(set(t["views"].tolist())):
            pm = probe & (t["conditions"] == cond) & (t["views"] == v)
            gm = gal & (t["views"] == v)
            if pm.any() and gm.any():
                d = cross_modal_distance(t[pkey][pm], t[gkey][gm])
                accs.append(np.mean(t["labels"][gm][d.argmin(axis=1)] == t["labels"][pm]))
        out[cond] = round(100.0 * float(np.mean(accs)), 2) if accs else float("nan")
    return out


if __name__ == "__main__":
    main()
