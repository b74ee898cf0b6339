"""Weights in the Hugging Face layout: a folder with config.json, model.safetensors and a model card (README.md).

    model.save_pretrained("weights/convlstm-mmnist")        # or convlstm.hub.save_pretrained(model, folder)
    Seq2Seq.from_pretrained("weights/convlstm-mmnist")      # a local folder, or a Hub repo id such as "user/convlstm-mmnist"
    model.push_to_hub("user/convlstm-mmnist")

config.json holds the ModelConfig, read as strictly as everywhere else (an unknown field is refused, not dropped);
model.safetensors also carries the config and provenance in its metadata, so the file alone still loads with
convlstm.load_model. The card's YAML has the licence and the test numbers as model-index, when the weights carry them.
huggingface_hub is imported on use only: train.py runs where it is absent (a lent GPU machine) and exports one file.
"""
import json
import tempfile
from pathlib import Path

from .checkpoint import CONFIG_FILE, MODELS, WEIGHTS_FILE, atomic_write, load_model, save_weights
from .data import CANONICAL_DIGITS, NUM_DIGITS, SPEED, SPEEDS
from .metrics import cell_name, grid_headline
from .model import Seq2Seq

CARD_FILE = "README.md"
GRID_WORDS = f"{NUM_DIGITS[0]}-{NUM_DIGITS[1]} test digits x speeds {SPEEDS[0]:g}-{SPEEDS[1]:g}"  # the grid's range
CANONICAL_WORDS = cell_name(CANONICAL_DIGITS, SPEED)  # the canonical test's setting


def trained_on(provenance: dict) -> str:
    """What weights were trained on, from their provenance: the total, and the data of their last run."""
    return (f"{provenance.get('sequences_seen', 0):,} sequences ({provenance.get('steps', 0):,} steps) in all, the last "
            f"run's of {provenance.get('data', 'generated Moving MNIST')}")


def card(model: Seq2Seq, provenance: dict, name: str):
    """The model card (a huggingface_hub ModelCard): YAML metadata (licence, tags, model-index from the stored test
    numbers) and a short body with the whole-range headline."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    test = provenance.get("test") or {}
    results = [EvalResult(task_type="video-prediction", task_name="Video prediction (10 -> 10 frames)",
                          dataset_type="moving-mnist", dataset_name=f"Moving MNIST, {test['n']} generated test sequences",
                          metric_type=k, metric_name=label, metric_value=round(float(test[k]), 4))
               for k, label in (("mse", "MSE per frame"), ("ssim", "SSIM"), ("psnr", "PSNR (dB)")) if k in test]
    data = ModelCardData(license="mit", library_name="pytorch", tags=["video-prediction", "convlstm", "moving-mnist"],
                         model_name=name, eval_results=results or None)
    c = model.config
    head = grid_headline(test.get("grid") or {})
    scores = "" if not head else (
        f"\nAcross the whole range ({GRID_WORDS}, {test['grid']['n']} sequences a cell, 10 -> 10 MSE / a black "
        f"frame's):\n**mean {head['mean']:.2f}x, worst {head['worst']:.2f}x** ({cell_name(head['worst_digits'], head['worst_speed'])})"
        + ("" if head["shapes_worst"] is None else f", on simple shapes training never drew at most {head['shapes_worst']:.2f}x")
        + f";\ncanonical test ({CANONICAL_WORDS}) MSE {test['mse']:.1f} per frame.\n")
    body = f"""
# {name}

A ConvLSTM encoder-decoder (Shi et al. 2015) that reads 10 frames of 64x64 grey video and predicts the next ones,
trained on Moving MNIST generated from MNIST digits: {c.layers} + {c.layers} cells, {c.hidden} hidden channels,
{c.kernel_size}x{c.kernel_size} kernels on a {c.grid}x{c.grid} grid{c.spread_words}, {model.num_parameters():,} parameters,
{trained_on(provenance)}.
{scores}
```python
from convlstm import Seq2Seq, predict
model = Seq2Seq.from_pretrained("path/to/this/folder")    # or its Hub repo id, "user/{name}"
future = predict(frames, horizon=10, model=model)         # frames (T, H, W), uint8 or float in [0, 1]
```

Code: MIT. Data: the MNIST digits (LeCun, Cortes, Burges) are CC BY-SA 3.0; see the project's assets/NOTICE.
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{body}")


def save_pretrained(model: Seq2Seq, folder: str | Path, provenance: dict | None = None) -> Path:
    """Write config.json, model.safetensors and README.md into `folder` (created); returns it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    provenance = provenance if provenance is not None else getattr(model, "provenance", {})
    atomic_write(folder / CONFIG_FILE, lambda tmp: tmp.write_text(json.dumps(model.config.to_dict(), indent=1) + "\n"))
    save_weights(model, folder / WEIGHTS_FILE, provenance)
    atomic_write(folder / CARD_FILE, lambda tmp: tmp.write_text(str(card(model, provenance, folder.resolve().name))))
    return folder


def save_model(model: Seq2Seq, path: str | Path, provenance: dict | None = None) -> Path:
    """One file where `path` ends in .safetensors (convlstm.checkpoint.save_weights), else a folder in this layout."""
    if str(path).endswith(".safetensors"):
        return save_weights(model, path, provenance)
    return save_pretrained(model, path, provenance)


def from_pretrained(name: str | Path, device: str = "cpu", revision: str | None = None) -> Seq2Seq:
    """A shipped model by name ("whole-range", "canonical"), a local folder in this layout, or a Hugging Face Hub repo
    id (downloaded once, then cached)."""
    if str(name) in MODELS or Path(name).is_dir():
        return load_model(name, device)
    if Path(name).exists() or str(name).startswith((".", "/", "~")) or str(name).count("/") != 1:
        raise ValueError(f"{name}: not a shipped model ({', '.join(MODELS)}), a folder with {CONFIG_FILE} and "
                         f"{WEIGHTS_FILE}, nor a Hub repo id (user/name)")
    from huggingface_hub import snapshot_download

    try:
        local = snapshot_download(str(name), revision=revision, allow_patterns=[CONFIG_FILE, WEIGHTS_FILE, CARD_FILE])
    except Exception as e:  # offline, unknown repo, no access: the library's own reason, on one line
        why = " ".join(str(e).split())[:200]
        raise ValueError(f"could not fetch {name!r} from the Hugging Face Hub ({type(e).__name__}: {why}); "
                         "pass a local folder instead") from e
    return load_model(local, device)


def push_to_hub(model: Seq2Seq, repo_id: str, private: bool = False, token: str | None = None) -> str:
    """Upload the model in this layout to a Hub model repo (created if needed); returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        name = repo_id.split("/")[-1]
        folder = save_pretrained(model, Path(tmp) / name)  # the card is named for the repo
        return str(api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message=f"{name} weights"))
