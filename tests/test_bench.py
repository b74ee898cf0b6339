import torch

from convlstm import bench
from convlstm.model import ModelConfig, Seq2Seq


def test_bench_measures_the_product_path_and_the_model(tiny_model):
    r = bench.measure(Seq2Seq(ModelConfig(hidden=8)).eval(), torch.device("cpu"), train_batch=2, train_steps=1, repeats=1)
    assert r["precision"] in ("fp32", "bf16") and r["params"] == Seq2Seq(ModelConfig(hidden=8)).num_parameters()
    assert r["gmacs_per_seq"] * 1e9 == Seq2Seq(ModelConfig(hidden=8)).macs_per_sequence()
    # the product path converts the clip and does everything the raw forward does, so it cannot be faster by much
    assert r["predict_ms"] > 0.5 * r["raw_forward_ms"] > 0 and r["batched_seq_s"] > 0 and r["train_seq_s"] > 0


def test_bench_refuses_a_missing_device_in_one_line(capsys):
    import pytest

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(SystemExit) as e:
        bench.main(["--device", "cuda"])
    assert e.value.code == 2 and "no CUDA device" in capsys.readouterr().err
