"""Open-set threshold calibration on held-out identities.

The recogniser accepts a cross-modal match when the distance (``tcfd_ros.distance``) is *below* the
threshold. On identities never seen in training we form every cross-modal pair (2D probe, 3D gallery
and the reverse); pairs of different people are impostors. The threshold is the ``target_fmr``
quantile of the impostor distances, so that fraction of impostor pairs would be falsely accepted; the
genuine accept rate at that threshold is reported beside it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tcfd_ros.distance import cross_modal_distance
from tcfd_ros.errors import DatasetError


def calibrate_threshold(feat_2d: np.ndarray, feat_3d: np.ndarray, labels: np.ndarray, target_fmr: float
                        ) -> dict[str, Any]:
    """Features (N, p, d) of the same N sequences in both modalities -> threshold and its measured rates."""
    labels = np.asarray(labels)
    if len(set(labels.tolist())) < 2:
        raise DatasetError(f"open-set calibration needs at least 2 held-out identities, got "
                           f"{len(set(labels.tolist()))}: raise data.val_identities")
    d = cross_modal_distance(feat_2d, feat_3d)  # [N, N] 2D row vs 3D column; symmetric in role
    same = labels[:, None] == labels[None, :]
    genuine = np.concatenate([d[same], d.T[same]])
    impostor = np.concatenate([d[~same], d.T[~same]])
    thr = float(np.quantile(impostor, target_fmr, method="lower"))
    return {
        "open_set_threshold": thr,
        "open_set_target_fmr": float(target_fmr),
        "open_set_measured_fmr": float(np.mean(impostor <= thr)),
        "open_set_genuine_accept_rate": float(np.mean(genuine <= thr)),
        "calibration_identities": int(len(set(labels.tolist()))),
        "calibration_pairs": {"genuine": int(genuine.size), "impostor": int(impostor.size)},
    }
