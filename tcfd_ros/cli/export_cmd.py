"""``tcfd-ros export``: a checkpoint -> ONNX (dynamic batch/length) or a TensorRT engine."""

from __future__ import annotations

import argparse
from pathlib import Path

from tcfd_ros.cli.examples import FORMATTER, examples
from tcfd_ros.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export a TCFDNet (or ResNet-9 baseline) checkpoint to ONNX or "
                                             "a TensorRT engine",
                              description=__doc__,
                              epilog=examples(
                                  "tcfd-ros export --checkpoint out/train/demo_cpu/model.pt --format onnx "
                                  "--out models/my_model.onnx",
                                  "tcfd-ros export --checkpoint out/train/demo_cpu/model.pt "
                                  "--format engine --fp16   # GPU + TensorRT"),
                              formatter_class=FORMATTER)
    p.add_argument("--checkpoint", required=True, type=Path, help="TCFDNet checkpoint (.pt) written by "
                                                                  "training")
    p.add_argument("--format", required=True, choices=("onnx", "engine"), dest="fmt",
                   help="onnx: ONNX Runtime model; engine: serialised TensorRT engine (builds the ONNX "
                        "first)")
    p.add_argument("--fp16", action="store_true", help="FP16 engine (--format engine only)")
    p.add_argument("--out", type=Path, default=None,
                   help="output file (default: models/<checkpoint name>.onnx or .engine)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--timing-cache", type=Path, default=None,
                   help="TensorRT timing cache, reused and updated (default: <out>.timing_cache)")
    p.add_argument("--max-batch", type=int, default=32, help="engine profile: largest batch (default 32)")
    p.add_argument("--max-frames", type=int, default=64, help="engine profile: longest tracklet (default 64)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tcfd_ros.inference.export import export_onnx

    suffix = ".onnx" if args.fmt == "onnx" else ".engine"
    out = args.out or Path("models") / (args.checkpoint.stem + suffix)
    if args.fmt == "onnx":
        if args.fp16:
            raise ConfigError("--fp16: only for --format engine (the ONNX export is fp32, the parity "
                              "reference)")
        print(export_onnx(args.checkpoint, out, opset=args.opset))
        return 0
    from tcfd_ros.inference.tensorrt_backend import EngineProfile, build_engine, import_tensorrt

    import_tensorrt()  # fail before the (slow) ONNX export if TensorRT is absent
    profile = EngineProfile(opt_batch=min(8, args.max_batch), max_batch=args.max_batch,
                            opt_frames=min(30, args.max_frames), max_frames=args.max_frames)
    onnx_path = export_onnx(args.checkpoint, out.with_suffix(".onnx"), opset=args.opset)
    print(build_engine(onnx_path, out, fp16=args.fp16, timing_cache=args.timing_cache, profile=profile))
    return 0
