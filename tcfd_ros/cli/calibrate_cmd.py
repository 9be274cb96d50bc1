"""``tcfd-ros calibrate``: a model's track threshold from replays of simulated bags.

``training/pipeline_calibration.py`` does the work.

Training calibrates on clean held-out sequences; this recalibrates where the recognizer decides: the
camera x LiDAR track pairs of recorded replays (``tcfd-ros replay BAG --out DIR --record
DIR/outputs.mcap``), the recognizer's identity logic re-run on each so that every track's gait evidence
and cues (walking speed, stature, and step frequency where ``--config`` turns it on) are what the
recognizer held. The pairs fit how the cues weigh against the gait distance
(``open_set_cue_exponent_track``: the recognizer decides by gait x their likelihood ratio to that power)
and the threshold is set on that score; ``--gait-only`` sets it on the
gait distance alone. It writes a copy of the checkpoint with the new threshold, exponent and
false-match-rate curve; ``tcfd-ros export`` carries them into the ONNX model. Replays of people the model
trained on make the threshold too loose. A camera track of one simulated bag and a LiDAR track of another
are impostor pairs too (their people come from different world seeds), which resolves the low rates of
the curve; ``--within-replay-only`` leaves them out.

``--projection-replays`` first fits a pipeline projection (``training/pipeline_projection.py``: the
directions of the network's embeddings that separate people on those replays' labelled tracklets) and
calibrates in its space; the projection goes into the checkpoint with the threshold, and every backend
applies it. Use other replays than ``--replays`` (distances of the people it was fitted on are too good).
Without it, a checkpoint that already holds a projection is calibrated in that projection's space.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from tcfd_ros.cli.examples import FORMATTER, examples
from tcfd_ros.errors import ConfigError

if TYPE_CHECKING:
    from tcfd_ros.inference.embedder import Embedder
    from tcfd_ros.inference.projection import PipelineProjection
    from tcfd_ros.perception.config import IdentityConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="recalibrate a checkpoint's track threshold on replays of sim bags",
                       description=__doc__, formatter_class=FORMATTER,
                       epilog=examples("tcfd-ros calibrate --checkpoint out/train/ft/model.pt --replays "
                                       "out/replays/c1 out/replays/c2 --out models/my_model.pt",
                                       "tcfd-ros export --checkpoint models/my_model.pt --format onnx"))
    p.add_argument("--checkpoint", type=Path, required=True, help="model.pt written by tcfd-ros train")
    p.add_argument("--replays", type=Path, nargs="+", required=True, metavar="REPLAY_DIR",
                   help="replays' --out directories with recording.jsonl and outputs.mcap (simulated bags)")
    p.add_argument("--out", type=Path, required=True, help="the recalibrated checkpoint to write")
    p.add_argument("--target-fmr", type=float, default=0.01,
                   help="false-match rate of the bags' impostor track pairs at the threshold (default 0.01)")
    p.add_argument("--config", type=Path, default=None,
                   help="the params file the recognizer will run with (its identity settings: walking "
                        "speed, stature, step frequency, evidence tracklets; default: the built-in ones, "
                        "as in config/crossmodal.yaml)")
    p.add_argument("--min-tracklets", type=int, default=None,
                   help="tracklets a track needs to be paired (default: the recognizer's "
                        "identity.gait_min_tracklets)")
    p.add_argument("--within-replay-only", action="store_true",
                   help="pair only tracks of the same replay (default: also camera and LiDAR tracks of "
                        "different replays, strangers unless both bags are of one world seed)")
    p.add_argument("--gait-only", action="store_true",
                   help="fit no cue combination: the threshold on the gait distance alone (the recognizer "
                        "then moves it along the false-match-rate curve by the cues)")
    p.add_argument("--projection-replays", type=Path, nargs="+", default=None, metavar="REPLAY_DIR",
                   help="fit a pipeline projection on these replays' labelled tracklets first (other "
                        "replays than --replays; default: keep the checkpoint's, if any)")
    p.add_argument("--threads", type=int, default=2, help="embedding threads (default 2)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tcfd_ros.inference.embedder import make_embedder
    from tcfd_ros.inference.projection import METADATA_KEY
    from tcfd_ros.model.checkpoint import update_checkpoint_metadata
    from tcfd_ros.perception.config import IdentityConfig
    from training.pipeline_calibration import pair_tracks, pipeline_calibration, replay_tracks

    if not 0.0 < args.target_fmr < 1.0:
        raise ConfigError(f"--target-fmr must lie in (0, 1), got {args.target_fmr}")
    if args.out.resolve() == args.checkpoint.resolve():
        raise ConfigError("--out must differ from --checkpoint (the clean calibration stays in the original)")
    if args.config is None:
        ident = IdentityConfig()
    else:
        from tcfd_ros.graph import RECOGNIZER
        from tcfd_ros.nodes.config_file import validate_params_file
        ident = validate_params_file(args.config)[RECOGNIZER].identity
    min_tracklets = ident.gait_min_tracklets if args.min_tracklets is None else args.min_tracklets
    if min_tracklets < 1:
        raise ConfigError(f"--min-tracklets must be >= 1, got {min_tracklets}")
    if args.projection_replays is None:
        embedder, projection = make_embedder("torch", args.checkpoint, threads=args.threads), None
    else:
        embedder, projection = fit_on_replays(args, ident)
    tracks = [replay_tracks(d, embedder, ident, min_tracklets) for d in args.replays]
    meta = pipeline_calibration(pair_tracks(tracks, ident, across_replays=not args.within_replay_only),
                                args.target_fmr, combine_cues=not args.gait_only, cfg=ident)
    if projection is not None:
        meta[METADATA_KEY] = projection.to_metadata()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".partial")
    shutil.copyfile(args.checkpoint, tmp)
    update_checkpoint_metadata(tmp, meta)
    tmp.replace(args.out)
    print(json.dumps({"out": str(args.out), **{k: meta[k] for k in (
        "open_set_threshold_track", "open_set_cue_exponent_track", "open_set_measured_fmr_track",
        "genuine_accept_rate_track", "open_set_threshold_track_gait_alone",
        "genuine_accept_rate_track_gait_alone", "calibration_pairs_track",
        "calibration_pairs_across_replays", "calibration_pairs_with_cues")},
        **({} if projection is None else {"projection": dict(projection.provenance)})}))
    return 0


def fit_on_replays(args: argparse.Namespace, ident: "IdentityConfig"
                   ) -> tuple["Embedder", "PipelineProjection"]:
    """The network's embedder with a projection fitted on ``--projection-replays``, and the projection."""
    from tcfd_ros.inference.embedder import make_embedder
    from tcfd_ros.inference.projection import ProjectedEmbedder
    from training.pipeline_projection import fit_projection, labelled_tracklets

    shared = {d.resolve() for d in args.projection_replays} & {d.resolve() for d in args.replays}
    if shared:
        raise ConfigError(f"--projection-replays and --replays share {sorted(map(str, shared))}: a threshold "
                          "set on the people a projection was fitted on is too loose; use other replays")
    raw = make_embedder("torch", args.checkpoint, threads=args.threads, projection=False)
    tracks = [t for d in args.projection_replays for t in labelled_tracklets(d, raw, ident)]
    proj = fit_projection(tracks, provenance={"replays": [d.name for d in args.projection_replays]})
    return ProjectedEmbedder(raw, proj), proj
