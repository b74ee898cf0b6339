import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import convlstm
from convlstm.api import run
from convlstm.checkpoint import (DEFAULT_WEIGHTS, MODELS, atomic_write, load_state, load_model, read_metadata, resolve,
                                 save_state, save_weights, weights_file)
from convlstm.model import ModelConfig, Seq2Seq
from reference import same_tensors


def test_round_trip_gives_identical_outputs(tmp_path, tiny_model):
    save_weights(tiny_model, tmp_path / "m.safetensors", {"steps": 3})
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.config == tiny_model.config and loaded.provenance == {"steps": 3} and not loaded.training
    x = torch.rand(2, 10, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x, 10), tiny_model(x, 10))


def test_bf16_file_loads_as_fp32(tmp_path, tiny_model):
    save_weights(tiny_model, tmp_path / "m.safetensors", dtype=torch.bfloat16)
    loaded = load_model(tmp_path / "m.safetensors")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    rounded = {k: v.to(torch.bfloat16).float() for k, v in tiny_model.state_dict().items()}  # what bf16 keeps
    assert same_tensors(loaded.state_dict(), rounded)


def test_file_without_config_is_refused(tmp_path):
    save_file({"w": torch.zeros(1)}, tmp_path / "bare.safetensors")
    with pytest.raises(ValueError, match="no model config"):
        load_model(tmp_path / "bare.safetensors")
    with pytest.raises(FileNotFoundError, match="train.py"):
        load_model(tmp_path / "missing.safetensors")


def test_unreadable_or_mismatched_files_are_value_errors(tmp_path, tiny_model):
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not a safetensors weights file"):
        load_model(tmp_path / "junk.safetensors")
    tensors = {k: v.contiguous() for k, v in tiny_model.state_dict().items()}
    wider = ModelConfig(**{**tiny_model.config.to_dict(), "hidden": tiny_model.config.hidden * 2})
    save_file(tensors, tmp_path / "mixed.safetensors", metadata={"config": json.dumps(wider.to_dict())})
    with pytest.raises(ValueError, match="do not fit its own model config"):
        load_model(tmp_path / "mixed.safetensors")


@pytest.mark.parametrize("name", MODELS)
def test_shipped_weights_rebuild_from_their_own_folder(name):
    config, provenance = read_metadata(MODELS[name])
    assert isinstance(config, ModelConfig)
    model = convlstm.load_model(name)
    assert isinstance(model, Seq2Seq) and model.config == config
    assert provenance["sequences_seen"] > 0
    assert 2**20 < weights_file(MODELS[name]).stat().st_size < 10 * 2**20  # the real tensors, small enough for git


def test_a_name_means_a_shipped_model_and_anything_else_a_path(tmp_path):
    assert resolve(None) == DEFAULT_WEIGHTS == MODELS["whole-range"]
    assert resolve("canonical") == MODELS["canonical"] != resolve("whole-range")
    assert resolve("x.safetensors") == Path("x.safetensors") and resolve(tmp_path / "w") == tmp_path / "w"


def test_shipped_models_load_by_name_and_a_wrong_name_says_which_exist():
    for name, folder in MODELS.items():
        assert same_tensors(load_model(name).state_dict(), load_model(str(folder)).state_dict())
    assert load_model().config == load_model("whole-range").config != load_model("canonical").config
    with pytest.raises(FileNotFoundError, match="name a shipped model \\(whole-range, canonical\\)"):
        load_model("whole_range")
    with pytest.raises(ValueError, match="no shipped model named 'gpt'; choose one of: whole-range, canonical"):
        convlstm.predict(np.zeros((10, 64, 64), np.uint8), 3, model="gpt")


def test_readme_results_match_the_shipped_weights():
    """README's results table is generated from the weights' metadata; stale numbers fail here."""
    from tools.make_readme_media import README, readme_with_results

    text = README.read_text()
    assert "<!-- /results -->" in text and "<!-- /models -->" in text
    assert all(f"| ConvLSTM (`{name}`) |" in text for name in MODELS)
    assert readme_with_results(text) == text, "run python -m tools.make_readme_media after evaluating new weights"


def test_training_state_saved_on_one_device_loads_on_another(tmp_path, tiny_model):
    """last.pt is read onto the CPU whatever device wrote it, then the optimizer moves its state to the model's."""
    model = copy.deepcopy(tiny_model).train()
    opt = torch.optim.AdamW(model.parameters())
    model(torch.rand(1, 10, 1, 64, 64), 2).mean().backward()
    opt.step()  # now the optimizer holds moment tensors, as a real last.pt does
    save_state(tmp_path / "last.pt", {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": 3})
    state = load_state(tmp_path / "last.pt")
    assert same_tensors(state["model"], model.state_dict()) and state["step"] == 3
    meta = Seq2Seq(tiny_model.config).to("meta")  # parameters on another device than the file's tensors
    moved_opt = torch.optim.AdamW(meta.parameters())
    moved_opt.load_state_dict(state["optimizer"])  # moves the moments to the parameters' device
    moments = [v for s in moved_opt.state.values() for k, v in s.items() if k in ("exp_avg", "exp_avg_sq")]
    assert len(moments) == 2 * len(list(meta.parameters())) and all(v.device.type == "meta" for v in moments)
    save_weights(tiny_model, tmp_path / "w.safetensors")
    moved = load_model(tmp_path / "w.safetensors", "meta")
    assert all(p.device.type == "meta" for p in moved.parameters())


def test_writer_is_atomic(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def torn(tmp):
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, torn)
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]  # no temporary left behind


def test_api_moves_inputs_to_the_models_device(tiny_model):
    """run() sends the batch to the model's device: seen from inside the forward, on a model living on 'meta'."""
    model = Seq2Seq(tiny_model.config).to("meta")
    seen = []

    class Seen(Exception):
        pass

    def look(module, args):
        seen.append(args[0].device.type)
        raise Seen  # a meta model computes no values; the device of its input is all this test needs

    model.register_forward_pre_hook(look)
    with pytest.raises(Seen):
        run(model, np.zeros((1, 10, 64, 64), np.uint8), 2, precision="fp32")  # autocast has no meta device
    assert seen == ["meta"]
