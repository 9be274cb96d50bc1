"""A linear projection of the network's embeddings fitted on the pipeline's own labelled tracks.

Why: the network is trained on clean sequences; on the tracks a pipeline delivers (segmented far walkers,
sparse LiDAR clusters) its embeddings of strangers lie close together. Centring each modality's embeddings
on its own mean and keeping the directions that separate people on labelled pipeline tracks (linear
discriminant analysis, ``training/pipeline_projection.py``) doubled what gait alone accepts at 1 % false
matches on eighteen fresh replays (15.5 -> 31.7 % of genuine camera x LiDAR track pairs), but with walking
speed and stature beside it the recognizer handed off fewer people there, so the shipped model has none
(RESULTS.md, "A discriminant projection fitted on the pipeline's tracks"). Where a model has one it is part
of the model: stored in its metadata (``METADATA_KEY``), applied by ``make_embedder`` after any backend,
and the track threshold and cue exponent are calibrated in its space (``tcfd-ros calibrate
--projection-replays``).

API::

    proj = PipelineProjection.from_metadata(meta)      # None: the model has none
    z = proj.apply(embeddings, "2d")                    # (N, parts, dim) -> (N, 1, proj.out_dim)
    meta[METADATA_KEY] = proj.to_metadata()
    embedder = ProjectedEmbedder(base, proj)            # what make_embedder returns for such a model
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable, Mapping, Sequence

import numpy as np

from tcfd_ros.distance import normalize_parts
from tcfd_ros.errors import CheckpointError
from tcfd_ros.modalities import MODALITIES

#: model metadata key of the projection
METADATA_KEY = "pipeline_projection"
#: version of the stored layout
FORMAT_VERSION = 1


def flat_parts(embeddings: np.ndarray, parts: int, dim: int) -> np.ndarray:
    """(N, parts, dim) network embeddings -> (N, parts * dim) float32, each part unit length (what the
    projection is fitted on and applied to); ValueError for another shape."""
    e = np.asarray(embeddings, dtype=np.float32)
    if e.ndim != 3 or e.shape[1:] != (parts, dim):
        raise ValueError(f"embeddings of shape {e.shape}: the projection expects (N, {parts}, {dim})")
    return normalize_parts(e).reshape(len(e), -1)


@dataclass(frozen=True)
class PipelineProjection:
    """``z = (flatten(part-normalised e) - mean[modality]) @ matrix``, one part of ``out_dim`` values."""

    parts: int
    dim: int
    means: Mapping[str, np.ndarray]     # modality -> (parts * dim,) float32
    matrix: np.ndarray                  # (parts * dim, out_dim) float32
    provenance: Mapping[str, Any]       # how it was fitted (replays, people, tracklets, settings)

    @property
    def out_dim(self) -> int:
        return int(self.matrix.shape[1])

    def apply(self, embeddings: np.ndarray, modality: str) -> np.ndarray:
        """(N, parts, dim) network embeddings of one modality -> (N, 1, out_dim) float32."""
        if modality not in self.means:
            raise ValueError(f"modality {modality!r}: expected one of {sorted(self.means)}")
        flat = flat_parts(embeddings, self.parts, self.dim) - self.means[modality]
        return (flat @ self.matrix)[:, None, :].astype(np.float32, copy=False)

    def to_metadata(self) -> dict[str, Any]:
        """A JSON-serialisable dict (what checkpoint and ONNX metadata hold)."""
        return {"format_version": FORMAT_VERSION, "parts": self.parts, "dim": self.dim,
                "means": {m: [float(x) for x in v] for m, v in self.means.items()},
                "matrix": [[float(x) for x in row] for row in self.matrix],
                "provenance": dict(self.provenance)}

    @classmethod
    def from_metadata(cls, meta: Any) -> "PipelineProjection | None":
        """From model metadata; None when the key is absent. Malformed: CheckpointError in one line."""
        value = meta.get(METADATA_KEY) if hasattr(meta, "get") else None
        if value is None:
            return None
        try:
            if value["format_version"] != FORMAT_VERSION:
                raise ValueError(f"format_version {value['format_version']!r} != {FORMAT_VERSION}")
            parts, dim = int(value["parts"]), int(value["dim"])
            matrix = np.asarray(value["matrix"], dtype=np.float32)
            means = {m: np.asarray(value["means"][m], dtype=np.float32) for m in MODALITIES}
            shaped = matrix.ndim == 2 and matrix.shape[0] == parts * dim and matrix.shape[1] >= 1
            if min(parts, dim) < 1 or not shaped:
                raise ValueError(f"matrix of shape {matrix.shape} for {parts} parts x {dim}")
            if any(v.shape != (parts * dim,) for v in means.values()):
                raise ValueError("a modality's mean does not have parts x dim values")
            if not (np.isfinite(matrix).all() and all(np.isfinite(v).all() for v in means.values())):
                raise ValueError("values that are not finite")
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"model metadata {METADATA_KEY}: {exc}; recalibrate the model "
                                  "(tcfd-ros calibrate --projection-replays ...)") from None
        return cls(parts, dim, means, matrix, dict(value.get("provenance") or {}))


class ProjectedEmbedder:
    """An ``Embedder`` whose embeddings are a backend's, projected; everything else is the backend's."""

    def __init__(self, base: Any, projection: PipelineProjection) -> None:
        if (base.parts, base.dim) != (projection.parts, projection.dim):
            raise CheckpointError(f"model metadata {METADATA_KEY}: fitted on {projection.parts} x "
                                  f"{projection.dim} embeddings, the network gives {base.parts} x {base.dim}")
        self.base = base
        self.projection = projection
        self.parts, self.dim = 1, projection.out_dim
        self.metadata = base.metadata

    def embed(self, tracklets: Sequence[np.ndarray], modality: str) -> np.ndarray:
        return self._project(self.base.embed(tracklets, modality), modality)

    def embed_tracks(self, tracklets: Sequence[np.ndarray], modality: str, tracks: Sequence[Hashable],
                     stamps: Sequence[Sequence[float]]) -> np.ndarray:
        """The backend's per-frame cache where it has one (``embedder.embed_tracks``), projected."""
        from tcfd_ros.inference.embedder import embed_tracks

        return self._project(embed_tracks(self.base, tracklets, modality, tracks, stamps), modality)

    def _project(self, raw: np.ndarray, modality: str) -> np.ndarray:
        if len(raw) == 0:
            return np.zeros((0, self.parts, self.dim), np.float32)
        return self.projection.apply(raw, modality)

    def __getattr__(self, name: str) -> Any:
        # the backend's own attributes (frame_cache for diagnostics, session, ...)
        return getattr(self.base, name)


__all__ = ["METADATA_KEY", "PipelineProjection", "ProjectedEmbedder"]
