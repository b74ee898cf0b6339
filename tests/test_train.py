"""train.py end to end on a tiny model: overfitting, resume, warm start and export, Ctrl-C, torchrun/DDP."""
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import train
from convlstm import load_model, predict
from convlstm.checkpoint import save_weights
from convlstm.data import fixed_set
from convlstm.model import ModelConfig, Seq2Seq
from convlstm.runtime import native_bf16
from convlstm.step import train_step

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--hidden", "8", "--kernel-size", "3", "--batch-size", "4", "--val-size", "8", "--warmup", "0.3", "--lr", "3e-3",
        "--log-every", "1"]


def config(*flags: str) -> train.TrainConfig:
    return train.parse_args(list(flags))[0]


def refused(argv: list[str], capsys) -> str:
    """train.main(argv)'s one stderr line, after checking that it exited with code 2."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        train.main(argv)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and "Traceback" not in err and err, err
    return err


@pytest.mark.parametrize("precision, flags", [
    ("fp32", []), ("bf16", []), *[pytest.param("fp32", f, marks=pytest.mark.slow) for f in  # the options: the full run only
                                  (["--layers", "3"], ["--spread", "3"])],
])
def test_tiny_model_overfits_a_fixed_batch(precision, flags):
    if precision == "bf16" and not native_bf16(torch.device("cpu")):
        pytest.skip("this CPU has no native bf16")
    cfg = config("--hidden", "16", *flags)
    torch.manual_seed(0)
    model = Seq2Seq(cfg.model)
    batch = torch.from_numpy(fixed_set("train", 4)).unsqueeze(2)  # (4, 20, 64, 64) -> (4, 20, 1, 64, 64)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    losses = [train_step(model, batch, opt, scaler, torch.device("cpu"), precision, cfg.grad_clip).item() for _ in range(60)]
    # a fresh head starts at the mean frame, near the black frame's error; fitting the batch must beat black frames
    zeros = float(batch[:, 10:].square().mean())
    assert losses[0] > 0.8 * zeros and losses[-1] < 0.7 * zeros, (zeros, losses[0], losses[-1])


def test_schedule_warms_up_then_decays():
    assert train.lr_factor(0, 100, 0.1) == pytest.approx(0.1) and train.lr_factor(9, 100, 0.1) == 1.0
    assert train.lr_factor(55, 100, 0.1) == pytest.approx(0.02 + 0.98 * 0.5)
    assert train.lr_factor(99, 100, 0.1) == pytest.approx(0.02, abs=1e-3)


def weights_of(run: Path) -> dict:
    return torch.load(run / "last.pt", weights_only=True)["model"]


def test_resume_refuses_a_wiring_or_data_change_and_applies_a_new_lr(tmp_path, capsys):
    common = TINY + ["--steps", "4", "--eval-every", "2", "--out", str(tmp_path / "r")]
    train.main(common + ["--stop-at", "2"])
    saved = {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file()}
    assert "wiring; refused: {'hidden': (8, 16)}" in refused(common + ["--resume", "--hidden", "16"], capsys)
    assert "refused: {'spread': (0, 2)}" in refused(common + ["--resume", "--spread", "2"], capsys)
    assert "best-weights criterion; refused: {'batch_size'" in refused(common + ["--resume", "--batch-size", "8"], capsys)
    says = refused(common + ["--resume", "--best-by", "canonical"], capsys)
    assert "refused: {'best_by': ('mixed', 'canonical')}" in says and f"--init-from {tmp_path / 'r'}/last.pt" in says
    assert {p.name: p.read_bytes() for p in (tmp_path / "r").iterdir() if p.is_file()} == saved  # a refusal writes nothing
    assert "--resume needs --out" in refused(TINY + ["--resume"], capsys)
    train.main(common + ["--resume", "--lr", "1e-4", "--weight-decay", "0.5"])
    err = capsys.readouterr().out
    assert "lr 0.003 -> 0.0001 (applied from step 2)" in err and "weight_decay 0.0 -> 0.5" in err
    state = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    assert state["train_config"]["lr"] == 1e-4 and state["optimizer"]["param_groups"][0]["weight_decay"] == 0.5
    rows = state["rows"]
    assert rows[-1]["lr"] == pytest.approx(1e-4 * train.lr_factor(3, 4, 0.3))  # the new peak, the old schedule's shape


def test_a_run_saved_before_shapes_existed_resumes_digits_only(tmp_path, capsys):
    common = TINY + ["--steps", "2", "--eval-every", "1", "--out", str(tmp_path / "r")]
    train.main(common + ["--shapes", "0", "--stop-at", "1"])
    state = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    del state["train_config"]["shapes"]  # as last.pt files written before the field
    torch.save(state, tmp_path / "r" / "last.pt")
    assert "shapes" in refused(common + ["--resume", "--shapes", "0.2"], capsys)  # the stream it had was digits only
    train.main(common + ["--resume"])
    assert torch.load(tmp_path / "r" / "last.pt", weights_only=True)["train_config"]["shapes"] == 0.0


def test_steps_for_a_time_budget():
    # 600 s, 2 s a step, 10 s a validation every 5 steps: 600 - 2 * 10 - 5 = 575 s left at 2 + 10 / 5 = 4 s a step
    assert train.steps_for(600, 2.0, 10.0, 5) == 143
    assert train.steps_for(10, 2.0, 10.0, 5) == 1  # never zero steps, even when the budget is spent on probing


@pytest.mark.slow
def test_time_budget_sizes_the_schedule_and_exports(tmp_path, capsys):
    train.main(TINY + ["--time-budget", "0.3", "--eval-every", "5", "--out", str(tmp_path / "r"),
                       "--export", str(tmp_path / "e.safetensors")])
    sizing = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("--time-budget 0.3 min"))
    state = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    assert state["step"] == state["train_config"]["steps"] >= 1  # a fresh run's schedule ends where the budget does
    assert sizing.endswith(f"-> {state['step']} steps")  # the probe's sizing is the schedule
    best = state["rows"][[r["val_mixed_mse"] for r in state["rows"]].index(state["best"])]  # --best-by mixed, the default
    assert load_model(tmp_path / "e.safetensors").provenance["steps"] == best["step"]  # the best validation's weights


def test_resume_refuses_a_run_that_trained_with_a_removed_option(tmp_path, capsys):
    common = TINY + ["--steps", "4", "--eval-every", "2", "--out", str(tmp_path / "r")]
    train.main(common + ["--stop-at", "2"])
    last = tmp_path / "r" / "last.pt"
    state = torch.load(last, weights_only=True)
    assert "context_loss" not in state["train_config"] and "teacher" not in state["train_config"]
    train.main(common + ["--resume", "--stop-at", "3"])
    state = torch.load(last, weights_only=True)
    state["train_config"].update(context_loss=0.0, teacher=0.4)  # a run saved before the removal names them, off
    torch.save(state, last)
    train.main(common + ["--resume"])
    capsys.readouterr()
    state["train_config"]["context_loss"] = 1.0
    torch.save(state, last)
    assert "trained with {'context_loss': 1.0}, an option this package removed" in refused(common + ["--resume"], capsys)
    state["train_config"].update(context_loss=0.0, model={**state["train_config"]["model"], "frame_feedback": True})
    torch.save(state, last)
    assert "{'frame_feedback': True} uses an option this package removed" in refused(common + ["--resume"], capsys)


def test_init_from_grafts_every_tensor_that_fits_onto_a_new_wiring(tmp_path, tiny_model, capsys):
    start = tmp_path / "start.safetensors"
    save_weights(tiny_model, start, {"steps": 3, "sequences_seen": 12})
    train.main(TINY + ["--steps", "1", "--eval-every", "1", "--out", str(tmp_path / "r"), "--init-from", str(start),
                       "--layers", "3", "--lr", "1e-12"])
    out = capsys.readouterr().out  # a third cell a side: the two trained ones copied, the new ones fresh
    assert "10 of 14 tensors loaded; fresh: decoder.2.conv.bias, decoder.2.conv.weight, encoder.2.conv.bias, " \
           "encoder.2.conv.weight\n" in out, out
    grafted = load_model(tmp_path / "r" / "best.safetensors")
    assert grafted.config == ModelConfig(**{**tiny_model.config.to_dict(), "layers": 3})
    torch.testing.assert_close(grafted.encoder[0].conv.weight, tiny_model.encoder[0].conv.weight, atol=1e-6, rtol=0)


def test_init_from_grows_a_wider_model_with_larger_kernels(tmp_path, tiny_model, capsys):
    start = tmp_path / "start.safetensors"
    save_weights(tiny_model, start, {"steps": 3, "sequences_seen": 12})
    train.main(TINY + ["--steps", "1", "--eval-every", "1", "--out", str(tmp_path / "r"), "--init-from", str(start),
                       "--hidden", "12", "--kernel-size", "5"])
    said = capsys.readouterr().out
    assert "10 of 10 tensors loaded; grown (wider or larger kernels, same predictions): stem.head.weight, encoder.0" in said
    assert load_model(tmp_path / "r" / "best.safetensors").config.hidden == 12


def test_resume_matches_an_uninterrupted_run(tmp_path):
    common = TINY + ["--steps", "6", "--eval-every", "3", "--sample-every", "100"]
    train.main(common + ["--out", str(tmp_path / "a"), "--stop-at", "3"])
    assert torch.load(tmp_path / "a" / "last.pt", weights_only=True)["step"] == 3
    train.main(common + ["--out", str(tmp_path / "a"), "--resume"])
    train.main(common + ["--out", str(tmp_path / "b")])
    a, b = weights_of(tmp_path / "a"), weights_of(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "b" / "curves.png").is_file() and (tmp_path / "b" / "sample_0000006.gif").is_file()
    assert len((tmp_path / "b" / "metrics.csv").read_text().splitlines()) == 1 + 2  # header + evals at 3 and 6


def test_tensorboard_logs_when_installed(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train.main(TINY + ["--steps", "2", "--eval-every", "2", "--sample-every", "2", "--out", str(tmp_path / "r")])
    events = EventAccumulator(str(tmp_path / "r" / "tensorboard"))
    events.Reload()
    assert "val_mse" in events.Tags()["scalars"] and "sample" in events.Tags()["images"]


def test_run_directory_is_never_overwritten(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("mine")
    assert "--resume" in refused(TINY + ["--steps", "1", "--out", str(tmp_path / "run")], capsys)
    assert "does not exist" in refused(TINY + ["--steps", "1", "--out", str(tmp_path / "none"), "--resume"], capsys)
    assert "unrecognized arguments" in refused(["--no-such-flag"], capsys)
    assert (tmp_path / "run" / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("flags, message", [
    (["--patch-size", "3"], "--patch-size divide 64"), (["--channels", "3"], "--channels must be 1"),
    (["--eval-batch", "-1"], "--eval-batch"), (["--stop-at", "-5"], "--stop-at"),
    (["--context-loss", "0.1"], "unrecognized arguments: --context-loss"),  # removed: lost its comparison
])
def test_flags_that_cannot_train_are_refused_up_front(tmp_path, capsys, flags, message):
    assert message in refused(TINY + ["--steps", "1", "--out", str(tmp_path / "r")] + flags, capsys)
    assert not (tmp_path / "r").exists()


def test_a_bad_init_from_file_is_one_line(tmp_path, capsys):
    (tmp_path / "junk.safetensors").write_bytes(b"junk" * 16)
    err = refused(TINY + ["--steps", "1", "--out", str(tmp_path / "r"), "--init-from", str(tmp_path / "junk.safetensors")], capsys)
    assert "not a safetensors weights file" in err
    err = refused(TINY + ["--steps", "1", "--out", str(tmp_path / "r"), "--init-from", str(tmp_path / "none.safetensors")], capsys)
    assert "none.safetensors: no weights at" in err and "name a shipped model" in err
    wide = save_weights(Seq2Seq(ModelConfig(hidden=8, kernel_size=5)), tmp_path / "k5.safetensors")
    err = refused(TINY + ["--steps", "1", "--out", str(tmp_path / "r"), "--init-from", str(wide), "--spread", "7"], capsys)
    assert "spread is a dilation in 0..kernel_size" in err  # the file's wiring with this flag is not a model


def test_init_from_and_export(tmp_path, tiny_model, sequence):
    start = tmp_path / "start.safetensors"
    save_weights(tiny_model, start, {"steps": 3, "sequences_seen": 12})
    out = tmp_path / "exported.safetensors"
    train.main(TINY + ["--steps", "2", "--eval-every", "2", "--out", str(tmp_path / "r"),
                       "--init-from", str(start), "--export", str(out)])
    model = load_model(out)
    assert model.config == tiny_model.config
    # the totals count the training the starting weights had already seen: 3 + 2 steps, 12 + 2 x 4 sequences
    assert model.provenance["steps"] == 5 and model.provenance["sequences_seen"] == 20
    assert model.provenance["init_from"] == {"path": str(start), "steps": 3, "sequences_seen": 12, "wall_s": 0.0}
    assert predict(sequence[:10], 5, model).shape == (5, 64, 64)


def test_resume_keeps_the_starting_totals_when_the_init_file_is_replaced(tmp_path, tiny_model):
    """`--init-from F --export F`: a Ctrl-C exports into F, so --resume must not re-read the totals from F."""
    weights = tmp_path / "w.safetensors"
    save_weights(tiny_model, weights, {"steps": 3, "sequences_seen": 12})
    common = TINY + ["--steps", "4", "--eval-every", "2", "--out", str(tmp_path / "r"), "--init-from", str(weights),
                     "--export", str(weights)]
    train.main(common + ["--stop-at", "2"])
    assert load_model(weights).provenance["sequences_seen"] == 12 + 8  # the stop exported into the init file
    train.main(common + ["--resume"])
    assert load_model(weights).provenance["init_from"]["sequences_seen"] == 12


@pytest.mark.parametrize("workers", [0, 2])
def test_bench_prints_throughput_and_writes_nothing(tmp_path, capsys, workers):
    train.main(TINY + ["--bench", "--num-workers", str(workers), "--out", str(tmp_path / "bench")])
    assert "training sequences/s" in capsys.readouterr().out
    assert not (tmp_path / "bench").exists()


@pytest.mark.slow
@pytest.mark.parametrize("sig, group, workers", [(signal.SIGINT, False, 0), (signal.SIGTERM, True, 2)],
                         ids=["ctrl-c", "sigterm-to-the-process-group-with-workers"])
def test_a_signal_saves_a_checkpoint(tmp_path, sig, group, workers):
    # `timeout` and `kill -- -PGID` signal the DataLoader workers too: the run must still validate and save, not crash
    proc = subprocess.Popen([sys.executable, "train.py", *TINY, "--steps", "100000", "--eval-every", "1",
                             "--num-workers", str(workers), "--out", str(tmp_path / "r")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    deadline = time.time() + 60
    seen = ""
    while "val mse" not in seen and time.time() < deadline and proc.poll() is None:  # wait until steps are running
        seen += proc.stdout.readline()
    assert "val mse" in seen, seen
    if group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    assert proc.wait(timeout=60) == 130
    state = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    assert state["step"] >= 1 and state["rows"][-1]["step"] == state["step"]  # validated where it stopped


def test_deadline_stops_the_run_then_validates_saves_and_exports(tmp_path, capsys):
    train.main(TINY + ["--steps", "100000", "--eval-every", "100000", "--deadline", "0.05", "--out", str(tmp_path / "r"),
                       "--export", str(tmp_path / "e.safetensors")])  # returns: a planned stop, not exit code 130
    state = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    assert 1 <= state["step"] < 100_000 and state["rows"][-1]["step"] == state["step"]  # validated where it stopped
    assert load_model(tmp_path / "e.safetensors").provenance["steps"] == state["step"]
    assert (tmp_path / "r" / "curves.png").is_file()
    assert "measured:" in capsys.readouterr().out and state["rows"][-1]["val_s"] > 0


def test_the_time_budget_probe_leaves_the_run_as_it_found_it(tmp_path):
    cfg, given, given_model = train.parse_args(TINY + ["--out", str(tmp_path / "r")])
    r = train.setup(cfg, given, given_model)
    before = {k: v.clone() for k, v in r.model.state_dict().items()}
    batch = torch.rand(4, 20, 1, 64, 64)
    assert train.probe_step_seconds(r, batch, warmup=1, timed=1) > 0
    assert all(torch.equal(before[k], v) for k, v in r.model.state_dict().items())
    assert r.optimizer.state_dict()["state"] == {}  # no AdamW moments left behind by the probe's steps


def test_init_from_a_runs_last_checkpoint(tmp_path, capsys):
    train.main(TINY + ["--steps", "2", "--eval-every", "2", "--out", str(tmp_path / "a")])
    train.main(TINY + ["--steps", "1", "--eval-every", "1", "--batch-size", "2", "--out", str(tmp_path / "b"),
                       "--init-from", str(tmp_path / "a" / "last.pt")])
    assert "10 of 10 tensors loaded" in capsys.readouterr().out
    b = load_model(tmp_path / "b" / "best.safetensors").provenance
    assert b["init_from"]["steps"] == 2 and b["init_from"]["sequences_seen"] == 2 * 4 and b["steps"] == 3
    (tmp_path / "torn.pt").write_bytes(b"not a checkpoint")
    assert "--init-from" in refused(TINY + ["--out", str(tmp_path / "c"), "--init-from", str(tmp_path / "torn.pt")], capsys)


def test_fp16_needs_cuda(capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA present: fp16 is allowed here")
    assert "fp16 needs CUDA" in refused(TINY + ["--precision", "fp16", "--bench"], capsys)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 with GradScaler needs a CUDA device (tools/gpu_run.sh runs it)")
def test_fp16_on_cuda_and_resume_there(tmp_path):
    common = TINY + ["--precision", "fp16", "--device", "cuda", "--steps", "4", "--eval-every", "2", "--out", str(tmp_path / "r")]
    train.main(common + ["--stop-at", "2"])
    train.main(common + ["--resume"])
    state = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    assert state["step"] == 4 and all(math.isfinite(r["val_mse"]) for r in state["rows"])
    assert state["scaler"]["scale"] > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 needs a CUDA device (tools/gpu_run.sh runs this on a lease)")
def test_a_run_saved_without_a_scaler_resumes_under_fp16(tmp_path):
    common = TINY + ["--device", "cuda", "--steps", "4", "--eval-every", "2", "--out", str(tmp_path / "r")]
    train.main(common + ["--precision", "fp32", "--stop-at", "2"])
    train.main(common + ["--precision", "fp16", "--resume"])
    assert torch.load(tmp_path / "r" / "last.pt", weights_only=True)["step"] == 4


@pytest.mark.slow
def test_torchrun_two_ranks_on_cpu(tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which("torchrun")
    r = subprocess.run([torchrun, "--standalone", "--nproc_per_node=2", "train.py", *TINY, "--steps", "2",
                        "--eval-every", "2", "--device", "cpu", "--out", str(tmp_path / "ddp")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "weights identical on all 2 ranks" in r.stdout
    state = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    assert state["step"] == 2 and state["rows"][-1]["sequences"] == 2 * 4 * 2  # batch is per rank


def test_history_joins_a_warm_started_run_onto_its_parent(tmp_path):
    from tools.make_readme_media import history

    common = TINY + ["--eval-every", "1", "--sample-every", "100"]
    train.main(common + ["--steps", "3", "--out", str(tmp_path / "a")])
    train.main(common + ["--steps", "2", "--out", str(tmp_path / "b"), "--init-from", str(tmp_path / "a" / "best.safetensors")])
    parent = load_model(tmp_path / "a" / "best.safetensors").provenance  # the best of 3 evaluations, wherever it fell
    rows, restarts = history([tmp_path / "a", tmp_path / "b"])
    assert restarts == [parent["sequences_seen"]]
    # the parent's rows up to its exported best, then the child's 2 rows shifted by it: one unbroken axis
    seen = [r["sequences"] for r in rows]
    assert seen == [4 * s for s in range(1, parent["steps"] + 1)] + [parent["sequences_seen"] + 4, parent["sequences_seen"] + 8]
    assert [r["step"] for r in rows][-2:] == [parent["steps"] + 1, parent["steps"] + 2]
    with pytest.raises(ValueError, match="not warm-started"):
        history([tmp_path / "a", tmp_path / "a"])
