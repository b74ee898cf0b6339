"""tools/gpu_run.sh end to end on the CPU with tiny settings: every step a lent GPU would run, and its outputs."""
import json
import os
import subprocess
import sys
from pathlib import Path

from convlstm import load_model

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_run_script_runs_tiny_on_the_cpu(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "TINY": "1", "OUT": str(out), "PYTHON": sys.executable}
    r = subprocess.run(["bash", "tools/gpu_run.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    smoke = (out / "smoke.txt").read_text()
    assert "smoke 4/4: passed" in smoke and "resumed to step 4" in smoke
    model = load_model(out / "export.safetensors")
    assert model.config.hidden == 8 and model.provenance["steps"] >= 1
    assert (out / "metrics.csv").read_text().startswith("step,sequences,wall_s")
    record = json.loads((out / "eval" / "metrics.json").read_text())
    assert record["n"] == 4 and len(record["grid"]["cells"]) == 18
