"""GMTD: the gait modality text dictionary (paper step 1), its schema, hash and embedding cache.

The dictionary lives in ``models/gmtd.yaml`` (2 modalities x 8 views x ``rounds`` descriptions). Entry j
of a modality is view ``j // rounds`` and round ``j % rounds`` (view-major order). Text embeddings come
from the frozen CLIP text encoder once and are cached on disk, keyed by the hash of the dictionary and
of the CLIP weights identity, so a changed text or different weights never reuse stale embeddings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from tcfd_ros.config_io import load_yaml
from tcfd_ros.errors import ConfigError

log = logging.getLogger(__name__)

GMTD_MODALITIES = ("2d", "3d")  # same order as tcfd_ros.model.MODALITIES
GMTD_VIEWS_DEG = (0, 45, 90, 135, 180, 225, 270, 315)
MIN_ROUNDS = 4
MAX_WORDS = 60  # CLIP's context is 77 BPE tokens; 60 words stays inside it for plain English
CACHE_FORMAT = "tcfd_ros/gmtd_text_cache"
_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class GMTD:
    """A validated dictionary; ``texts[m][v][r]`` is modality m, view index v, round r."""

    version: str
    rounds: int
    texts: tuple[tuple[tuple[str, ...], ...], ...]
    sha256: str
    source: str

    @property
    def entries_per_modality(self) -> int:
        return len(GMTD_VIEWS_DEG) * self.rounds

    def flat(self, modality: str) -> list[str]:
        """The 8*rounds texts of one modality in view-major order (the order of the embeddings)."""
        m = GMTD_MODALITIES.index(modality)
        return [t for view in self.texts[m] for t in view]

    def entry(self, modality: str, j: int) -> tuple[int, int, str]:
        """(view_deg, round (1-based), text) of entry ``j`` of ``modality`` -- for interpretation."""
        if not 0 <= j < self.entries_per_modality:
            raise ConfigError(f"gmtd entry index {j} outside [0, {self.entries_per_modality})")
        v, r = divmod(j, self.rounds)
        return GMTD_VIEWS_DEG[v], r + 1, self.texts[GMTD_MODALITIES.index(modality)][v][r]


def resolve_gmtd_path(path: str | Path) -> Path:
    """Find the dictionary: as given, then beside the repository, then in the installed share dir."""
    p = Path(path).expanduser()
    candidates = [p] if p.is_absolute() else [
        Path.cwd() / p, _REPO_ROOT / p, Path(sys.prefix) / "share" / "tcfd_ros" / p,
    ]
    for c in candidates:
        if c.is_file():
            return c
    raise ConfigError(f"gmtd.path: {str(path)!r} not found (looked in {', '.join(map(str, candidates))})")


def parse_gmtd(data: Any, source: str = "<memory>") -> GMTD:
    """Validate a dictionary mapping against the schema in models/gmtd.yaml; ConfigError names the entry."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: GMTD must be a mapping, got {type(data).__name__}")
    expected_keys = {"version", "views_deg", "rounds", "descriptions"}
    if set(data) != expected_keys:
        raise ConfigError(f"{source}: GMTD keys {sorted(data)} != expected {sorted(expected_keys)}")
    version = data["version"]
    if not isinstance(version, str) or len(version.split(".")) != 3:
        raise ConfigError(f"{source}: version {version!r} must be a semver string like '1.0.0'")
    if list(data["views_deg"]) != list(GMTD_VIEWS_DEG):
        raise ConfigError(f"{source}: views_deg {data['views_deg']!r} must be {list(GMTD_VIEWS_DEG)}")
    rounds = data["rounds"]
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < MIN_ROUNDS:
        raise ConfigError(f"{source}: rounds {rounds!r} must be an integer >= {MIN_ROUNDS}")
    desc = data["descriptions"]
    if not isinstance(desc, dict) or set(desc) != set(GMTD_MODALITIES):
        got = sorted(desc) if isinstance(desc, dict) else desc
        raise ConfigError(f"{source}: descriptions must have exactly the modalities "
                          f"{list(GMTD_MODALITIES)}, got {got!r}")
    texts: list[tuple[tuple[str, ...], ...]] = []
    seen: dict[str, str] = {}
    for m in GMTD_MODALITIES:
        views = desc[m]
        if not isinstance(views, dict) or sorted(views) != sorted(GMTD_VIEWS_DEG):
            got = sorted(views) if isinstance(views, dict) else views
            raise ConfigError(f"{source}: descriptions.{m} must have the views {list(GMTD_VIEWS_DEG)}, got "
                              f"{got!r}")
        per_view = []
        for v in GMTD_VIEWS_DEG:
            items = views[v]
            where = f"{source}: descriptions.{m}.{v}"
            if not isinstance(items, list) or len(items) != rounds:
                raise ConfigError(f"{where}: expected a list of {rounds} rounds, got {items!r}")
            for r, text in enumerate(items, start=1):
                if not isinstance(text, str) or not text.strip():
                    raise ConfigError(f"{where} round {r}: description must be a non-empty string, got "
                                      f"{text!r}")
                if len(text.split()) > MAX_WORDS:
                    raise ConfigError(f"{where} round {r}: {len(text.split())} words > {MAX_WORDS} (CLIP "
                                      f"context)")
                key = " ".join(text.lower().split())
                if key in seen:
                    raise ConfigError(f"{where} round {r}: duplicate of {seen[key]}: {text!r}")
                seen[key] = f"descriptions.{m}.{v} round {r}"
            per_view.append(tuple(items))
        texts.append(tuple(per_view))
    canonical = json.dumps({"version": version, "rounds": rounds, "texts": texts}, sort_keys=True,
                           ensure_ascii=True)
    return GMTD(version=version, rounds=rounds, texts=tuple(texts),
                sha256=hashlib.sha256(canonical.encode()).hexdigest(), source=source)


