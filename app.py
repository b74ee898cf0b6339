"""Gradio app: sample or upload a sequence, drag the horizon, watch the ConvLSTM's future beside the truth.

    python app.py        # honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT; Hugging Face Spaces runs it as is
"""
import tempfile
from pathlib import Path

import gradio as gr
import numpy as np

from convlstm import clips, forms, load_model, media, plots, predict, workdirs
from convlstm.api import split_context
from convlstm.data import CONTEXT, FUTURE, SPEED, generate_sequence, load_digits
from convlstm.metrics import all_per_step

ROOT = Path(__file__).resolve().parent
EXAMPLES = sorted((ROOT / "assets" / "examples").glob("*.gif"))
MAX_HORIZON = 30  # the slider's end: 3x past the 10 trained steps
WORK = Path(tempfile.gettempdir()) / "convlstm-app"  # per-request output folders, pruned after KEEP_S
KEEP_S = 15 * 60
CONCURRENCY = 2  # model calls at once: the 2 vCPUs of a free Space
QUEUE_SIZE = 16  # requests waiting beyond those; more are refused at once with "queue is full"

MODEL = load_model()  # once, at start-up
DIGITS = load_digits("test")  # the app samples only digits the model never trained on


def _workdir() -> Path:
    """A fresh folder for one request's files; folders older than KEEP_S are removed on the way."""
    return workdirs.fresh(WORK, KEEP_S)


def _scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, np.ndarray]:
    """Per-step scores of one sequence (T, 64, 64) against its truth."""
    return all_per_step(pred[None], truth[None], openstl=False)  # (T, H, W) -> (1, T, H, W)


def _form(value, name: str, low: float, high: float | None = None, whole: bool = True):
    """A form value checked by forms.number, or a gr.Error that names the field."""
    try:
        return forms.number(value, name, low, high, whole)
    except forms.FormError as e:
        raise gr.Error(str(e)) from None


def _show(context: np.ndarray, truth: np.ndarray | None, horizon: int, note: str):
    """Run the model and build every output: GIF, filmstrip, plot, table, note, downloads."""
    pred = predict(context, horizon, MODEL)
    out = _workdir()
    gif = media.write_gif(media.comparison_frames(context, pred, truth), out / "comparison.gif")
    strip = media.filmstrip(context, pred, truth, out / "filmstrip.png")
    np.save(out / "prediction.npy", pred)
    downloads = [str(media.prediction_gif(pred, out / "prediction.gif")), str(out / "prediction.npy")]
    plot, table = None, [["(no ground truth: the clip ends at the context)", "", ""]]
    if truth is not None:
        n = min(len(truth), horizon)
        model = _scores(pred[:n], truth[:n])
        baseline = _scores(np.repeat(context[-1:], n, axis=0), truth[:n])  # copy the last context frame
        plot = str(plots.horizon_curves({"ConvLSTM": model, "copy last frame": baseline}, out / "horizon.png"))
        table = [[name, f"{model[k].mean():.{d}f}", f"{baseline[k].mean():.{d}f}"]
                 for name, k, d in [("MSE per frame", "mse", 1), ("MAE per frame", "mae", 1), ("SSIM", "ssim", 3), ("PSNR (dB)", "psnr", 2)]]
    if horizon > FUTURE:
        note += f"\n\n**Extrapolation:** frames +{FUTURE + 1} to +{horizon} go past the {FUTURE} steps the model was trained to predict."
    return str(gif), str(strip), plot, table, note, downloads


def sample(seed: float, num_digits: float, speed: float, horizon: float):
    """A new MovingMNIST sequence from the test digits, and the model's prediction of it."""
    seed, num_digits, horizon = _form(seed, "seed", 0), _form(num_digits, "digits", 1, 3), _form(horizon, "horizon", 1, MAX_HORIZON)
    speed = _form(speed, "speed", 0.01, 0.5, whole=False)
    seq = generate_sequence(np.random.default_rng(seed), DIGITS, num_frames=CONTEXT + horizon,
                            num_digits=num_digits, speed=float(speed))
    note = (f"Sampled seed {seed}: {num_digits} test digit{'s' * (num_digits > 1)}, speed {speed:g}; "
            f"context = frames 1-{CONTEXT}, truth = frames {CONTEXT + 1}-{CONTEXT + horizon}.")
    return _show(seq[:CONTEXT], seq[CONTEXT:], horizon, note)


def predict_file(files, horizon: float, index: float):
    """An uploaded clip (or image frames): the first 10 frames are context, what follows is the truth."""
    horizon = _form(horizon, "horizon", 1, MAX_HORIZON)
    index = _form(0 if index is None else index, "sequence index", 0)
    if not files:
        raise gr.Error(f"Upload a clip first: {clips.ACCEPTED}.")
    paths = [Path(f) for f in (files if isinstance(files, list) else [files])]
    try:
        clips.admit_upload(paths)
        clip = clips.read_clip(paths, index)
    except clips.ClipError as e:
        raise gr.Error(str(e)) from None
    context, truth = split_context(clip.frames)
    n_ctx = len(context)
    note = f"{clip.note}; context = frames 1-{n_ctx}"
    if truth is None:
        note += "; no frames after the context, so there is no ground truth to compare with."
    else:
        used = min(len(truth), horizon)
        note += f", truth = frames {n_ctx + 1}-{n_ctx + used}"
        if len(truth) > horizon:
            note += f"; frames {n_ctx + horizon + 1}-{len(clip.frames)} lie past the horizon and are not used"
        note += "."
    if n_ctx < CONTEXT:
        note += f" (The model was trained on {CONTEXT} context frames; fewer also work.)"
    return _show(context, truth, horizon, note)


