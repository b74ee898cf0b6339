"""Deploying to Hugging Face Spaces: the snapshot push stores every binary as LFS and leaves this checkout alone."""
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
POINTER = b"version https://git-lfs.github.com/spec/v1\n"


def git(*args, cwd=ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def pin(path: Path, name: str) -> Requirement:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return next(Requirement(line) for line in lines if line and not line.startswith("-") and Requirement(line).name == name)


def test_spaces_cpu_torch_satisfies_the_runtime_pin():
    cpu = pin(ROOT / "pre-requirements.txt", "torch")
    (version,) = [s.version for s in cpu.specifier]
    assert version.endswith("+cpu")
    assert pin(ROOT / "requirements.txt", "torch").specifier.contains(version)
    assert "download.pytorch.org/whl/cpu" in (ROOT / "pre-requirements.txt").read_text()


def test_deploy_pushes_one_commit_with_binaries_as_lfs_pointers(tmp_path):
    if not shutil.which("git-lfs"):
        if os.environ.get("CI"):
            pytest.fail("CI must have Debian's git-lfs (.ci/run installs it)")
        pytest.skip("Debian's git-lfs is not installed (apt-get install git-lfs)")
    bare = tmp_path / "space.git"
    git("init", "-q", "--bare", str(bare))
    status_before = git("status", "--porcelain")
    home_config = Path.home() / ".gitconfig"
    home_before = home_config.read_bytes() if home_config.exists() else None

    subprocess.run([str(ROOT / "tools" / "deploy_space.sh"), str(bare)], cwd=ROOT, check=True,  # a plain path: made file://
                   capture_output=True, timeout=300)

    assert git("rev-list", "--count", "main", cwd=bare).strip() == "1"
    files = git("ls-tree", "-r", "--name-only", "main", cwd=bare).split()
    binaries = [f for f in files if f.endswith((".safetensors", ".gif", ".png", ".npz"))]
    assert {"weights/convlstm-mmnist/model.safetensors", "weights/convlstm-mmnist-canonical/model.safetensors",
            "assets/mnist_digits.npz", "docs/curves.png"} <= set(binaries)
    assert any(f.startswith("assets/examples/") and f.endswith(".gif") for f in binaries)
    for f in binaries:
        blob = subprocess.run(["git", "show", f"main:{f}"], cwd=bare, check=True, capture_output=True).stdout
        assert blob.startswith(POINTER), f"{f} arrived as a plain blob, which the Hub refuses"
        oid = hashlib.sha256((ROOT / f).read_bytes()).hexdigest()
        assert f"oid sha256:{oid}".encode() in blob
        assert (bare / "lfs" / "objects" / oid[:2] / oid[2:4] / oid).is_file(), f"{f}: the LFS object was not pushed"
    assert b"app.py" not in git("show", "main:.gitattributes", cwd=bare).encode()  # text stays text
    assert git("show", "main:app.py", cwd=bare) == (ROOT / "app.py").read_text()

    # LFS stayed inside the snapshot: this checkout and the user's git config are as they were
    assert git("status", "--porcelain") == status_before
    assert (home_config.read_bytes() if home_config.exists() else None) == home_before
    assert "filter=lfs" not in ((ROOT / ".gitattributes").read_text() if (ROOT / ".gitattributes").exists() else "")
