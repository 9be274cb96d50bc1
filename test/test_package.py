"""The ament_python package metadata: package.xml, setup.py data files, resource marker, dependencies.

The dependency check reads the imports of the shipped code (tcfd_ros/, training/, launch/) and of the
tests, and requires each non-standard-library module to be declared: a rosdep key in package.xml, or
(for libraries without a rosdep key) a line in requirements.txt and a mention in package.xml's comment.
"""

from __future__ import annotations

import ast
import re
import runpy
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "tcfd_ros"

# Imported module -> the rosdep key that provides it.
ROSDEP_KEYS = {
    "rclpy": "rclpy", "rcl_interfaces": "rcl_interfaces", "ament_index_python": "ament_index_python",
    "launch": "launch", "launch_ros": "launch_ros", "sensor_msgs": "sensor_msgs", "std_msgs": "std_msgs",
    "std_srvs": "std_srvs", "geometry_msgs": "geometry_msgs", "visualization_msgs": "visualization_msgs",
    "diagnostic_msgs": "diagnostic_msgs", "rosgraph_msgs": "rosgraph_msgs", "tf2_msgs": "tf2_msgs",
    "tf2_ros": "tf2_ros", "builtin_interfaces": "builtin_interfaces",
    "numpy": "python3-numpy", "scipy": "python3-scipy", "yaml": "python3-yaml", "cv2": "python3-opencv",
    "matplotlib": "python3-matplotlib", "tqdm": "python3-tqdm", "torch": "python3-torch",
    "torchvision": "python3-torchvision", "onnxruntime": "python3-onnxruntime-pip",
    "rosbags": "python3-rosbags-pip", "ultralytics": "python3-ultralytics-pip", "PIL": "python3-pil",
    "pytest": "python3-pytest", "hypothesis": "python3-hypothesis",
}
# Imported module -> pip distribution, for libraries with no rosdep key (named in package.xml's comment).
PIP_ONLY = {"onnx": "onnx", "open_clip": "open_clip_torch", "safetensors": "open_clip_torch",
            "motmetrics": "motmetrics", "tensorrt": "tensorrt", "mcap": "mcap"}
# requirements.txt entries no module imports, and what uses them instead.
NOT_IMPORTED = {"pytest-timeout": "pytest plugin (setup.cfg: timeout)",
                "flake8": "run by test/test_lint.py and `make lint`",
                "opencv-python-headless": "imported as cv2", "open_clip_torch": "imported as open_clip",
                "torchvision": "pinned with torch: open_clip and ultralytics import it"}
# Optional accelerators, imported only where present (their tests skip): not installable here.
OPTIONAL = {"tensorrt", "pycuda", "cuda"}
LOCAL = {"tcfd_ros", "training", "test", "conftest"}
BUILD_TOOLS = {"setuptools"}  # brought by buildtool_depend ament_python (setup.py's own import)


@pytest.fixture(scope="module")
def manifest() -> ET.Element:
    return ET.parse(REPO / "package.xml").getroot()


@pytest.fixture(scope="module")
def setup_kwargs() -> dict:
    """What setup.py passes to setuptools.setup, without running a build."""
    import setuptools

    captured: dict = {}
    original = setuptools.setup
    setuptools.setup = lambda **kw: captured.update(kw)
    try:
        runpy.run_path(str(REPO / "setup.py"), run_name="__main__")
    finally:
        setuptools.setup = original
    return captured


def _requirement_lines(name: str = "requirements.txt") -> list[str]:
    """The lines of a requirements file with its ``-r`` includes read in (requirements.txt includes
    requirements-runtime.txt)."""
    lines = []
    for line in (REPO / name).read_text().splitlines():
        if line.startswith("-r "):
            lines += _requirement_lines(line[3:].strip())
        else:
            lines.append(line)
    return lines


def _requirements() -> str:
    return "\n".join(_requirement_lines()).lower()


def _declared(manifest: ET.Element, *tags: str) -> set[str]:
    return {e.text.strip() for tag in tags for e in manifest.iter(tag)}