def about() -> str:
    """'How it works', with the shipped model's measured numbers read from its weights file."""
    p, c = MODEL.provenance, MODEL.config
    test = p.get("test")
    if test:
        numbers = (f"On {test['n']} test sequences (10 -> 10 frames, two digits, digits never seen in training): "
                   f"MSE per frame **{test['mse']:.1f}**, MAE **{test['mae']:.1f}**, SSIM **{test['ssim']:.3f}**, "
                   f"PSNR **{test['psnr']:.2f} dB** (zeros baseline MSE {test['zeros_mse']:.1f}, "
                   f"copy-last-frame {test['copy_last_mse']:.1f}).")
    else:
        numbers = f"Validation MSE per frame {p.get('validation', {}).get('mse', float('nan')):.1f}; no test evaluation is stored in these weights yet."
    start = " that start from the encoder's final states (as in Shi et al.)" if c.copy_states else " that start from zero"
    return f"""
**Model.** A ConvLSTM encoder-decoder (Shi et al. 2015), as in the article this project follows: two ConvLSTM
cells read the {CONTEXT} context frames; the top hidden state (the *encoder vector*) is the first input of two
decoder cells{start}, each later step fed the previous decoder output, and a Conv3d head with a sigmoid turns
every decoder output into a frame.
Frames are folded {c.patch_size}x{c.patch_size} into channels first (64x64x1 -> {64 // c.patch_size}x{64 // c.patch_size}x{c.patch_size ** 2}), which makes it fast on a CPU.
Hidden size {c.hidden}, kernel {c.kernel_size}x{c.kernel_size}, {sum(t.numel() for t in MODEL.parameters()):,} parameters.

**Training.** {p.get('sequences_seen', 0):,} generated MovingMNIST sequences ({p.get('steps', 0):,} steps, {p.get('precision', '?')})
from the training split of the digits.

**Measured.** {numbers}

**Inputs.** Uploads become 64x64 grey frames (colour to luma, padded to square, resized). The model knows
bright digits moving on black; other footage is far outside what it has seen.
"""


with gr.Blocks(title="ConvLSTM video prediction", delete_cache=(3600, 3600)) as demo:
    gr.Markdown("# ConvLSTM video prediction\nThe model watches 10 frames and predicts what comes next. "
                "Sample a Moving MNIST sequence or upload your own short grey clip.")
    with gr.Row():
        with gr.Column(scale=2):
            horizon = gr.Slider(1, MAX_HORIZON, value=FUTURE, step=1, label="Prediction horizon (frames)",
                                info=f"Trained for {FUTURE}; beyond {FUTURE} is extrapolation.")
            with gr.Tab("Sample"):
                with gr.Row():
                    seed = gr.Number(value=0, precision=0, minimum=0, label="Seed")
                    dice = gr.Button("🎲 Random", scale=0, min_width=100)
                num_digits = gr.Slider(1, 3, value=2, step=1, label="Digits")
                speed = gr.Slider(0.02, 0.3, value=SPEED, step=0.01, label="Speed (fraction of the free range per frame)")
                sample_btn = gr.Button("Sample", variant="primary", elem_id="sample-button")
            with gr.Tab("Upload"):
                files = gr.File(file_count="multiple", label=f"Clip: {clips.ACCEPTED}",
                                file_types=list(clips.SUFFIXES))
                index = gr.Number(value=0, precision=0, minimum=0, label="Sequence index (canonical (20, N, 64, 64) .npy only)")
                upload_btn = gr.Button("Predict", variant="primary")
        with gr.Column(scale=3):
            gif = gr.Image(label="Input | Ground truth | Prediction | |Error|", type="filepath", show_label=False)
            note = gr.Markdown()
    with gr.Row():
        plot = gr.Image(label="Error over the horizon (model vs copy-last-frame)", type="filepath")
        table = gr.Dataframe(headers=["metric", "ConvLSTM", "copy last frame"], label="Metrics (mean over the horizon)")
    strip = gr.Image(label="Filmstrip", type="filepath")
    downloads = gr.File(label="Download the prediction (GIF, .npy)", file_count="multiple")
    outputs = [gif, strip, plot, table, note, downloads]

    if EXAMPLES:
        gr.Examples([[[str(p)], FUTURE, 0] for p in EXAMPLES], inputs=[files, horizon, index], outputs=outputs,
                    fn=predict_file, cache_examples=True, label="Ready sequences")
    with gr.Accordion("How it works", open=False):
        gr.Markdown(about())

    dice.click(lambda: int(np.random.default_rng().integers(0, 1_000_000)), outputs=seed, api_visibility="private")
    sample_btn.click(sample, [seed, num_digits, speed, horizon], outputs, api_name="sample",
                     concurrency_limit=CONCURRENCY, concurrency_id="model")
    upload_btn.click(predict_file, [files, horizon, index], outputs, api_name="predict_file",
                     concurrency_limit=CONCURRENCY, concurrency_id="model")

demo.queue(max_size=QUEUE_SIZE)

if __name__ == "__main__":
    # host and port come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (Gradio reads them); nothing is hard-coded
    demo.launch(max_file_size=clips.MAX_BYTES, ssr_mode=False, theme=gr.themes.Soft())
