"""The Hugging Face layout: save_pretrained / from_pretrained round trips, the shipped folder, torch.hub, offline ids."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from convlstm import ModelConfig, Seq2Seq, load_model
from convlstm.checkpoint import DEFAULT_MODEL, MODELS, read_metadata, read_tensors
from convlstm import hub
from convlstm.hub import save_model
from convlstm.metrics import grid_headline
from reference import same_tensors

ROOT = Path(__file__).resolve().parents[1]


def test_save_pretrained_round_trip_and_the_single_file_still_loads(tmp_path):
    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(hidden=8, spread=3))
    folder = model.save_pretrained(tmp_path / "m", {"steps": 7, "test": {"n": 4, "mse": 50.0, "ssim": 0.8, "psnr": 19.0}})
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors", "README.md"}
    assert ModelConfig.from_dict(json.loads((folder / "config.json").read_text())) == model.config
    again = Seq2Seq.from_pretrained(folder)
    assert again.config == model.config and again.provenance["steps"] == 7
    assert same_tensors(model.state_dict(), again.state_dict())
    assert load_model(folder / "model.safetensors").config == model.config  # the file alone carries its config
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n") and "license: mit" in card and "model-index:" in card and "value: 50.0" in card
    assert save_model(model, tmp_path / "one.safetensors").is_file()  # a .safetensors path: one file


@pytest.mark.parametrize("name", list(MODELS))
def test_the_shipped_weights_are_hub_folders_that_agree_with_themselves(name):
    folder = MODELS[name]
    assert folder.is_dir() and (folder / "README.md").is_file()
    config, provenance = read_metadata(folder)
    assert config == ModelConfig.from_dict(json.loads((folder / "config.json").read_text()))
    card = (folder / "README.md").read_text()
    head = grid_headline(provenance["test"]["grid"])
    assert f"value: {round(provenance['test']['mse'], 4)}" in card and f"# {folder.name}\n" in card
    assert f"**mean {head['mean']:.2f}x, worst {head['worst']:.2f}x**" in card  # the whole-range headline
    by_name = load_model(name)
    assert card == str(hub.card(by_name, provenance, folder.name)), "rewrite it: convlstm.hub.save_pretrained"
    assert "frame_feedback" not in (folder / "config.json").read_text()  # written by this version, not an older one
    assert by_name.config == config and Seq2Seq.from_pretrained(name).provenance == provenance == by_name.provenance


def test_the_default_beats_the_specialist_across_the_range_which_stays_only_while_it_wins_at_speed_0_1():
    """README, Models: new weights became the default by beating the shipped ones on the whole range (the grid's
    mean, the whole-range validation) and at the worst grid cell; the canonical specialist stays shipped while it is
    still the better one on the canonical test."""
    default, specialist = (read_metadata(MODELS[n])[1] for n in (DEFAULT_MODEL, "canonical"))
    mine, theirs = grid_headline(default["test"]["grid"]), grid_headline(specialist["test"]["grid"])
    assert mine["mean"] < theirs["mean"] and mine["worst"] < theirs["worst"]
    assert mine["shapes_worst"] < theirs["shapes_worst"]
    assert specialist["test"]["mse"] < default["test"]["mse"], "the default wins at speed 0.1 too: drop the specialist"


def test_a_folder_whose_config_disagrees_with_its_weights_is_refused(tmp_path):
    folder = Seq2Seq(ModelConfig(hidden=8)).save_pretrained(tmp_path / "m")
    (folder / "config.json").write_text(json.dumps({"hidden": 16}))
    with pytest.raises(ValueError, match="disagrees"):
        load_model(folder)
    (folder / "config.json").write_text(json.dumps({"hidden": 8, "attention": True}))
    with pytest.raises(ValueError, match="unknown model config fields"):  # strict, not silently dropped
        load_model(folder)


def test_a_repo_id_offline_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="could not fetch 'someone/convlstm-mmnist' from the Hugging Face Hub") as e:
        Seq2Seq.from_pretrained("someone/convlstm-mmnist")
    assert "\n" not in str(e.value) and "local folder" in str(e.value)
    with pytest.raises(ValueError, match="nor a Hub repo id"):
        Seq2Seq.from_pretrained("./no/such/folder")


@pytest.mark.parametrize("name", [None, "canonical"])
def test_torch_hub_loads_the_shipped_weights_from_the_checkout(name):
    model = torch.hub.load(str(ROOT), "convlstm_mmnist", source="local", name=name)
    assert same_tensors(model.state_dict(), read_tensors(MODELS[name or DEFAULT_MODEL]))
    fresh = torch.hub.load(str(ROOT), "convlstm_mmnist", source="local", pretrained=False, name=name)
    assert fresh.config == model.config and not torch.equal(fresh.stem.head.weight, model.stem.head.weight)
    for pretrained in (True, False):
        with pytest.raises(FileNotFoundError, match="name a shipped model \\(whole-range, canonical\\)"):
            torch.hub.load(str(ROOT), "convlstm_mmnist", source="local", pretrained=pretrained, name="gpt")


def test_training_imports_neither_the_hub_library_nor_gradio():
    """A lent GPU machine has no huggingface_hub and no gradio: train.py must import without them."""
    code = "import sys, train; bad = {'huggingface_hub', 'gradio'} & set(sys.modules); assert not bad, bad"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env={**os.environ})
    assert r.returncode == 0, r.stderr[-1500:]


def test_train_exports_a_hub_folder(tmp_path):
    import train

    train.main(["--hidden", "8", "--batch-size", "2", "--val-size", "4", "--steps", "1", "--eval-every", "1",
                "--out", str(tmp_path / "r"), "--export", str(tmp_path / "exported")])
    assert (tmp_path / "exported" / "config.json").is_file() and load_model(tmp_path / "exported").config.hidden == 8
