import json
import shutil

import numpy as np
import pytest

from convlstm import evaluate
from convlstm.checkpoint import load_model, read_metadata, read_tensors
from reference import forward, same_tensors
from convlstm.data import HELD_OUT_KINDS, HELD_OUT_RADII, TEST_SEED, fixed_set, generate_set, generate_shapes, load_digits


def test_evaluate_reports_model_and_baselines_and_stores_metadata(tmp_path, tiny_weights, capsys):
    weights = tmp_path / "w.safetensors"
    shutil.copy(tiny_weights, weights)
    evaluate.main(["--weights", str(weights), "--n", "4", "--horizon", "12", "--out", str(tmp_path / "e"), "--write-metadata",
                   "--grid-n", "2"])
    out = capsys.readouterr().out
    assert "| model |" in out and "| copy_last |" in out
    record = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert len(record["per_step"]["model"]["mse"]) == 12 and (tmp_path / "e" / "horizon.png").is_file()
    # the zeros baseline is the frames' own energy: sum of squared pixels, computed here independently
    frames = fixed_set("test", 4, num_frames=22)
    truth = frames[:, 10:20].astype(np.float64)
    assert record["summary"]["zeros_mse"] == pytest.approx((truth ** 2).sum(axis=(2, 3)).mean())
    # copy-last repeats frame 10; the model's score is its own forward on frames 1-10, at the precision evaluate picks
    last = frames[:, 9:10].astype(np.float64)  # (4, 1, 64, 64), broadcast over the 10 future frames
    assert record["summary"]["copy_last_mse"] == pytest.approx(((last - truth) ** 2).sum(axis=(2, 3)).mean())
    pred = forward(load_model(tiny_weights), frames[:, :10], 12)[:, :10].astype(np.float64)  # the 10 standard frames
    assert record["summary"]["model_mse"] == pytest.approx(((pred - truth) ** 2).sum(axis=(2, 3)).mean(), rel=1e-5)
    assert same_tensors(read_tensors(weights), read_tensors(tiny_weights))  # --write-metadata changed the metadata only
    _, provenance = read_metadata(weights)
    assert provenance["test"]["n"] == 4 and provenance["test"]["mse"] == pytest.approx(record["summary"]["model_mse"])
    assert provenance["note"] == "untrained, for tests"  # the rest of the provenance is kept
    cells = record["grid"]["cells"]
    assert len(cells) == len(evaluate.GRID_DIGITS) * len(evaluate.GRID_SPEEDS) and "| 3 |" in out
    assert provenance["test"]["grid"] == record["grid"]  # the app reads the grid from the weights
    assert all(c["ratio"] == c["mse"] / c["zeros_mse"] for c in cells)
    assert evaluate.cell_for(cells, 2, 0.12) is next(c for c in cells if c["digits"] == 2 and c["speed"] == 0.1)
    assert evaluate.cell_for(cells, 3, 0.29)["speed"] == 0.3 and evaluate.cell_for([], 1, 0.1) is None
    # one cell recomputed independently: 2 sequences of 1 digit at speed 0.3, seeded per cell
    seqs = generate_set(np.random.default_rng([TEST_SEED, 1, 5]), load_digits("test"), 2, num_frames=20, num_digits=1, speed=0.3)
    cell = next(c for c in cells if c["digits"] == 1 and c["speed"] == 0.3)
    assert cell["zeros_mse"] == pytest.approx((seqs[:, 10:].astype(np.float64) ** 2).sum(axis=(2, 3)).mean())
    # the shapes row: one cell per speed, in the table, its zeros baseline the energy of its own fixed sequences
    shapes = record["grid"]["shapes"]
    assert [c["speed"] for c in shapes] == list(evaluate.GRID_SPEEDS) and "| shapes |" in out
    rng = np.random.default_rng([TEST_SEED, 0, 0])
    seqs = np.stack([generate_shapes(rng, 20, int(rng.integers(1, 4)), 0.02, HELD_OUT_KINDS, HELD_OUT_RADII) for _ in range(2)])
    assert shapes[0]["zeros_mse"] == pytest.approx(((seqs[:, 10:] / 255.0) ** 2).sum(axis=(2, 3)).mean(), rel=1e-5)


def test_evaluate_reads_the_canonical_file(tmp_path, tiny_weights, capsys):
    seqs = np.rint(fixed_set("test", 3) * 255).astype(np.uint8)  # (N, 20, 64, 64)
    np.save(tmp_path / "mnist_test_seq.npy", seqs.transpose(1, 0, 2, 3))  # canonical layout is time first
    evaluate.main(["--weights", str(tiny_weights), "--data", str(tmp_path / "mnist_test_seq.npy"), "--out", str(tmp_path / "e"),
                   "--grid-n", "0"])
    assert "3 sequences, canonical file" in capsys.readouterr().out  # every sequence of the file by default
    # the uint8 file is scored exactly as the same frames in [0, 1] would be
    model = load_model(tiny_weights)
    as_u8, as_float = evaluate.evaluate(model, seqs, 10), evaluate.evaluate(model, seqs / np.float32(255), 10)
    for name in as_u8:
        for k in as_u8[name]:
            np.testing.assert_allclose(as_u8[name][k], as_float[name][k], rtol=1e-5, atol=1e-6)
    np.save(tmp_path / "short.npy", seqs.transpose(1, 0, 2, 3)[:10])  # only 10 frames: no future to score
    with pytest.raises(SystemExit) as e:
        evaluate.main(["--weights", str(tiny_weights), "--data", str(tmp_path / "short.npy"), "--grid-n", "0"])
    assert e.value.code == 2 and "T >= 20" in capsys.readouterr().err


def test_evaluate_bad_arguments_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        evaluate.main(["--n", "0"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        evaluate.main(["--weights", str(tmp_path / "none.safetensors")])
    assert e.value.code == 2 and "train.py" in capsys.readouterr().err
    (tmp_path / "junk.safetensors").write_bytes(b"junk" * 16)
    with pytest.raises(SystemExit) as e:
        evaluate.main(["--weights", str(tmp_path / "junk.safetensors")])
    assert e.value.code == 2 and "not a safetensors weights file" in capsys.readouterr().err
