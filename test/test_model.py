"""TCFDNet: shapes, ablations really removing components, gradients, frozen CLIP, TFD maths, config."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch

from tcfd_ros.config_io import from_dict, to_dict
from tcfd_ros.errors import ConfigError, MissingWeightsError
from tcfd_ros.model import (MODALITIES, ClipFeatures, ModelConfig, ModelInputError, ResNet9, TCFDNet,
                            tiny_model_config)
from tcfd_ros.model.clip_encoder import build_clip
from tcfd_ros.model.config import ClipConfig
from tcfd_ros.model.tfd import TextGuidedDisentanglement, retrieve_top_k

ABLATIONS = ("gmtd", "resnet_bypass", "sw", "mf", "fse", "tfd")
# the module (attribute of TCFDNet) each switch removes
REMOVED = {"resnet_bypass": "resnet", "sw": "sw", "mf": "mf", "fse": "fse", "tfd": "tfd",
           "gmtd": "text_adapter"}


def make(tmp_path, **kw) -> TCFDNet:
    cfg = tiny_model_config(num_classes=6, **{k: v for k, v in kw.items() if k != "k_t"})
    cfg = dataclasses.replace(cfg, gmtd=dataclasses.replace(cfg.gmtd, cache_dir=str(tmp_path / "cache")))
    if "k_t" in kw:
        cfg = dataclasses.replace(cfg, tfd=dataclasses.replace(cfg.tfd, k_t=kw["k_t"]))
    torch.manual_seed(0)
    return TCFDNet(cfg)


def inputs(n: int, t: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, t, 3, 64, 64, generator=g), torch.arange(n, dtype=torch.int64) % 2


class _Embeddings(torch.nn.Module):
    def __init__(self, net: TCFDNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return self.net(x, m).embeddings


def _graph_ops(net: TCFDNet) -> list[str]:
    """Sorted op kinds of the traced eval-mode embedding graph (one short tracklet)."""
    net.eval()
    x, m = inputs(1, 1)
    with torch.no_grad():
        graph = torch.jit.trace(_Embeddings(net), (x, m[:1]), check_trace=False).inlined_graph
    return sorted(n.kind() for n in graph.nodes())


@pytest.fixture(scope="module")
def full_ops(model) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _graph_ops(model)


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> TCFDNet:
    return make(tmp_path_factory.mktemp("m"))


def test_modalities_constant():
    assert MODALITIES == ("2d", "3d")


@pytest.mark.parametrize("t", [1, 4, 11])
def test_shapes_both_modalities_train_and_eval(model, t):
    cfg = model.cfg
    for mod in (0, 1):
        x, _ = inputs(3, t, seed=t)
        m = torch.full((3,), mod, dtype=torch.int64)
        model.train()
        out = model(x, m)
        assert out.embeddings.shape == (3, cfg.parts, cfg.dim)
        assert out.bnneck_logits.shape == (3, cfg.parts, cfg.head.num_classes)
        assert out.bnneck_features.shape == (3, cfg.parts, cfg.dim)
        for name in ("shared", "specific", "text"):
            assert getattr(out, name).shape == (3, cfg.dim)
        assert out.retrieved.shape == (3, cfg.tfd.k_t) and out.retrieved.dtype == torch.int64
        assert int(out.retrieved.max()) < model.gmtd_entries
        model.eval()
        with torch.no_grad():
            ev = model(x, m)
        assert ev.embeddings.shape == (3, cfg.parts, cfg.dim)
        assert all(getattr(ev, f) is None for f in ("bnneck_logits", "bnneck_features", "shared", "specific",
                                                    "text", "retrieved"))
        assert torch.isfinite(ev.embeddings).all()


def test_modality_selects_its_own_dictionary(model):
    """The same frames retrieve from the 2d bank or the 3d bank depending on the modality index."""
    model.eval()
    x, _ = inputs(2, 3)
    bank = model.prototype_bank()
    with torch.no_grad():
        tokens = model.clip_features(x).tokens
        cls = model.visual_adapter(tokens).amax(1)[:, 0]
    for mod in (0, 1):
        idx, _ = retrieve_top_k(cls, bank[mod][None].expand(2, -1, -1), model.cfg.tfd.k_t)
        model.train()
        out = model(x, torch.tensor([mod, mod]))
        model.eval()
        assert torch.equal(out.retrieved, idx)


def test_cached_clip_features_give_identical_output(model):
    model.train()
    x, m = inputs(2, 5, seed=3)
    feats = model.clip_features(x)
    assert isinstance(feats, ClipFeatures) and not feats.tokens.requires_grad
    assert feats.tokens.shape == (2, 5, model.clip.num_tokens, model.clip.out_dim)
    torch.manual_seed(1)
    a = model(x, m)
    torch.manual_seed(1)
    b = model(x, m, clip_feats=feats)
    assert torch.equal(a.embeddings, b.embeddings) and torch.equal(a.bnneck_logits, b.bnneck_logits)
    with pytest.raises(ModelInputError, match="clip_feats"):
        model(x, m, clip_feats=ClipFeatures(feats.tokens[:, :2]))


def test_gradients_reach_every_trainable_part_and_no_clip(model):
    model.train()
    model.zero_grad(set_to_none=True)
    x, m = inputs(4, 3, seed=5)
    out = model(x, m)
    loss = (out.embeddings.square().mean() + out.bnneck_logits.logsumexp(-1).mean()
            + out.shared.square().mean() + out.specific.square().mean() + out.text.square().mean())
    loss.backward()
    assert not model.clip.training, "CLIP must stay in eval mode after model.train()"
    for name, p in model.named_parameters():
        if name.startswith("clip."):
            assert not p.requires_grad and p.grad is None, name
        else:
            reached = p.requires_grad and p.grad is not None and p.grad.abs().sum() > 0
            assert reached, f"no gradient reaches {name}"
    trainable = {id(p) for p in model.trainable_parameters()}
    assert not any(id(p) in trainable for p in model.clip.parameters())


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::FutureWarning")
@pytest.mark.parametrize("switch", ABLATIONS)
def test_each_ablation_removes_its_component(tmp_path, model, full_ops, switch):
    ablated = make(tmp_path, **{switch: False})
    assert getattr(ablated, REMOVED[switch]) is None and getattr(model, REMOVED[switch]) is not None
    full_keys, abl_keys = set(model.state_dict()), set(ablated.state_dict())
    gone = {k for k in full_keys - abl_keys if k.startswith(REMOVED[switch] + ".")}
    assert gone, f"switching {switch} off removed no parameters of {REMOVED[switch]}"
    if switch == "gmtd":
        assert "gmtd_text" not in abl_keys and "prototypes" in abl_keys
    # the traced graph differs too, and the model still produces the contract's shapes
    x, m = inputs(2, 2)
    assert _graph_ops(ablated) != full_ops
    ablated.train()
    out = ablated(x, m)
    assert out.embeddings.shape == (2, model.cfg.parts, model.cfg.dim)
    if switch == "tfd":
        assert out.shared is None and out.specific is None and out.text is None and out.retrieved is None
    elif switch == "gmtd":
        assert out.text is None and out.retrieved is not None and out.shared is not None
    else:
        assert out.text is not None


@pytest.mark.parametrize("k_t", [4, 8, 16, 32])
def test_k_t_values(tmp_path, k_t):
    net = make(tmp_path, k_t=k_t).train()
    x, m = inputs(2, 2)
    out = net(x, m)
    assert out.retrieved.shape == (2, k_t)
    assert all(len(set(r.tolist())) == k_t for r in out.retrieved)


def test_k_t_larger_than_dictionary_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="k_t"):
        make(tmp_path, k_t=41)


def test_top_k_retrieval_picks_highest_cosine():
    g = torch.Generator().manual_seed(7)
    bank = torch.randn(3, 40, 16, generator=g) * torch.rand(3, 40, 1, generator=g) * 5  # varied norms
    query = torch.randn(3, 16, generator=g)
    idx, rows = retrieve_top_k(query, bank, 6)
    for i in range(3):
        q = query[i].numpy() / np.linalg.norm(query[i].numpy())
        b = bank[i].numpy() / np.linalg.norm(bank[i].numpy(), axis=1, keepdims=True)
        want = np.argsort(-(b @ q))[:6]
        assert idx[i].tolist() == want.tolist()
        assert torch.equal(rows[i], bank[i, idx[i]])


def test_tfd_gate_in_unit_interval_and_residual_identity():
    torch.manual_seed(0)
    tfd = TextGuidedDisentanglement(dim=24, latent_dim=12, k_t=5, temperature=0.1, gate_hidden=8)
    u = torch.randn(4, 24, 8, 8) * 3
    r = tfd(u, torch.randn(4, 24), torch.randn(4, 20, 24))
    assert r.alpha.shape == (4, 24)
    assert bool((r.alpha > 0).all() and (r.alpha < 1).all())
    torch.testing.assert_close(r.f_mod_gated, r.alpha[:, :, None, None] * r.f_mod, rtol=0, atol=0)
    torch.testing.assert_close(r.f_shared, u - r.alpha[:, :, None, None] * r.f_mod, rtol=0, atol=1e-6)
    torch.testing.assert_close(r.affinity.sum(-1), torch.ones(4, 64), rtol=0, atol=1e-5)
    assert not torch.allclose(r.f_shared, u), "the modality-specific part must not vanish"


def test_bad_inputs_raise_model_input_error(model):
    model.eval()
    x, m = inputs(2, 2)
    with pytest.raises(ModelInputError, match="modality"):
        model(x, torch.tensor([0, 2]))
    with pytest.raises(ModelInputError, match="modality"):
        model(x, torch.tensor([0, 1], dtype=torch.int32))
    with pytest.raises(ModelInputError, match="x: shape"):
        model(x[:, :, :, :32], m)
    with pytest.raises(ModelInputError, match="x: shape"):
        model(x[0], m)


def test_resnet9_standalone():
    net = ResNet9(in_channels=1, channels=(8, 16, 32, 64), blocks=(1, 2, 2, 1), strides=(1, 2, 2, 1))
    assert net(torch.randn(2, 1, 64, 44)).shape == (2, 64, 16, 11)
    proj = ResNet9(3, (8, 8, 8, 8), (1, 1, 1, 1), (1, 2, 2, 1), stem_stride=2, out_channels=20)
    assert proj(torch.randn(1, 3, 64, 64)).shape == (1, 20, 8, 8)
    with pytest.raises(ConfigError):
        ResNet9(3, (8, 16), (1,), (1, 2))


def test_config_is_strict_and_round_trips():
    cfg = ModelConfig()
    assert from_dict(ModelConfig, to_dict(cfg)) == cfg
    assert cfg.parts == 15 and cfg.map_size == 8
    with pytest.raises(ConfigError, match="ablation.nope"):
        from_dict(ModelConfig, {"ablation": {"nope": False}})
    with pytest.raises(ConfigError, match="head.bins"):
        from_dict(ModelConfig, {"head": {"bins": [1, 3]}})
    with pytest.raises(ConfigError, match="mf.heads"):
        from_dict(ModelConfig, {"mf": {"heads": 7}})
    assert cfg.replace_ablation(tfd=False).ablation.tfd is False


def test_missing_clip_weights_says_what_to_put_where(tmp_path):
    want = tmp_path / "clip" / "open_clip_model.safetensors"
    with pytest.raises(MissingWeightsError, match="random") as e:
        build_clip(ClipConfig(variant="tcfd-tiny", weights=str(want)))
    assert str(want) in str(e.value)


def test_clip_weights_file_is_loaded(tmp_path):
    """A local open_clip state dict is really loaded (and recorded by hash)."""
    src = build_clip(ClipConfig(variant="tcfd-tiny", weights="random", seed=3))
    path = tmp_path / "tiny.pt"
    torch.save(src.state_dict(), path)
    loaded = build_clip(ClipConfig(variant="tcfd-tiny", weights=str(path), seed=99))
    for (k, a), (_, b) in zip(src.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    assert all(not p.requires_grad for p in loaded.parameters()) and not loaded.training


def test_clip_pretrained_tag_offline_fails_in_one_line(monkeypatch):
    """An open_clip tag is looked up in the cache first, then downloaded; offline it fails in one line
    naming the file, its source and where to put it (no network is touched: the hub call is faked)."""
    from tcfd_ros.model import clip_encoder

    calls = []

    def offline(repo_id, filename, local_only):
        calls.append((repo_id, filename, local_only))
        raise OSError("no route to huggingface.co")

    monkeypatch.setattr(clip_encoder, "_hf_download", offline)
    cfg = ClipConfig(variant="ViT-B-16", weights="laion2b_s34b_b88k")
    with pytest.raises(MissingWeightsError) as e:
        clip_encoder.resolve_weights_path(cfg)
    msg = str(e.value)
    assert "\n" not in msg
    assert "laion2b_s34b_b88k" in msg and "ViT-B-16" in msg
    assert "https://huggingface.co/laion/CLIP-ViT-B-16-laion2B-s34B-b88K/resolve/main/" in msg
    assert "models/clip/open_clip_pytorch_model.bin" in msg
    assert calls[0][2] is True and any(not local for _, _, local in calls)  # cache first, then download


def test_clip_pretrained_tag_uses_the_cached_file(monkeypatch, tmp_path):
    from tcfd_ros.model import clip_encoder

    cached = tmp_path / "open_clip_model.safetensors"
    cached.write_bytes(b"x")

    def from_cache(repo_id, filename, local_only):
        assert local_only, "a cached file must not trigger a download"
        assert repo_id == "timm/vit_base_patch16_clip_224.openai"
        return str(cached)

    monkeypatch.setattr(clip_encoder, "_hf_download", from_cache)
    cfg = ClipConfig(variant="ViT-B-16", weights="openai")
    assert clip_encoder.resolve_weights_path(cfg) == cached
    assert clip_encoder.pretrained_tag_config(cfg)["quick_gelu"] is True  # OpenAI's weights use QuickGELU
    for not_a_tag in ("random", "models/clip/openai", "openai.safetensors"):
        assert clip_encoder.pretrained_tag_config(ClipConfig(variant="ViT-B-16", weights=not_a_tag)) is None
    assert clip_encoder.pretrained_tag_config(ClipConfig(variant="tcfd-tiny", weights="openai")) is None
