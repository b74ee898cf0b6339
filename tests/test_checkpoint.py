import pytest
import torch
from safetensors.torch import save_file

import convlstm
from convlstm.checkpoint import DEFAULT_WEIGHTS, load_weights, read_metadata, save_weights
from convlstm.model import ModelConfig, Seq2Seq


def test_round_trip_gives_identical_outputs(tmp_path, tiny_model):
    save_weights(tiny_model, tmp_path / "m.safetensors", {"steps": 3})
    loaded = load_weights(tmp_path / "m.safetensors")
    assert loaded.config == tiny_model.config and loaded.provenance == {"steps": 3} and not loaded.training
    x = torch.rand(2, 10, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x, 10), tiny_model(x, 10))


def test_bf16_file_loads_as_fp32(tmp_path, tiny_model):
    save_weights(tiny_model, tmp_path / "m.safetensors", dtype=torch.bfloat16)
    loaded = load_weights(tmp_path / "m.safetensors")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())


def test_file_without_config_is_refused(tmp_path):
    save_file({"w": torch.zeros(1)}, tmp_path / "bare.safetensors")
    with pytest.raises(ValueError, match="no model config"):
        load_weights(tmp_path / "bare.safetensors")
    with pytest.raises(FileNotFoundError, match="train.py"):
        load_weights(tmp_path / "missing.safetensors")


def test_shipped_weights_rebuild_from_one_file():
    config, provenance = read_metadata(DEFAULT_WEIGHTS)
    assert isinstance(config, ModelConfig)
    model = convlstm.load_model()  # the default path is the shipped file
    assert isinstance(model, Seq2Seq) and model.config == config
    assert provenance["sequences_seen"] > 0
    assert DEFAULT_WEIGHTS.stat().st_size < 10 * 2**20


def test_readme_results_match_the_shipped_weights():
    """README's results table is generated from the weights' metadata; stale numbers fail here."""
    from tools.make_readme_media import README, readme_with_results

    text = README.read_text()
    assert "<!-- /results -->" in text and "| ConvLSTM (shipped) |" in text
    assert readme_with_results(text) == text, "run python -m tools.make_readme_media after evaluating new weights"
