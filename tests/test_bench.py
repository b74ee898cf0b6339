import pytest
import torch

from convlstm import bench
from convlstm.model import ModelConfig, Seq2Seq


def test_bench_measures_the_product_path_and_the_model():
    r = bench.measure(Seq2Seq(ModelConfig(hidden=8)).eval(), torch.device("cpu"), train_batch=2, train_steps=1, repeats=1)
    assert r["precision"] in ("fp32", "bf16") and r["params"] == Seq2Seq(ModelConfig(hidden=8)).num_parameters()
    assert r["gmacs_per_seq"] * 1e9 == Seq2Seq(ModelConfig(hidden=8)).macs_per_sequence()
    assert r["reach_px_per_step"] == {"decoder": 8.0, "encoder": 4.0}  # the shipped wiring
    # every figure was measured (no timing is compared: shared machines are noisy)
    assert min(r["predict_ms"], r["raw_forward_ms"], r["batched_seq_s"], r["train_seq_s"]) > 0


def test_bench_refuses_bad_arguments_in_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        bench.main(["--repeats", "0"])
    assert e.value.code == 2 and "--repeats must be >= 1" in capsys.readouterr().err
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(SystemExit) as e:
        bench.main(["--device", "cuda"])
    assert e.value.code == 2 and "no CUDA device" in capsys.readouterr().err
