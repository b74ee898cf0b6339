"""Gradio app: a prediction plays on arrival; drag a slider, roll the dice or upload a clip, and watch the
ConvLSTM's future beside the truth, and what its gates do while it predicts.

    python app.py        # honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT; Hugging Face Spaces runs it as is
"""
import asyncio
import functools
import inspect
import logging
import os
import tempfile
import threading
from pathlib import Path

import gradio as gr
import numpy as np
from gradio.utils import get_upload_folder
from starlette.middleware import Middleware

from convlstm.showcase import forms, guard, inside, pipeline, workdirs
from convlstm.upload import clips
from convlstm.api import MAX_HORIZON, prepare_clip, shipped_model
from convlstm.checkpoint import DEFAULT_MODEL, MODELS
from convlstm.data import CANVAS, CONTEXT, FREE, FUTURE, NUM_DIGITS, SPEED, SPEEDS, generate_sequence, load_digits
from convlstm.evaluate import GATE_RATIO, cell_for, grid_table, models_table
from convlstm.hub import CANONICAL_WORDS, GRID_WORDS, trained_on
from convlstm.metrics import cell_name
from convlstm.showcase.pipeline import CONCURRENCY, FILE_SLOTS, KEEP_S, QUEUE_SIZE, SESSIONS, asset

ROOT = Path(__file__).resolve().parent
EXAMPLES = sorted((ROOT / "assets" / "examples").glob("*.gif"))
WORK = Path(tempfile.gettempdir()) / "convlstm-app"  # per-request output folders, pruned after KEEP_S
EXPECTS = ("The model knows **bright shapes moving on a black background**, 64x64 grey, 10 frames of context "
           "(uploads are converted; a bright or grey background, or faint shapes, are fixed automatically unless "
           "you untick *Fix the input*).")
MAX_SEED = 2**32 - 1  # numpy seeds any integer, but a 300-digit seed helps nobody
COLOURS = dict(zip(pipeline.PREDICTORS, ["#3b82f6", "#f97316"]))  # the curves: the model blue, as its frames
# the shipped models (checkpoint.MODELS) as the page names them: what each is good at
MODEL_LABELS = {"whole-range": "Whole range: 1-3 digits at every speed, and shapes",
                "canonical": f"Canonical specialist: {CANONICAL_WORDS}"}
log = logging.getLogger("convlstm.app")


def _workdir() -> Path:
    """A fresh folder for one request's files; folders older than KEEP_S are removed on the way."""
    return workdirs.fresh(WORK, KEEP_S)


def _form(value, name: str, low: float, high: float | None = None, whole: bool = True):
    """A form value checked by forms.number, or a gr.Error that names the field."""
    try:
        return forms.number(value, name, low, high, whole)
    except forms.FormError as e:
        raise gr.Error(str(e)) from None


def _model(name):
    """(name, model) of the shipped model a form names (empty: the default), or a gr.Error listing the names."""
    name = name or DEFAULT_MODEL
    try:
        return name, shipped_model(name)
    except (ValueError, TypeError) as e:  # TypeError: a value that cannot even be looked up (a list)
        raise gr.Error(f"model must be one of {', '.join(MODELS)}, got {forms.shown(name)}") from e


