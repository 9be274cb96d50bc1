"""Cross-modal batch triplet loss on part embeddings (METHOD.md L_tri; margin 0.2 as in OpenGait).

Anchors of one modality are compared with references of the *other* modality only: positives are
other-modality clips of the same identity, negatives other-modality clips of other identities. Both
directions (2D anchors vs 3D references and the reverse) are averaged. Distances are Euclidean per
part; every valid (anchor, positive, negative) triple counts, and the loss of a part is the sum of the
hinge over the number of *active* (non-zero) triples, as OpenGait does, so that easy triples do not
dilute the signal late in training.
"""

from __future__ import annotations

import torch


def _one_direction(fa: torch.Tensor, la: torch.Tensor, fr: torch.Tensor, lr: torch.Tensor, margin: float
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # fa [na, p, d], fr [nr, p, d] -> per-part distances [p, na, nr]
    dist = torch.cdist(fa.transpose(0, 1).float(), fr.transpose(0, 1).float())
    pos = la[:, None] == lr[None, :]  # [na, nr]
    valid = pos[:, :, None] & ~pos[:, None, :]  # [na, nr_pos, nr_neg]
    hinge = torch.relu(dist[:, :, :, None] - dist[:, :, None, :] + margin)  # [p, na, nr, nr]
    hinge = hinge * valid[None].to(hinge.dtype)
    active = (hinge > 0).sum(dim=(1, 2, 3))  # [p]
    per_part = hinge.sum(dim=(1, 2, 3)) / active.clamp(min=1)
    ap = (dist * pos[None]).sum() / pos.sum().clamp(min=1) / dist.shape[0]
    an = (dist * ~pos[None]).sum() / (~pos).sum().clamp(min=1) / dist.shape[0]
    return per_part.mean(), active.float().mean() / valid.sum().clamp(min=1), an - ap


def cross_modal_triplet(embeddings: torch.Tensor, labels: torch.Tensor, modality: torch.Tensor,
                        margin: float = 0.2) -> tuple[torch.Tensor, dict[str, float]]:
    """``embeddings`` [n, p, d], ``labels`` [n], ``modality`` [n] (0 = 2d, 1 = 3d) -> (loss, diagnostics)."""
    m2, m3 = modality == 0, modality == 1
    l23, act23, gap23 = _one_direction(embeddings[m2], labels[m2], embeddings[m3], labels[m3], margin)
    l32, act32, gap32 = _one_direction(embeddings[m3], labels[m3], embeddings[m2], labels[m2], margin)
    loss = 0.5 * (l23 + l32)
    return loss, {"triplet": float(loss.detach()), "triplet_active_frac": float(0.5 * (act23 + act32)),
                  "triplet_gap": float(0.5 * (gap23 + gap32).detach())}
