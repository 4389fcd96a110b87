"""The side folders are installed as evalsuite.* subpackages, and nothing else."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIDE_FOLDERS = {"metrics", "tasks", "reports", "trainers", "execution"}


def _declared_packages() -> tuple[list[str], dict[str, str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return config["packages"], config["package-dir"]


def test_every_folder_with_init_is_packaged():
    packages, package_dir = _declared_packages()

    def folder(name: str) -> str:
        # A sub-package lies below the folder its nearest mapped parent maps to.
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            parent = ".".join(parts[:cut])
            if parent in package_dir:
                return "/".join([package_dir[parent], *parts[cut:]])
        return name.replace(".", "/")

    folder_of = {name: folder(name) for name in packages}
    for init in ROOT.glob("**/__init__.py"):
        rel = init.parent.relative_to(ROOT).as_posix()
        if rel.startswith((".venv", "tests", "build")) or "/." in f"/{rel}":
            continue
        assert rel in folder_of.values(), f"{rel}/ has an __init__.py but is not listed in pyproject.toml"


def test_side_folders_map_under_evalsuite():
    _, package_dir = _declared_packages()
    assert {f"evalsuite.{name}": name for name in SIDE_FOLDERS}.items() <= package_dir.items()


def test_no_generic_top_level_import_names():
    code = "import importlib.util as u; print([n for n in ('metrics','tasks','reports','trainers','execution') if u.find_spec(n)])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", check=True)
    assert out.stdout.strip() == "[]"


def test_import_evalsuite_does_not_import_torch():
    code = (
        "import sys, evalsuite, evalsuite.metrics, evalsuite.registry, evalsuite.config, evalsuite.store, evalsuite.cli; "
        "print('torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", check=True)
    assert out.stdout.strip() == "False False"
