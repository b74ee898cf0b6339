"""The package as people outside this checkout use it: the README's API after any import, and a real pip install."""
import importlib
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import numpy as np
import pytest

import convlstm

ROOT = Path(__file__).resolve().parents[1]


def readme_api_example() -> str:
    """The python block under README's "Python API" heading, verbatim."""
    section = (ROOT / "README.md").read_text().split("## Python API", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_no_submodule_shadows_a_public_name_and_the_readme_example_runs(tmp_path, monkeypatch, sequence):
    for m in pkgutil.iter_modules(convlstm.__path__):
        importlib.import_module(f"convlstm.{m.name}")  # the import system binds each submodule on the package
    assert not {m.name for m in pkgutil.iter_modules(convlstm.__path__)} & set(convlstm.__all__)
    assert callable(convlstm.predict) and callable(convlstm.load_model)
    np.save(tmp_path / "clip.npy", np.rint(sequence[:10] * 255).astype(np.uint8))
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(readme_api_example(), scope)
    assert scope["future"].shape == (10, 64, 64) and scope["future"].dtype == np.float32
    np.testing.assert_array_equal(scope["future"], convlstm.predict(np.load("clip.npy"), 10, scope["model"]))
    np.testing.assert_array_equal(scope["same"], scope["future"])  # a file read as the app reads it: the same input
    canonical = convlstm.load_model("canonical")
    np.testing.assert_array_equal(scope["canon"], convlstm.predict(np.load("clip.npy"), 10, canonical))
    assert not np.array_equal(scope["canon"], scope["future"])  # the name chose the other model


@pytest.mark.slow
def test_pip_install_runs_the_api_and_the_console_scripts_from_outside_the_checkout(tmp_path, sequence):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    target = subprocess.run([bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                            capture_output=True, text=True, check=True).stdout.strip()
    # the dependencies are this test venv's (no second torch download); the package itself is installed for real
    Path(target, "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    source = tmp_path / "source"  # a copy of what the wheel is built from: pip builds in-tree, leaving build/ behind
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source)
    for name in ("convlstm", "weights", "assets"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    r = subprocess.run([bin_dir / "pip", "install", "-q", "--no-deps", str(source)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    away = tmp_path / "elsewhere"
    away.mkdir()
    np.save(away / "clip.npy", np.rint(sequence[:10] * 255).astype(np.uint8))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = ("import convlstm, numpy as np; print(convlstm.__file__, convlstm.__version__); "
            "f = convlstm.predict(np.load('clip.npy'), horizon=10); print(f.shape, convlstm.load_model().provenance['steps'])")
    r = subprocess.run([bin_dir / "python", "-c", code], cwd=away, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    where, version = r.stdout.split()[:2]
    assert where.startswith(target) and version == convlstm.__version__  # the installed copy, not this checkout
    assert "(10, 64, 64)" in r.stdout  # the shipped weights and the digit bank travelled in the wheel
    r = subprocess.run([bin_dir / "convlstm-predict", "clip.npy", "--out", "p.gif"], cwd=away, capture_output=True,
                       text=True, timeout=300, env=env)
    assert r.returncode == 0 and (away / "p.gif").is_file(), r.stderr[-2000:]
    r = subprocess.run([bin_dir / "convlstm-evaluate", "--n", "0"], cwd=away, capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "--n must be >= 1" in r.stderr


def test_the_upload_door_imports_no_torch():
    """The sandboxed decoding worker imports convlstm.upload; torch there would eat most of its memory cap."""
    code = ("import sys, pkgutil, importlib, convlstm.upload as door; "
            "[importlib.import_module(f'convlstm.upload.{m.name}') for m in pkgutil.iter_modules(door.__path__)]; "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:3]")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-1500:]
