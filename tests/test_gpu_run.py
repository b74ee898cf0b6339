"""tools/gpu_run.sh end to end on the CPU with TINY=1 (the whole shape a lent GPU runs), then tools/land_gpu_run.sh
bringing its files home and a second lease resuming what landed."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from convlstm import load_model
from convlstm.checkpoint import load_state, save_state, save_weights
from convlstm.model import ModelConfig, Seq2Seq

ROOT = Path(__file__).resolve().parents[1]
BROUGHT_BACK = {"env.txt", "run.log", "last.pt", "best.safetensors", "metrics.csv", "curves.png", "smoke.txt"}


def lease(out: Path, **env) -> str:
    """One TINY run of tools/gpu_run.sh into `out`; its smoke.txt, after checking the device tool's limits."""
    r = subprocess.run(["bash", "tools/gpu_run.sh"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "TINY": "1", "OUT": str(out), "PYTHON": sys.executable, **env})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    files = {p.name: p.stat().st_size for p in out.iterdir()}
    assert set(files) == BROUGHT_BACK and len(files) <= 8 and max(files.values()) <= 16 * 2**20, files
    smoke = (out / "smoke.txt").read_text()
    assert "training exited with 0" in smoke and "measured:" in smoke and "FAILED" not in smoke, smoke
    assert smoke.count(": passed") == 2 and "files: 7 (limit 8)" in smoke, smoke
    assert "torch" in (out / "env.txt").read_text()
    return smoke


def land(src: Path, state: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "tools/land_gpu_run.sh", str(src)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_COMMIT": "1", "STATE": str(state), "PYTHON": sys.executable})


@pytest.mark.slow
def test_a_lease_trains_to_its_deadline_lands_here_and_the_next_lease_resumes(tmp_path):
    first = tmp_path / "first"
    smoke = lease(first)
    assert "--init-from" in smoke  # the tiny committed state had another batch size: a new GPU schedule from its weights
    state = load_state(first / "last.pt")
    assert state["train_config"]["batch_size"] == 4 and 1 <= state["step"] < state["train_config"]["steps"] == 100_000
    assert state["train_config"]["init_from"].endswith("last.pt")  # stopped by the deadline, far before its schedule's end
    assert load_model(first / "best.safetensors").config.hidden == 8

    campaign = tmp_path / "campaign"
    r = land(first, campaign)
    assert r.returncode == 0, r.stderr
    assert f"resumed on the CPU to step {state['step'] + 1}" in r.stderr
    assert {p.name for p in campaign.iterdir()} == {"last.pt", "best.safetensors", "metrics.csv", "curves.png"}

    for delta, kept in [(-1.0, True), (1.0, False)]:  # the campaign's best stays only where it validates better
        home = tmp_path / f"home{delta}"
        shutil.copytree(campaign, home)
        ours = load_state(home / "last.pt")
        ours["best"] = state["best"] + delta
        save_state(home / "last.pt", ours)
        save_weights(Seq2Seq(ModelConfig(hidden=8)), home / "best.safetensors")
        before = (home / "best.safetensors").read_bytes()
        r = land(first, home)
        assert r.returncode == 0 and ("kept" in r.stderr) == kept, r.stderr
        assert (home / "best.safetensors").read_bytes() == (before if kept else (first / "best.safetensors").read_bytes())
        assert load_state(home / "last.pt")["best"] == (ours["best"] if kept else state["best"])  # the bar to beat

    second = tmp_path / "second"
    assert "--resume" in lease(second, STATE=str(campaign))  # same batch size: the schedule continues
    again = load_state(second / "last.pt")
    assert again["step"] > state["step"] and again["train_config"]["steps"] == 100_000


def test_landing_refuses_a_folder_without_a_run_in_one_line(tmp_path):
    (tmp_path / "last.pt").write_bytes(b"not a checkpoint")
    r = land(tmp_path, tmp_path / "campaign")
    assert r.returncode == 2 and "holds no resumable run" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "campaign").exists()


def test_a_lease_without_a_committed_state_stops_at_once(tmp_path):
    r = subprocess.run(["bash", "tools/gpu_run.sh"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "TINY": "1", "OUT": str(tmp_path / "out"), "STATE": str(tmp_path / "none"),
                            "PYTHON": sys.executable})
    assert r.returncode == 2 and "nothing to train" in (tmp_path / "out" / "smoke.txt").read_text()
    assert not (tmp_path / "out" / "run.log").exists()
