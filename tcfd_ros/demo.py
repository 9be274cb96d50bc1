"""``make demo`` / ``python -m tcfd_ros.demo``: the whole chain on a fresh machine, with no argument.

By default the demo uses the shipped reference model (``models/tcfd_sim.onnx``, models/MODEL_CARD.md):

1. simulate a held-out bag: a world seed and identities no training used, so its people are new;
2. replay the bag through the real node graph over DDS (``tcfd-ros replay --fast``) and print the
   scored summary and the report's path.

``--retrain`` first builds a model from scratch instead: it simulates a training data set (SUSTech1K
layout) from the synthetic world and trains the quick CPU recipe (``training/configs/demo_cpu.yaml``)
on it, exporting to ONNX, then runs the two steps above with that model.

The data set, model and bag are cached under ``out/demo/`` keyed by a hash of their configuration and
of the code they depend on, so a second run goes straight to the replay. Every step runs the real
``tcfd-ros`` subcommand in a child process (its progress bar shows), and a step whose subcommand is not
built yet stops the demo saying so: nothing is faked.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

import yaml

from tcfd_ros import __version__
from tcfd_ros.errors import TcfdError
from tcfd_ros.optional_packages import needs_full_setup

REPO = Path(__file__).resolve().parents[1]
RETRAIN_STEPS = 4      # data set, model, bag, replay
SHIPPED_STEPS = 2      # bag, replay
HEARTBEAT_S = 30.0     # a "still running" line at least this often while a step runs


@dataclass(frozen=True)
class DemoConfig:
    """Everything the demo decides; the cache keys hash these values."""

    out_root: str = "out/demo"
    train_config: str = "training/configs/demo_cpu.yaml"
    graph_config: str = "config/crossmodal.yaml"
    # training data set: identities 0..N-1 of world seed `dataset_seed` (the training engineer's demo recipe)
    dataset_seed: int = 1
    dataset_identities: int = 32
    dataset_views: tuple[int, ...] = (0, 90, 180, 270)
    dataset_conditions: tuple[str, ...] = ("nm", "bg")
    dataset_frames: int = 20
    dataset_lidar: str = "hdl64"
    # held-out bag: world seed `bag_seed` != dataset_seed and ids from `bag_first_id` (>= the data set's
    # identity count), so each walker's body and gait come from an RNG stream no training identity used
    bag_seed: int = 90210
    bag_first_id: int = 1000
    bag_people: int = 4
    bag_duration_s: float = 60.0
    bag_lidar: str = "hdl64"
    bag_layout: str = "disjoint"
    bag_storage: str = "mcap"
    backend: str = "onnx"
    # the shipped reference model and the world it was trained on (models/MODEL_CARD.md)
    model: str = "models/tcfd_sim.onnx"
    model_seed: int = 31337
    model_identities: int = 250
    retrain: bool = False          # True: simulate + train demo_cpu.yaml instead of the shipped model

    def validate(self) -> None:
        for seed, ids, what in ((self.dataset_seed, self.dataset_identities, "the --retrain data set"),
                                (self.model_seed, self.model_identities, "the shipped model's data set")):
            if self.bag_seed == seed or self.bag_first_id < ids:
                raise TcfdError(f"bag_seed {self.bag_seed} / bag_first_id {self.bag_first_id} overlap "
                                f"{what} (seed {seed}, ids 0..{ids - 1}): the demo bag's people must "
                                "never have been seen in training")


# Code whose change invalidates a cached step (globs relative to the repository root).
SIM_CODE = ("tcfd_ros/sim/**/*.py", "tcfd_ros/geometry/**/*.py", "tcfd_ros/point_cloud2.py",
            "tcfd_ros/image_conversions.py")
TRAIN_CODE = SIM_CODE + ("tcfd_ros/model/**/*.py", "training/**/*.py", "models/*.yaml",
                         "tcfd_ros/inference/**/*.py")


def code_hash(globs: Sequence[str], *extra: object) -> str:
    """sha256 over the content of the matching files (sorted), the package version and ``extra``."""
    h = hashlib.sha256(__version__.encode())
    for pattern in globs:
        for p in sorted(REPO.glob(pattern)):
            if p.is_file() and "__pycache__" not in p.parts:
                h.update(str(p.relative_to(REPO)).encode())
                h.update(p.read_bytes())
    for e in extra:
        h.update(json.dumps(e, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def demo_environment(base: Mapping[str, str]) -> dict[str, str]:
    """The children's environment: DDS kept on this machine. The domain is the user's ``ROS_DOMAIN_ID``
    or, without one, a free one the replay claims (``replay/dds.py``): two demos, or a demo beside
    another replay, never hear each other."""
    env = dict(base)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    return env


def have_subcommand(name: str) -> bool:
    return importlib.util.find_spec(f"tcfd_ros.cli.{name}_cmd") is not None


class Demo:
    def __init__(self, cfg: DemoConfig) -> None:
        cfg.validate()
        self.cfg = cfg
        self.root = REPO / cfg.out_root
        self.times: list[tuple[str, float, str]] = []    # (step, seconds, "ran" | "cached")
        self.env = demo_environment(os.environ)
        self.step_no = 0
        self.steps = RETRAIN_STEPS if cfg.retrain else SHIPPED_STEPS

    def _header(self, text: str) -> None:
        self.step_no += 1
        print(f"\n== [{self.step_no}/{self.steps}] {text}", flush=True)

    def _tcfd(self, args: Sequence[str], what: str) -> None:
        """Run ``tcfd-ros ARGS`` with this interpreter, progress on the terminal; raise on failure."""
        sub = args[0]
        if not have_subcommand(sub):
            raise TcfdError(f"the demo needs `tcfd-ros {sub}` to {what}, and that subcommand is not built in "
                            f"this tree yet (tcfd_ros/cli/{sub}_cmd.py is missing); the demo stops here")
        cmd = [sys.executable, "-m", "tcfd_ros", *args]
        print("   $ tcfd-ros " + " ".join(args), flush=True)
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL, env=self.env)
        while True:
            try:
                code = proc.wait(timeout=HEARTBEAT_S)
                break
            except subprocess.TimeoutExpired:   # some steps print nothing for minutes: say we are alive
                print(f"   ... {what}: {time.monotonic() - start:.0f} s", flush=True)
            except KeyboardInterrupt:
                proc.terminate()
                proc.wait()
                raise
        if code != 0:
            raise TcfdError(f"`tcfd-ros {' '.join(args)}` failed with exit code {code} "
                            f"while trying to {what}")

    def _cached(self, step: str, key: str, build) -> Path:
        """``root/step-key`` built once by ``build(tmp_dir)``; a half-built directory is never reused."""
        final = self.root / f"{step}-{key}"
        start = time.monotonic()
        if (final / "DONE").is_file():
            print(f"   cached: {_rel(final)}", flush=True)
            self.times.append((step, time.monotonic() - start, "cached"))
            return final
        tmp = self.root / f"{step}-{key}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        build(tmp)
        (tmp / "DONE").write_text(json.dumps({"key": key, "config": asdict(self.cfg)}, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        self.times.append((step, time.monotonic() - start, "ran"))
        return final

    def dataset(self) -> Path:
        c = self.cfg
        self._header(f"training data set: {c.dataset_identities} synthetic identities "
                     f"(world seed {c.dataset_seed})")
        key = code_hash(SIM_CODE, c.dataset_seed, c.dataset_identities, c.dataset_views, c.dataset_conditions,
                        c.dataset_frames, c.dataset_lidar)
        return self._cached("dataset", key, lambda d: self._tcfd(
            ["simulate", "dataset", "--out", str(d / "data"), "--identities", str(c.dataset_identities),
             "--views", ",".join(map(str, c.dataset_views)), "--conditions", ",".join(c.dataset_conditions),
             "--frames", str(c.dataset_frames), "--seed", str(c.dataset_seed), "--lidar", c.dataset_lidar,
             "--force"],
            "simulate the training data set")) / "data"

    def model(self, dataset: Path) -> Path:
        c = self.cfg
        self._header(f"model: train {c.train_config} on it and export to ONNX")
        recipe = yaml.safe_load((REPO / c.train_config).read_text(encoding="utf-8"))
        key = code_hash(TRAIN_CODE, recipe, str(dataset))

        def build(d: Path) -> None:
            run = dict(recipe)
            run["data"] = {**run.get("data", {}), "root": str(dataset),
                           "partition": str(dataset / "partition.json")}
            run["out_dir"] = str(d / "train")
            cfg_path = d / "train.yaml"
            cfg_path.write_text(yaml.safe_dump(run, sort_keys=False), encoding="utf-8")
            self._tcfd(["train", "--config", str(cfg_path)], "train the CPU recipe")
            ckpt = d / "train" / str(recipe["name"]) / "model.pt"   # where `tcfd-ros train` puts the model
            if not ckpt.is_file():
                raise TcfdError(f"training finished but {ckpt} (the trained model) is missing")
            self._tcfd(["export", "--checkpoint", str(ckpt), "--format", "onnx",
                        "--out", str(d / "model.onnx")],
                       "export the trained model to ONNX")
        return self._cached("model", key, build) / "model.onnx"

    def bag(self) -> Path:
        c = self.cfg
        self._header(f"held-out bag: {c.bag_people} people (ids {c.bag_first_id}.., "
                     f"world seed {c.bag_seed}), "
                     f"{c.bag_duration_s:g} s, {c.bag_lidar}, {c.bag_layout} layout")
        key = code_hash(SIM_CODE, c.bag_seed, c.bag_first_id, c.bag_people, c.bag_duration_s, c.bag_lidar,
                        c.bag_layout, c.bag_storage)
        return self._cached("bag", key, lambda d: self._tcfd(
            ["simulate", "bag", "--out", str(d / "bag"), "--storage", c.bag_storage,
             "--people", str(c.bag_people),
             "--duration", f"{c.bag_duration_s:g}", "--seed", str(c.bag_seed), "--lidar", c.bag_lidar,
             "--first-id", str(c.bag_first_id), "--layout", c.bag_layout, "--force"],
            "simulate the held-out bag")) / "bag"

    def replay(self, bag: Path, model: Path) -> Path:
        self._header("replay the bag through the node graph over DDS (--fast) and score it")
        out = self.root / "report"
        start = time.monotonic()
        self._tcfd(["replay", str(bag), "--fast", "--config", str(REPO / self.cfg.graph_config),
                    "--out", str(out),
                    "--model", str(model), "--backend", self.cfg.backend], "replay the bag")
        self.times.append(("replay", time.monotonic() - start, "ran"))
        return out

    def shipped_model(self) -> Path:
        """The committed reference model (one clear error if it is missing)."""
        from tcfd_ros.inference.model_files import resolve_model_path

        try:
            path = resolve_model_path(self.cfg.model)
        except TcfdError as e:
            raise TcfdError(f"{e}; or run `python -m tcfd_ros.demo --retrain` to train one") from e
        print(f"   model: {_rel(path)} (shipped reference model, models/MODEL_CARD.md; "
              "--retrain trains one from scratch)", flush=True)
        return path

    def run(self) -> int:
        t0 = time.monotonic()
        if self.cfg.retrain:
            with needs_full_setup("--retrain (it trains a model)"):
                import torch  # noqa: F401  (before minutes of simulation, not after)
            model = self.model(self.dataset())
        else:
            model = self.shipped_model()
        bag = self.bag()
        out = self.replay(bag, model)
        total = time.monotonic() - t0
        print("\n== demo finished in {:.0f} s: ".format(total) +
              ", ".join(f"{s} {t:.0f} s ({how})" for s, t, how in self.times))
        print(f"   report: {_rel(out / 'report.html')} (markdown: {_rel(out / 'report.md')})")
        return 0


def _rel(p: Path) -> Path:
    """``p`` relative to the repository when inside it (shorter lines for the user)."""
    return p.relative_to(REPO) if p.is_relative_to(REPO) else p


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tcfd_ros.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--retrain", action="store_true",
                        help="simulate a training set and train training/configs/demo_cpu.yaml from scratch "
                             "instead of using the shipped models/tcfd_sim.onnx")
    args = parser.parse_args(argv)
    try:
        return Demo(DemoConfig(retrain=args.retrain)).run()
    except TcfdError as e:
        print(f"demo: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("demo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