def _user_errors(handler):
    """A user's mistake (gr.Error) is logged as one line, without a traceback, and shown to the user as is."""
    @functools.wraps(handler)
    def wrapped(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except gr.Error as e:
            log.warning("%s refused: %s", handler.__name__, e.message)
            e.print_exception = False
            raise
    return wrapped


def _cancellable(handler):
    """The listener for a handler that decodes uploads: it runs in a thread with a cancel flag.

    Gradio's cancel (and a closed tab) cancels the task awaiting the handler and frees its slot at once, but no
    thread can be stopped from outside: the flag kills the handler's decoding worker within 50 ms instead, so a
    flood of cancelled uploads never leaves decoders running beyond the slots."""
    @functools.wraps(handler)
    async def listener(*args):
        cancel = threading.Event()
        try:
            return await asyncio.to_thread(handler, *args, cancel=cancel)
        except asyncio.CancelledError:
            cancel.set()
            raise
    shown = inspect.signature(handler)  # what Gradio reads to fill the arguments: all but the flag, which is ours
    listener.__signature__ = shown.replace(parameters=[p for p in shown.parameters.values() if p.name != "cancel"])
    return listener


def _outputs(shown: pipeline.Shown, note: str, horizon: int) -> tuple:
    """The handlers' outputs, in the order of OUTPUTS below."""
    if horizon > FUTURE:
        note += f"\n\n**Extrapolation:** frames +{FUTURE + 1} to +{horizon} go past the {FUTURE} steps the model was trained to predict."
    return (shown.result, note, shown.table, shown.curves, shown.curves, shown.player, shown.inside)


@_user_errors
def files_for(result: str):
    """The filmstrip and downloads of a result that /sample or /predict_file returned in the last KEEP_S seconds."""
    folder = workdirs.find(WORK, result)
    if folder is None or not (folder / pipeline.ARRAYS).is_file():
        raise gr.Error(f"No result {str(result)[:40]!r} here: pass the result id that /sample or /predict_file returned "
                       f"(results are kept {KEEP_S // 60} minutes).")
    made = pipeline.files(folder)
    return str(made.strip), made.downloads


@_user_errors
def sample(seed: float, num_digits: float, speed: float, horizon: float, model: str = DEFAULT_MODEL):
    """A new MovingMNIST sequence from the test digits, and the prediction of a shipped model (whole-range or canonical)."""
    seed, num_digits, horizon = _form(seed, "seed", 0, MAX_SEED), _form(num_digits, "digits", *NUM_DIGITS), _form(horizon, "horizon", 1, MAX_HORIZON)
    speed = _form(speed, "speed", *SPEEDS, whole=False)
    name, weights = _model(model)
    seq = generate_sequence(np.random.default_rng(seed), load_digits("test"), num_frames=CONTEXT + horizon,
                            num_digits=num_digits, speed=float(speed))
    note = (f"Sampled seed {seed} from the test digits: {cell_name(num_digits, speed)}; "
            f"context = frames 1-{CONTEXT}, truth = frames {CONTEXT + 1}-{CONTEXT + horizon}.{_measured(name, num_digits, speed)}")
    return _outputs(pipeline.show(seq[:CONTEXT], seq[CONTEXT:], horizon, _workdir(), model=weights), note, horizon)


def _cell(name: str, num_digits: int, speed: float) -> tuple[dict | None, int]:
    """A shipped model's grid cell nearest to (digits, speed), and the cell's number of test sequences."""
    grid = shipped_model(name).provenance.get("test", {}).get("grid", {})
    return cell_for(grid.get("cells", []), num_digits, speed), grid.get("n", 0)


def _measured(name: str, num_digits: int, speed: float) -> str:
    """How well the chosen model does on test sequences like the sampled one (its grid cell), and which shipped model
    does better there, if one does; empty without a grid."""
    cell, n = _cell(name, num_digits, speed)
    if cell is None:
        return ""
    told = (f"\n\nOn {n} test sequences like this one ({cell_name(num_digits, cell['speed'])}) the {name} model scores "
            f"**{cell['ratio']:.2f}x** a black frame's MSE")
    if cell["ratio"] <= GATE_RATIO:
        told += "."
    else:
        verdict = "it predicts poorly at this speed" if cell["ratio"] < 1 else \
            "worse than a black frame; it has not learned this speed"
        told += f": {verdict} (the grid in *How it works* shows where it does well)."
    others = [(c["ratio"], other) for other in MODELS if other != name
              for c in [_cell(other, num_digits, speed)[0]] if c and c["ratio"] < cell["ratio"]]
    if others:
        ratio, other = min(others)
        told += f" The {other} model scores {ratio:.2f}x here: choose it under *Model*."
    return told


@_user_errors
def predict_file(files, horizon: float, index: float, fix: bool = True, model: str = DEFAULT_MODEL,
                 cancel: threading.Event | None = None):
    """An uploaded clip (or image frames): the first 10 frames are context, what follows is the truth.

    fix: invert / lift / stretch a clip that is far from bright-on-black (convlstm.upload.fix), as everywhere.
    model: a shipped model's name, whole-range (the default) or canonical.
    cancel: set when the request is cancelled; decoding stops and nothing more is computed.
    """
    horizon = _form(horizon, "horizon", 1, MAX_HORIZON)
    index = _form(0 if index is None else index, "sequence index", 0)
    name, weights = _model(model)
    if not files:
        raise gr.Error(f"Upload a clip first: {clips.ACCEPTED}.")
    paths = [Path(f) for f in (files if isinstance(files, list) else [files])]
    try:
        clip = clips.read_clip(paths, index, cancel=cancel)
    except clips.ClipError as e:
        raise gr.Error(str(e)) from None
    if cancel is not None and cancel.is_set():
        raise gr.Error("Cancelled.")
    ready = prepare_clip(clip, horizon, fix=bool(fix))
    note = ready.note
    if ready.given is not None:
        note += (" Input shows the clip as given, the other panels what the model reads; untick *Fix the input* to feed "
                 "it as it is.")
    elif ready.fix.problems:
        note += " Tick *Fix the input* to correct it."
    note += f" Predicted by the {name} model."
    return _outputs(pipeline.show(ready.context, ready.truth, horizon, _workdir(), shown_input=ready.given, model=weights),
                    note, horizon)


def rerun(source: str, seed, num_digits, speed, horizon, files, index, fix, model,
          cancel: threading.Event | None = None):
    """Re-run the current input (the last sampled sequence or the uploaded clip) after a slider or the model changed."""
    if source == "upload" and files:
        return predict_file(files, horizon, index, fix, model, cancel=cancel)
    return sample(seed, num_digits, speed, horizon, model)


def pick_example(horizon, fix, model, evt: gr.SelectData, cancel: threading.Event | None = None):
    """A click on a ready sequence: load it as the upload, show the Upload tab, and predict."""
    if not 0 <= evt.index < len(EXAMPLES):
        raise gr.Error(f"Pick one of the {len(EXAMPLES)} ready sequences (index 0-{len(EXAMPLES) - 1}), not {evt.index}.")
    path = str(EXAMPLES[evt.index])
    return ([path], gr.Tabs(selected="upload"), "upload", *predict_file([path], horizon, 0, fix, model, cancel=cancel))


def about(name: str = DEFAULT_MODEL) -> str:
    """'How it works', with the chosen shipped model's measured numbers read from its weights file."""
    return _about(_model(name)[0])


@functools.lru_cache(maxsize=len(MODELS))  # per model name: the weights' numbers never change; reach() takes seconds
def _about(name: str) -> str:
    model = shipped_model(name)
    p, c = model.provenance, model.config
    test = p.get("test")
    if test:
        numbers = (f"On {test['n']} test sequences ({CONTEXT} -> {FUTURE} frames, {CANONICAL_WORDS}, digits never seen in "
                   "training): "
                   f"MSE per frame **{test['mse']:.1f}**, MAE **{test['mae']:.1f}**, SSIM **{test['ssim']:.3f}**, "
                   f"PSNR **{test['psnr']:.2f} dB** (zeros baseline MSE {test['zeros_mse']:.1f}, "
                   f"copy-last-frame {test['copy_last_mse']:.1f}).")
    else:
        numbers = f"Validation MSE per frame {p.get('validation', {}).get('mse', float('nan')):.1f}; no test evaluation is stored in these weights yet."
    start = " that start from the encoder's final states (as in Shi et al.)" if c.copy_states else " that start from zero"
    fold = (f"Frames are folded {c.patch_size}x{c.patch_size} into channels first ({CANVAS}x{CANVAS}x1 -> {c.grid}x"
            f"{c.grid}x{c.patch_channels}), which makes it fast on a CPU.")
    reach = model.reach()
    grid = p.get("test", {}).get("grid", {})
    speeds = (f"\n\nAcross {GRID_WORDS} (the sliders' range), on {grid['n']} test "
              "sequences per cell: MSE / a black frame's MSE (ratio; below 1 beats a black frame, and the project asks "
              f"for at most {GATE_RATIO:g} everywhere):\n\n{grid_table(grid['cells'], grid.get('shapes'))}" if grid.get("cells") else "")
    return f"""
**Two shipped models**, chosen under *Model* (grid: MSE / a black frame's MSE on {GRID_WORDS}, the sliders' range,
and on shapes training never drew; the test MSE is the literature's canonical set, {CANONICAL_WORDS}):

{models_table(MODEL_LABELS)}

The whole-range model is the default: it beats the specialist across the range and at its worst cell; the specialist
stays for the canonical setting, where it is still the better of the two. Below: the **{name}** model.

**Model.** A ConvLSTM encoder-decoder (Shi et al. 2015), as in the article this project follows: {c.layers} ConvLSTM
cells read the {CONTEXT} context frames; the top hidden state (the *encoder vector*) is the first input of {c.layers}
decoder cells{start}, each later step fed the previous decoder output, and a Conv3d head with a sigmoid turns every decoder
output into a frame. {fold}
Hidden size {c.hidden}, kernel {c.kernel_size}x{c.kernel_size}{c.spread_words}, {model.num_parameters():,} parameters,
{model.macs_per_sequence() / 1e9:.2f} GMACs a prediction. Measured reach: information moves at most
**{reach['decoder_px_per_step']:g} px per predicted frame and {reach['encoder_px_per_step']:g} px per context frame**
(the fastest digits here move {SPEEDS[1] * FREE:.1f} px a frame).

**Training.** {trained_on(p)} ({p.get('precision', '?')}).

**Measured.** {numbers}{speeds}

**Inputs.** Uploads become 64x64 grey frames (colour to luma, padded to square, resized). The model knows
bright digits moving on black; clips with a bright or grey background or faint shapes are inverted,
lifted to black and stretched first (unless you untick *Fix the input*), and the note says what was done. The fix
reads and changes only the clip's own pixels: the black bars that make a non-square clip square stay black. The
command line (`--no-fix`) and `convlstm.predict` (`fix=False`) prepare clips the same way.
"""


def player(label: str, elem_id: str) -> gr.HTML:
    """The in-page player (showcase/player.html, .css, .js): the columns' frames on a canvas, play/pause and a scrubber."""
    return gr.HTML(None, label=label, html_template=asset("player.html"), css_template=asset("player.css"),
                   js_on_load=asset("player.js"), elem_id=elem_id, show_label=False)


with gr.Blocks(title="ConvLSTM video prediction", delete_cache=(KEEP_S, KEEP_S)) as demo:
    gr.Markdown("# ConvLSTM video prediction\nThe model watches 10 frames and predicts what comes next. "
                "Move a slider, roll the dice, pick a ready sequence or upload a clip. " + EXPECTS)
    source = gr.State("sample")  # which input the sliders re-run: "sample" or "upload"
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            with gr.Tabs(selected="sample") as tabs:
                with gr.Tab("Sample", id="sample"):
                    with gr.Row():
                        seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed", min_width=120)
                        dice = gr.Button("🎲 Random", scale=0, min_width=100, elem_id="dice")
                    num_digits = gr.Slider(*NUM_DIGITS, value=2, step=1, label="Digits", elem_id="digits")
                    speed = gr.Slider(*SPEEDS, value=SPEED, step=0.01, label="Speed (fraction of the free range per frame)")
                    sample_btn = gr.Button("Sample", variant="primary", elem_id="sample-button")
                with gr.Tab("Upload", id="upload"):
                    files = gr.File(file_count="multiple", label=f"Clip: {clips.ACCEPTED}", file_types=list(clips.SUFFIXES),
                                    elem_id="files")
                    index = gr.Number(value=0, precision=0, minimum=0, label="Sequence index (canonical (20, N, 64, 64) .npy only)")
                    fix = gr.Checkbox(True, label="Fix the input",
                                      info="Invert a bright background, lift a grey one to black, stretch faint shapes.")
                    upload_btn = gr.Button("Predict", variant="primary", elem_id="upload-button")
            horizon = gr.Slider(1, MAX_HORIZON, value=FUTURE, step=1, label="Prediction horizon (frames)", elem_id="horizon",
                                info=f"Trained for {FUTURE}; beyond {FUTURE} is extrapolation. Release to re-run.")
            model = gr.Radio([(MODEL_LABELS[n], n) for n in MODELS], value=DEFAULT_MODEL, label="Model", elem_id="model",
                             info=f"The default is good across the sliders' range; the specialist only at {CANONICAL_WORDS}.")
            gr.Markdown("**Ready sequences**: click one to predict it")
            examples = gr.Gallery([(str(p), p.stem.replace("_", " ")) for p in EXAMPLES], label="Ready sequences",
                                  show_label=False, columns=4, height=150, allow_preview=False, elem_id="examples",
                                  interactive=False)
        with gr.Column(scale=3, min_width=300):
            comparison = player("Input | Ground truth | Prediction | |Error|", "player")
            note = gr.Markdown(label="Note", elem_id="note")
    with gr.Row():
        mse_plot = gr.LinePlot(x="frames ahead", y="MSE per frame", color="predictor", label="MSE per frame (lower is better)",
                               color_map=COLOURS, min_width=280, elem_id="mse-plot")
        ssim_plot = gr.LinePlot(x="frames ahead", y="SSIM", color="predictor", label="SSIM (higher is better)",
                                color_map=COLOURS, min_width=280)
        table = gr.Dataframe(headers=["metric", *pipeline.PREDICTORS], label="Metrics (mean over the horizon)",
                             min_width=280, wrap=True, column_widths=["40%", "30%", "30%"])
    with gr.Accordion("Inside the ConvLSTM", open=True), gr.Row():
        gr.Markdown(inside.EXPLAINED, min_width=280)
        with gr.Column(scale=2, min_width=300):
            cells = player("Gates and hidden channels per time step", "inside")
    gr.Markdown("### Filmstrip")
    strip = gr.Image(label="Filmstrip", type="filepath", show_label=False, elem_id="filmstrip", buttons=[])
    downloads = gr.File(label="Downloads: comparison GIF, prediction GIF, prediction .npy", file_count="multiple", elem_id="downloads", interactive=False)
    # the id of the current result, the argument of /files; not shown on the page
    result = gr.Textbox(visible=False, label="Result id (for /files)")
    with gr.Accordion("How it works", open=False):
        how = gr.Markdown(label="How it works")

    OUTPUTS = [result, note, table, mse_plot, ssim_plot, comparison, cells]
    FILES = [strip, downloads]
    sample_in = [seed, num_digits, speed, horizon, model]
    # progress and errors show on the note alone: earlier results stay visible, uncovered, while a new one runs or fails
    model_call = {"concurrency_limit": CONCURRENCY, "concurrency_id": "model", "show_progress_on": [note]}
    live = {**model_call, "trigger_mode": "always_last", "api_visibility": "private"}

    def then_files(event, api_name: str | None = None) -> None:
        """A result shows as soon as the model has run; its filmstrip and downloads follow from the arrays it left.

        One slot of their own (FILE_SLOTS): a loop of /files calls then holds at most one of the 2 vCPUs, and the
        predictions keep their own two slots (README, Limits)."""
        api = {"api_name": api_name} if api_name else {"api_visibility": "private"}
        event.success(files_for, result, FILES, concurrency_limit=FILE_SLOTS, concurrency_id="files",
                      show_progress="hidden", **api)

    # the public API first, so these keep their names; every other listener is private
    then_files(sample_btn.click(sample, sample_in, OUTPUTS, api_name="sample", **model_call), "files")
    then_files(upload_btn.click(_cancellable(predict_file), [files, horizon, index, fix, model], OUTPUTS, api_name="predict_file",
                                **model_call))
    then_files(demo.load(sample, sample_in, OUTPUTS, **live))  # a result on arrival
    demo.load(about, model, how, api_visibility="private")  # reads the weights on first use, not at import
    model.change(about, model, how, api_visibility="private")
    gr.on([sample_btn.click, dice.click, num_digits.release, speed.release], lambda: "sample", None, source,
          queue=False, api_visibility="private")
    upload_btn.click(lambda: "upload", None, source, queue=False, api_visibility="private")
    then_files(dice.click(lambda: int(np.random.default_rng().integers(0, 1_000_000)), None, seed, queue=False,
                          api_visibility="private").then(sample, sample_in, OUTPUTS, **live))
    then_files(gr.on([num_digits.release, speed.release], sample, sample_in, OUTPUTS, **live))
    rerun_in = [source, seed, num_digits, speed, horizon, files, index, fix, model]
    then_files(gr.on([horizon.release, model.input], _cancellable(rerun), rerun_in, OUTPUTS, **live))
    then_files(examples.select(_cancellable(pick_example), [horizon, fix, model], [files, tabs, source, *OUTPUTS],
                               scroll_to_output=True, **live))

demo.queue(max_size=QUEUE_SIZE, api_open=False)  # api_open=False: no route runs a model without the queue's slots


def launch(**overrides):
    """Serve the app behind its HTTP door (showcase/guard.py), with Gradio's own limits set; what tests launch too."""
    protect = {Path(item["image"]["path"]).parent for item in examples.value}  # the gallery's cached thumbnails
    fields = {seed: ("seed", "number"), num_digits: ("digits", "number"), speed: ("speed", "number"),
              horizon: ("horizon", "number"), index: ("sequence index", "number"), fix: ("fix", "bool"),
              files: ("files", "files"), result: ("result", "text"), model: ("model", "choice")}  # named as the handlers' messages name them
    door = Middleware(guard.Guard, blocks=demo, uploads=Path(get_upload_folder()), work=WORK, protect=protect,
                      fields={c._id: named for c, named in fields.items()})
    # the door decides whose forwarding header to believe (guard.PROXY_HOPS); uvicorn, left alone, believes any
    # X-Forwarded-For from 127.0.0.1, such as a tunnel's, and would hand the door a client-chosen address
    os.environ.setdefault("FORWARDED_ALLOW_IPS", "")
    settings = {"max_file_size": clips.MAX_BYTES, "ssr_mode": False, "theme": gr.themes.Soft(), "css": asset("page.css"),
                "enable_monitoring": False, "state_session_capacity": SESSIONS, "app_kwargs": {"middleware": [door]}}
    return demo.launch(**{**settings, **overrides})


if __name__ == "__main__":
    # host and port come from GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (Gradio reads them); nothing is hard-coded
    launch()