def load_gmtd(path: str | Path) -> GMTD:
    """Load and validate the dictionary file (see ``resolve_gmtd_path`` for where it is looked for)."""
    p = resolve_gmtd_path(path)
    return parse_gmtd(load_yaml(p), source=str(p))


def cache_key(gmtd: GMTD, clip_identity: dict[str, Any]) -> str:
    """Hash of dictionary content and CLIP weights identity: the name of the cached embeddings."""
    blob = json.dumps({"gmtd": gmtd.sha256, "clip": clip_identity}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def text_features(
    gmtd: GMTD,
    clip_identity: dict[str, Any],
    encode: Callable[[list[str]], torch.Tensor],
    cache_dir: str | Path | None,
) -> torch.Tensor:
    """Frozen text embeddings [2, 8*rounds, c_clip], from the cache when the key matches.

    ``encode`` runs the frozen text encoder (only called on a cache miss). ``cache_dir`` None disables
    the cache. A cache file that is unreadable or has the wrong key/shape is recomputed and replaced.
    """
    key = cache_key(gmtd, clip_identity)
    cache_file = Path(cache_dir) / f"gmtd_{key[:32]}.pt" if cache_dir is not None else None
    if cache_file is not None and cache_file.is_file():
        try:
            blob = torch.load(cache_file, map_location="cpu", weights_only=True)
            feats = blob["features"]
            want = (len(GMTD_MODALITIES), gmtd.entries_per_modality)
            if blob.get("format") == CACHE_FORMAT and blob.get("key") == key \
                    and isinstance(feats, torch.Tensor) and feats.shape[:2] == want:
                log.debug("GMTD text embeddings from cache %s", cache_file)
                return feats
            log.warning("GMTD cache %s does not match (key/shape); recomputing", cache_file)
        except Exception as e:  # a half-written or foreign cache file is recomputed, never trusted
            log.warning("GMTD cache %s unreadable (%s); recomputing", cache_file, e)
    feats = torch.stack([encode(gmtd.flat(m)) for m in GMTD_MODALITIES])  # [2, 8l, c_clip]
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        # a per-process temporary name: two processes building the model at once must not collide
        tmp = cache_file.with_name(f"{cache_file.name}.{os.getpid()}.tmp")
        torch.save({"format": CACHE_FORMAT, "key": key, "gmtd_version": gmtd.version,
                    "clip": json.dumps(clip_identity, sort_keys=True), "features": feats}, tmp)
        tmp.replace(cache_file)
        log.info("GMTD text embeddings cached at %s", cache_file)
    return feats
