"""The loss terms against hand computations and their defining properties."""

from types import SimpleNamespace

import pytest
import torch

from training.losses import (LossConfig, bnneck_cross_entropy, cross_modal_triplet, hsic, orthogonality,
                             text_alignment, total_loss)


def test_triplet_is_cross_modal_and_hand_computed():
    # 1 part, 1-D features. 2D: A at 0, B at 10; 3D: A at 1, B at 10.5.
    emb = torch.tensor([[0.0], [10.0], [1.0], [10.5]])[:, None, :]
    labels = torch.tensor([0, 1, 0, 1])
    mod = torch.tensor([0, 0, 1, 1])
    loss, d = cross_modal_triplet(emb, labels, mod, margin=0.2)
    assert loss.item() == 0.0 and d["triplet_active_frac"] == 0.0
    # Put 3D-A far away: 2D-A: ap = 20, an = 10.5 -> 9.7; 2D-B: ap 0.5, an |10-20| = 10 -> 0.
    # 3D-A anchor: ap |20-0| = 20, an |20-10| = 10 -> 10.2; 3D-B: ap 0.5, an 10.5 -> 0.
    emb[2, 0, 0] = 20.0
    loss, d = cross_modal_triplet(emb, labels, mod, margin=0.2)
    assert loss.item() == pytest.approx(0.5 * (9.7 + 10.2))
    # 2D-A and 2D-B coincide; only cross-modal distances enter: 2D->3D = 30.2 (B), 3D->2D = (0.2 + 0.2) / 2.
    emb2 = torch.tensor([[0.0], [0.0], [0.0], [30.0]])[:, None, :]
    l_same, _ = cross_modal_triplet(emb2, labels, mod, margin=0.2)
    assert l_same.item() == pytest.approx(0.5 * (0.2 + 30.2))


def test_ce_label_smoothing_and_accuracy():
    logits = torch.tensor([[[5.0, 0.0]], [[0.0, 5.0]]])
    loss, d = bnneck_cross_entropy(logits, torch.tensor([0, 1]), 0.1)
    ref = torch.nn.functional.cross_entropy(logits[:, 0], torch.tensor([0, 1]), label_smoothing=0.1)
    assert loss.item() == pytest.approx(ref.item()) and d["ce_acc"] == 1.0


def test_align_ortho_and_absent_terms():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    loss, _ = text_alignment(a, a)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    loss, _ = text_alignment(a, -a)
    assert loss.item() == pytest.approx(2.0)
    o, _ = orthogonality(a, a.flip(1))
    assert o.item() == pytest.approx(0.0, abs=1e-6)
    o, _ = orthogonality(a, -a)
    assert o.item() == pytest.approx(1.0)
    assert text_alignment(None, a)[0] is None and orthogonality(a, None)[0] is None


def test_hsic_matches_definition_and_detects_dependence():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 8, generator=g)
    y_dep = x @ torch.randn(8, 8, generator=g)
    y_ind = torch.randn(64, 8, generator=g)
    n = 64
    h = torch.eye(n) - torch.ones(n, n) / n
    k, l_ = x @ x.T, y_ind @ y_ind.T
    ref = torch.trace(h @ k @ h @ h @ l_ @ h) / (n - 1) ** 2
    val, _ = hsic(x, y_ind, normalize=False)
    assert val.item() == pytest.approx(ref.item(), rel=1e-4)
    dep, _ = hsic(x, y_dep)
    ind, _ = hsic(x, y_ind)
    assert dep.item() > 3 * ind.item()


def test_total_loss_weights_and_backward():
    g = torch.Generator().manual_seed(1)
    n, p, d, c = 8, 3, 4, 4
    leaf = torch.randn(n, p, d, generator=g, requires_grad=True)
    out = SimpleNamespace(embeddings=leaf, bnneck_logits=torch.randn(n, p, c, generator=g),
                          shared=torch.randn(n, d, generator=g), specific=torch.randn(n, d, generator=g),
                          text=torch.randn(n, d, generator=g))
    labels = torch.tensor([0, 1, 2, 3] * 2)
    mod = torch.tensor([0] * 4 + [1] * 4)
    cfg = LossConfig()
    total, diag = total_loss(out, labels, mod, cfg)
    expect = (cfg.g1 * (diag["triplet"] + diag["ce"]) + cfg.g2 * diag["align"]
              + cfg.g3 * (diag["ortho"] + diag["hsic"]))
    assert total.item() == pytest.approx(expect, rel=1e-5)
    total.backward()
    assert leaf.grad is not None and torch.isfinite(leaf.grad).all()
    base = SimpleNamespace(embeddings=leaf.detach(), bnneck_logits=None)
    t2, d2 = total_loss(base, labels, mod, cfg)
    assert set(d2) == {"triplet", "triplet_active_frac", "triplet_gap", "loss"}