def test_package_xml_is_format_3_ament_python(manifest: ET.Element) -> None:
    assert manifest.tag == "package" and manifest.get("format") == "3"
    assert manifest.findtext("name") == PACKAGE
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest.findtext("version"))
    assert manifest.find("export/build_type").text == "ament_python"
    assert _declared(manifest, "buildtool_depend") == {"ament_python"}
    assert manifest.find("maintainer").get("email") and manifest.findtext("license")
    assert len(manifest.findtext("description").split()) > 10


def _imports(paths: list[Path]) -> dict[str, set[str]]:
    """Top-level imported module -> files importing it (absolute imports only)."""
    found: dict[str, set[str]] = {}
    for path in paths:
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(REPO)))
    return found


def _third_party(paths: list[Path]) -> dict[str, set[str]]:
    local = LOCAL | {p.stem for p in (REPO / "test").glob("*.py")}
    return {m: f for m, f in _imports(paths).items()
            if m not in sys.stdlib_module_names and m not in local and m != "__future__"}


def test_every_runtime_import_is_declared(manifest: ET.Element) -> None:
    code = [p for d in ("tcfd_ros", "training", "launch") for p in (REPO / d).rglob("*.py")]
    declared = _declared(manifest, "exec_depend", "depend")
    manifest_text = (REPO / "package.xml").read_text()  # ElementTree drops comments: read the text
    requirements = _requirements()
    problems = []
    for module, files in sorted(_third_party(code).items()):
        if module in ROSDEP_KEYS:
            if ROSDEP_KEYS[module] not in declared:
                problems.append(f"{module} ({sorted(files)[0]}): add <exec_depend>{ROSDEP_KEYS[module]}")
        elif module in PIP_ONLY:
            dist = PIP_ONLY[module]
            if module not in OPTIONAL and dist.lower() not in requirements:
                problems.append(f"{module}: add {dist} to requirements.txt")
            if dist not in manifest_text and module not in manifest_text:
                problems.append(f"{module}: say in package.xml's comment that it has no rosdep key")
        else:
            problems.append(f"{module} ({sorted(files)[0]}) has no known rosdep key or pip-only entry")
    assert not problems, "\n".join(problems)


def test_every_test_import_is_declared(manifest: ET.Element) -> None:
    declared = _declared(manifest, "exec_depend", "test_depend", "depend")
    requirements = _requirements()
    for module, files in sorted(_third_party(list((REPO / "test").glob("*.py"))).items()):
        if module in BUILD_TOOLS:
            continue
        if module in ROSDEP_KEYS:
            assert ROSDEP_KEYS[module] in declared, f"{module} ({sorted(files)[0]}) needs a test_depend"
        else:
            assert module in PIP_ONLY, f"{module} ({sorted(files)[0]}) is not declared anywhere"
            assert module in OPTIONAL or PIP_ONLY[module].lower() in requirements, module


def test_no_rosdep_key_is_invented(manifest: ET.Element) -> None:
    """Keys ending in -pip must be ones that exist in rosdep/python.yaml (rosdep install fails otherwise)."""
    existing_pip_keys = {"python3-onnxruntime-pip", "python3-rosbags-pip", "python3-ultralytics-pip"}
    pip_keys = {k for k in _declared(manifest, "exec_depend", "test_depend") if k.endswith("-pip")}
    assert pip_keys <= existing_pip_keys, pip_keys - existing_pip_keys


def test_resource_marker_and_share_data_files(setup_kwargs: dict) -> None:
    marker = REPO / "resource" / PACKAGE
    assert marker.is_file()
    data_files = {dest: set(files) for dest, files in setup_kwargs["data_files"]}
    assert data_files["share/ament_index/resource_index/packages"] == {f"resource/{PACKAGE}"}
    assert data_files[f"share/{PACKAGE}"] == {"package.xml"}
    installed = {f for files in data_files.values() for f in files}
    expected = [p for p in (REPO / "launch").glob("*.launch.py")] + list((REPO / "config").rglob("*.yaml"))
    expected += list((REPO / "config").glob("*.json")) + list((REPO / "config").glob("*.rviz"))
    expected += [p for p in (REPO / "models").rglob("*.yaml") if "cache" not in p.parts]
    for path in expected:
        rel = path.relative_to(REPO).as_posix()
        assert rel in installed, f"{rel} is not installed to share/{PACKAGE}"
        assert rel in data_files[f"share/{PACKAGE}/{path.parent.relative_to(REPO).as_posix()}"]
    weights = [f for f in installed if f.endswith((".pt", ".onnx", ".engine"))]
    # only the shipped reference model (the recognizer's default, resolved in the share dir)
    assert weights == ["models/tcfd_sim.onnx"], f"weights other than the reference model installed: {weights}"


