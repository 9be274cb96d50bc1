"""MF (multi-grained fusion, bidirectional multi-head cross-attention) and SW (spatial weighting)."""

from __future__ import annotations

from torch import Tensor, nn


class BidirectionalFusionLayer(nn.Module):
    """Global tokens read the local map, then the local map reads the refined global tokens.

    Our reading of "bidirectional multi-head cross-attention": g' = g + Attn(LN g, LN f);
    f' = f + Attn(LN f, LN g'); f'' = f' + MLP(LN f'). Pre-norm residual blocks as in ViT.
    """

    def __init__(self, dim: int, heads: int, ffn_mult: int) -> None:
        super().__init__()
        self.norm_g, self.norm_f, self.norm_g2, self.norm_f2, self.norm_ff = (
            nn.LayerNorm(dim) for _ in range(5))
        self.g_from_f = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.f_from_g = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_mult * dim), nn.GELU(), nn.Linear(ffn_mult * dim, dim))

    def forward(self, g: Tensor, f: Tensor) -> tuple[Tensor, Tensor]:
        # g: [n, 1+o, d] global tokens; f: [n, h'w', d] local tokens
        fk = self.norm_f(f)
        g = g + self.g_from_f(self.norm_g(g), fk, fk, need_weights=False)[0]
        gk = self.norm_g2(g)
        f = f + self.f_from_g(self.norm_f2(f), gk, gk, need_weights=False)[0]
        f = f + self.ffn(self.norm_ff(f))
        return g, f


class MultiGrainedFusion(nn.Module):
    """Fuse global CLIP tokens and the local map into u: [n, 1+o, d], [n, d, h, w] -> [n, d, h, w]."""

    def __init__(self, dim: int, heads: int, layers: int, ffn_mult: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(BidirectionalFusionLayer(dim, heads, ffn_mult) for _ in range(layers))

    def forward(self, g: Tensor, f_map: Tensor) -> Tensor:
        n, d, h, w = f_map.shape
        f = f_map.flatten(2).transpose(1, 2)  # [n, h*w, d]
        for layer in self.layers:
            g, f = layer(g, f)
        return f.transpose(1, 2).reshape(n, d, h, w)


class SpatialWeighting(nn.Module):
    """SW (paper): w = LeakyReLU(BN(conv1x1(u))) in R^{h x w x 1}; returns (w * u, w)."""

    def __init__(self, dim: int, negative_slope: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(dim, 1, 1), nn.BatchNorm2d(1), nn.LeakyReLU(negative_slope))

    def forward(self, u: Tensor) -> tuple[Tensor, Tensor]:
        w = self.net(u)  # [n, 1, h, w]
        return w * u, w
