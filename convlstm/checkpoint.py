"""Every file a model lives in: weights as safetensors (config and provenance as JSON metadata, so one file
rebuilds the model), a folder in the Hugging Face layout holding such a file (convlstm/hub.py writes it), and the
training state `last.pt` (model config, weights, optimizer, schedule, scaler, step).

Both are written through one atomic writer and loaded on the CPU, then moved, so a file saved on one device
loads on any other.
"""
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .bundled import bundled
from .model import ModelConfig, Seq2Seq

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"  # a Hugging Face layout folder's config and weights
# the shipped weights by name, each a folder in that layout. The default is the one good across the app's whole
# range of speeds, digit counts and shapes; the canonical specialist (two digits at speed 0.1 only) stays until
# one model beats it there too (README, Models)
MODELS = {"whole-range": bundled("weights", "convlstm-mmnist"), "canonical": bundled("weights", "convlstm-mmnist-canonical")}
DEFAULT_MODEL = "whole-range"
DEFAULT_WEIGHTS = MODELS[DEFAULT_MODEL]


def resolve(weights: str | Path | None) -> Path:
    """The weights a name or path means: a shipped model's name (MODELS), else the path itself; None: the default."""
    if weights is None:
        return DEFAULT_WEIGHTS
    return MODELS.get(str(weights), Path(weights))


def atomic_write(path: str | Path, write) -> Path:
    """Call write(tmp_path), then rename over `path`: a crash never leaves a torn file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_weights(model: Seq2Seq, path: str | Path, provenance: dict | None = None, dtype: torch.dtype = torch.float32) -> Path:
    """Write the model's weights (as `dtype`, on the CPU) with its config and a provenance dict."""
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    metadata = {"config": json.dumps(model.config.to_dict()), "provenance": json.dumps(provenance or {})}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def weights_file(path: str | Path) -> Path:
    """The safetensors file of `path`: the file itself, or a Hugging Face layout folder's model.safetensors."""
    path = Path(path)
    return path / WEIGHTS_FILE if path.is_dir() else path


def _open(path: str | Path):
    """safe_open, with a missing file (FileNotFoundError) or one that is not safetensors (ValueError) said in one line."""
    if not weights_file(path).is_file():
        raise FileNotFoundError(f"no weights at {path}; name a shipped model ({', '.join(MODELS)}), or train some with "
                                f"`python train.py --export {path}`")
    try:
        return safe_open(str(weights_file(path)), framework="pt", device="cpu")
    except SafetensorError as e:
        raise ValueError(f"{path} is not a safetensors weights file ({e}); write one with `python train.py --export`") from e


def read_metadata(path: str | Path) -> tuple[ModelConfig, dict]:
    """(ModelConfig, provenance dict) stored in a weights file or folder, without loading the tensors.

    A folder's config.json is the structure; the safetensors metadata must agree with it."""
    with _open(path) as f:
        meta = f.metadata() or {}
    if "config" not in meta:
        raise ValueError(f"{path} carries no model config; write it with convlstm.checkpoint.save_weights")
    config = ModelConfig.from_dict(json.loads(meta["config"]))
    if Path(path).is_dir():
        stated = ModelConfig.from_dict(json.loads((Path(path) / CONFIG_FILE).read_text()))
        if stated != config:
            raise ValueError(f"{path}: {CONFIG_FILE} ({stated}) disagrees with {WEIGHTS_FILE} ({config}); rewrite the "
                             "folder with convlstm.hub.save_pretrained")
    return config, json.loads(meta.get("provenance", "{}"))


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of a weights file, fp32 on the CPU."""
    with _open(path) as f:
        return {k: f.get_tensor(k).float() for k in f.keys()}


def load_model(path: str | Path | None = None, device: str | torch.device = "cpu") -> Seq2Seq:
    """Rebuild the model from one safetensors file or Hugging Face layout folder, or a shipped model's name ("whole-range",
    the default, or "canonical"), fp32, in eval mode, on `device`."""
    path = resolve(path)
    config, provenance = read_metadata(path)
    model = Seq2Seq(config)
    try:
        model.load_state_dict(read_tensors(path))
    except RuntimeError as e:  # tensors that do not fit the stored config: a hand-edited or mixed-up file
        raise ValueError(f"{path}: its tensors do not fit its own model config ({str(e).splitlines()[0]}); "
                         "re-export it from the run that made it (train.py --export), or load another file") from e
    model.provenance = provenance
    return model.eval().to(device)


def save_state(path: str | Path, state: dict) -> Path:
    """Write a training state (plain tensors, numbers, strings, lists and dicts only)."""
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_state(path: str | Path) -> dict:
    """A training state written by save_state, on the CPU; never unpickles code."""
    return torch.load(path, map_location="cpu", weights_only=True)
