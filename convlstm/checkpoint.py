"""Weights as safetensors; the ModelConfig and provenance ride along as JSON metadata, so one file rebuilds the model."""
import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .model import ModelConfig, Seq2Seq

DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "convlstm_mmnist.safetensors"


def save_weights(model: Seq2Seq, path: str | Path, provenance: dict | None = None, dtype: torch.dtype = torch.float32) -> None:
    """Write the model's weights (as `dtype`) with its config and a provenance dict; atomic via rename."""
    path = Path(path)
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    metadata = {"config": json.dumps(model.config.to_dict()), "provenance": json.dumps(provenance or {})}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, tmp, metadata=metadata)
    tmp.replace(path)


def read_metadata(path: str | Path) -> tuple[ModelConfig, dict]:
    """(ModelConfig, provenance dict) stored in a weights file, without loading the tensors."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "config" not in meta:
        raise ValueError(f"{path} carries no model config; write it with convlstm.checkpoint.save_weights")
    return ModelConfig(**json.loads(meta["config"])), json.loads(meta.get("provenance", "{}"))


def load_weights(path: str | Path | None = None) -> Seq2Seq:
    """Rebuild the model from one safetensors file (default: the shipped weights), fp32, in eval mode."""
    path = Path(path or DEFAULT_WEIGHTS)
    if not path.is_file():
        raise FileNotFoundError(f"no weights at {path}; train some with `python train.py --export {path}`")
    config, provenance = read_metadata(path)
    model = Seq2Seq(config)
    with safe_open(str(path), framework="pt") as f:
        state = {k: f.get_tensor(k).float() for k in f.keys()}
    model.load_state_dict(state)
    model.provenance = provenance
    return model.eval()