def test_packages_and_console_scripts(setup_kwargs: dict) -> None:
    assert setup_kwargs["name"] == PACKAGE
    packages = set(setup_kwargs["packages"])
    assert {"tcfd_ros", "tcfd_ros.cli", "tcfd_ros.nodes", "training"} <= packages
    scripts = dict(s.split(" = ") for s in setup_kwargs["entry_points"]["console_scripts"])
    assert scripts["tcfd-ros"] == "tcfd_ros.cli:main"
    for name, target in scripts.items():
        module, func = target.split(":")
        path = REPO / (module.replace(".", "/") + ".py")
        if not path.is_file():
            path = REPO / module.replace(".", "/") / "__init__.py"
        assert path.is_file(), f"console script {name}: module {module} missing"
        assert f"def {func}(" in path.read_text(), f"console script {name}: no {func}() in {path}"


def test_setup_cfg_puts_scripts_where_ros2_run_looks() -> None:
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert cfg["develop"]["script_dir"] == f"$base/lib/{PACKAGE}"
    assert cfg["install"]["install_scripts"] == f"$base/lib/{PACKAGE}"


def test_training_subpackage_is_importable_as_training() -> None:
    import training

    assert Path(training.__file__).resolve().parent == REPO / "training"


def test_colcon_style_install_layout(tmp_path: Path) -> None:
    """What ament_python's colcon build runs: scripts land in lib/tcfd_ros, data in share/tcfd_ros."""
    import subprocess

    build, prefix = tmp_path / "build", tmp_path / "install"
    build.mkdir()
    result = subprocess.run(
        [sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(build), "build", "--build-base",
         str(build), "install", "--prefix", str(prefix), "--record", str(tmp_path / "record.txt"),
         "--single-version-externally-managed"],
        cwd=REPO, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    scripts = {p.name for p in (prefix / "lib" / PACKAGE).iterdir()}
    assert {"tcfd-ros", "camera_segmenter", "lidar_segmenter", "tracker", "recognizer"} <= scripts
    share = prefix / "share" / PACKAGE
    assert (share / "package.xml").is_file() and (share / "config" / "crossmodal.yaml").is_file()
    assert (prefix / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE).is_file()
    assert list((share / "launch").glob("*.launch.py"))
    site = next((prefix / "lib").glob("python3*/site-packages"))
    assert (site / PACKAGE / "point_cloud2.py").is_file() and (site / "training" / "__init__.py").is_file()


def test_every_requirement_is_used() -> None:
    """Nothing in requirements.txt is installed for nothing (tensorboard, pytest-benchmark were)."""
    code = [p for d in ("tcfd_ros", "training", "launch", "test", "benchmarks")
            for p in (REPO / d).rglob("*.py")]
    imported = {m.lower() for m in _imports(code)}
    unused = []
    for line in _requirement_lines():
        dist = re.split(r"[\[=<> ]", line.strip())[0]
        if not dist or dist.startswith("#") or dist.startswith("ros-kilted-") or dist in NOT_IMPORTED:
            continue
        module = {"pyyaml": "yaml"}.get(dist.lower(), dist.lower().replace("-", "_"))
        if module not in imported:
            unused.append(dist)
    assert not unused, f"requirements.txt lists packages nothing imports: {unused}"


def test_ultralytics_is_imported_only_for_the_yolo_backend() -> None:
    import subprocess
    code = ("import sys\n"
            "from tcfd_ros.perception.config import CameraSegmenterConfig\n"
            "from tcfd_ros.perception.segment_camera import CameraSegmenter\n"
            "import tcfd_ros.nodes.camera_segmenter_node, tcfd_ros.cli\n"
            "CameraSegmenter(CameraSegmenterConfig())\n"
            "print('ultralytics' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "False"
