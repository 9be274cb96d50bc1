"""``tcfd-ros``: one console command, one module per subcommand.

Each module in this package named in ``SUBCOMMANDS`` defines ``register(subparsers)``, which adds its
parser and sets ``func`` (``args -> int`` exit code). A subcommand whose module does not exist yet is
simply absent from ``--help``; nothing pretends.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from typing import NoReturn, Sequence

from tcfd_ros import __version__
from tcfd_ros.errors import TcfdError
from tcfd_ros.optional_packages import needs_full_setup

SUBCOMMANDS = ("simulate", "train", "evaluate", "calibrate", "ablate", "export", "bringup", "replay",
               "gallery")


class OneLineErrorParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (exit code 2), like every other error of the command."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from tcfd_ros.cli.examples import FORMATTER, examples

    parser = OneLineErrorParser(
        prog="tcfd-ros",
        description="LiDAR-camera cross-modal gait recognition (TCFDNet) for ROS 2.",
        epilog=examples("tcfd-ros simulate bag --out out/sim.bag --people 2 --duration 3 --seed 7",
                        "tcfd-ros bringup --check",
                        "tcfd-ros replay out/sim.bag --fast --model models/my_model.onnx --out out/replay",
                        note="`tcfd-ros COMMAND --help` explains each command, with examples."),
        formatter_class=FORMATTER,
    )
    parser.add_argument("--version", action="version", version=f"tcfd-ros {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        modname = f"{__name__}.{name}_cmd"
        if importlib.util.find_spec(modname) is None:
            continue
        importlib.import_module(modname).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        with needs_full_setup(f"tcfd-ros {args.command}"):   # a full set-up command in the runtime one
            return int(args.func(args) or 0)
    except (TcfdError, OSError) as e:
        # one line, whatever the message holds (an OSError: a file that is missing or not writable)
        text = " ".join(str(e).split())
        print(f"tcfd-ros {args.command}: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tcfd-ros {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
