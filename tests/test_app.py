"""The Gradio app: handlers called directly, the launched app through gradio_client, and a real headless browser."""
import base64
import contextlib
import io
import logging
import os
import shutil
import time
from pathlib import Path

import gradio as gr
import imageio.v3 as iio
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import app
from convlstm import media, predict
from convlstm.metrics import grid_headline

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def n_frames(gif_path) -> int:
    return iio.imread(gif_path, index=None).shape[0]


OUT = {name: i for i, name in enumerate(["result", "note", "table", "mse", "ssim", "player", "inside"])}


def downloads(out) -> list[str]:
    """The comparison GIF, prediction GIF and .npy of a handler's result, as the page's follow-up asks for them."""
    return app.files_for(out[OUT["result"]])[1]


def sprite_frames(payload: dict) -> np.ndarray:
    """The player's sprite decoded back into its frames (T, h, w) of palette indices."""
    png = base64.b64decode(payload["sprite"].removeprefix("data:image/png;base64,"))
    im = Image.open(io.BytesIO(png))
    assert im.mode == "P" and np.array_equal(np.asarray(im.getpalette(), np.uint8).reshape(-1, 3)[:256], media.PALETTE)
    return np.asarray(im).reshape(payload["frames"], payload["height"], payload["width"])


@pytest.mark.parametrize("horizon", [1, 10, 30])
def test_sample_handler(horizon):
    out = app.sample(3, 2, 0.1, horizon)
    strip, (comparison, pred_gif, npy) = app.files_for(out[OUT["result"]])
    assert n_frames(comparison) == 10 + horizon and n_frames(pred_gif) == horizon
    assert np.load(npy).shape == (horizon, 64, 64)
    player, cells = out[OUT["player"]], out[OUT["inside"]]
    assert player["frames"] == len(player["labels"]) == sprite_frames(player).shape[0] == 10 + horizon
    assert player["labels"][0].startswith("context 1/10") and player["labels"][-1].startswith(f"predicted +{horizon}/")
    assert cells["frames"] == 10 + horizon and cells["labels"][10].startswith("decoder step 1/")
    assert len(cells["columns"]) == 6 and sprite_frames(cells).std() > 0  # gates and hidden channels, not blank
    curves = out[OUT["mse"]]
    assert out[OUT["ssim"]] is curves and len(curves) == 2 * horizon
    assert set(curves["predictor"]) == {"ConvLSTM", "copy last frame"}
    table = out[OUT["table"]]
    assert table[0][0] == "MSE per frame" and float(table[0][1]) < float(table[0][2])  # beats copying the last frame
    assert ("Extrapolation" in out[OUT["note"]]) == (horizon > 10)
    strip = Image.open(strip)
    assert strip.width == 110 + media.STRIP_WRAP * 66  # wraps: never wider than 10 frames, whatever the horizon
    assert strip.height > (1 + -(-horizon // 10) * 3) * 64


def test_sample_is_deterministic_per_seed():
    a, b = app.sample(5, 1, 0.1, 3), app.sample(5, 1, 0.1, 3)
    assert np.array_equal(np.load(downloads(a)[2]), np.load(downloads(b)[2]))
    assert a[OUT["table"]] == b[OUT["table"]]


def write_upload(kind: str, folder: Path, seq: np.ndarray) -> list[str]:
    u8 = (seq * 255).astype(np.uint8)
    rgb = np.repeat(u8[..., None], 3, axis=-1)
    if kind == "gif":
        iio.imwrite(folder / "clip.gif", u8, extension=".gif", duration=100, loop=0)
        return [str(folder / "clip.gif")]
    if kind in ("mp4", "webm"):
        path = folder / f"clip.{kind}"
        iio.imwrite(path, rgb, plugin="pyav", codec="libx264" if kind == "mp4" else "libvpx-vp9", fps=10)
        return [str(path)]
    if kind == "npy_thw":
        np.save(folder / "clip.npy", seq)
        return [str(folder / "clip.npy")]
    if kind == "npy_thwc_big_colour":  # another size and colour: 96x128 RGB
        big = np.zeros((len(seq), 96, 128, 3), np.uint8)
        big[:, 16:80, 32:96] = rgb
        np.save(folder / "colour.npy", big)
        return [str(folder / "colour.npy")]
    if kind == "canonical":
        np.save(folder / "mnist_test_seq.npy", np.stack([u8, u8], axis=1))  # (20, 2, 64, 64)
        return [str(folder / "mnist_test_seq.npy")]
    if kind == "png_frames":
        paths = []
        for t in range(len(seq)):
            paths.append(str(folder / f"f{t:03d}.png"))
            iio.imwrite(paths[-1], u8[t])
        return paths[::-1]  # any order in, name order used
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["gif", "mp4", "webm", "npy_thw", "npy_thwc_big_colour", "canonical", "png_frames"])
def test_upload_kinds(tmp_path, sequence, kind):
    files = write_upload(kind, tmp_path, sequence)
    out = app.predict_file(files, 10, 1 if kind == "canonical" else 0)
    note = out[OUT["note"]]
    assert n_frames(downloads(out)[0]) == 20 and out[OUT["mse"]] is not None and "Input fixed" not in note
    assert "context = frames 1-10, truth = frames 11-20" in note
    if kind == "gif":
        assert "64x64 grey palette" in note  # not "RGB" or "colour": the GIF stores a palette of greys
    if kind == "npy_thwc_big_colour":
        assert "128x96 RGB" in note and "64x64 grey" in note
    if kind == "canonical":
        assert "sequence 1 of 2" in note
    if kind in ("gif", "npy_thw", "canonical", "png_frames"):  # lossless kinds: the app predicts what the API does
        given = sequence if kind == "npy_thw" else (sequence * 255).astype(np.uint8)
        assert np.array_equal(np.load(downloads(out)[2]), predict(given[:10], 10))


def test_context_only_clip_gets_a_prediction_without_truth(tmp_path, sequence):
    np.save(tmp_path / "ctx.npy", sequence[:6])
    out = app.predict_file([str(tmp_path / "ctx.npy")], 5, 0)
    assert n_frames(downloads(out)[0]) == 6 + 5 and out[OUT["mse"]] is None and "no ground truth" in out[OUT["note"]]
    np.save(tmp_path / "long.npy", sequence)
    note = app.predict_file([str(tmp_path / "long.npy")], 4, 0)[OUT["note"]]
    assert "frames 15-20 lie past the horizon and are not used" in note


BAD_UPLOADS = {"garbage": "bad.gif: could not decode it", "text": "notes.txt: unsupported file type .txt",
               "none": "Upload a clip first", "index": "canon.npy holds 2 sequences (T, N, H, W); choose an index 0-1",
               "horizon": "horizon must be a whole number from 1 to 30, got 31",
               "mixed": "several files must all be PNG/JPEG images, one per frame"}


@pytest.mark.parametrize("case", BAD_UPLOADS)
def test_bad_uploads_raise_gr_error(tmp_path, sequence, case, caplog):
    (tmp_path / "bad.gif").write_bytes(b"GIF89a\x10\x00\x10\x00\x00\x00\x00" + os.urandom(200))  # a 16x16 screen, then junk
    (tmp_path / "notes.txt").write_text("hello")
    np.save(tmp_path / "canon.npy", np.zeros((20, 2, 64, 64), np.uint8))
    iio.imwrite(tmp_path / "a.png", np.zeros((64, 64), np.uint8))
    args = {
        "garbage": ([str(tmp_path / "bad.gif")], 10, 0),
        "text": ([str(tmp_path / "notes.txt")], 10, 0),
        "none": (None, 10, 0),
        "index": ([str(tmp_path / "canon.npy")], 10, 7),
        "horizon": ([str(tmp_path / "canon.npy")], 31, 0),
        "mixed": ([str(tmp_path / "a.png"), str(tmp_path / "canon.npy")], 10, 0),
    }[case]
    with caplog.at_level(logging.WARNING, logger="convlstm.app"), pytest.raises(gr.Error) as err:
        app.predict_file(*args)
    assert "Traceback" not in str(err.value) and BAD_UPLOADS[case] in err.value.message
    assert not err.value.print_exception  # Gradio prints no traceback for it
    assert [r.getMessage() for r in caplog.records] == [f"predict_file refused: {err.value.message}"]  # one line


def test_a_negative_clip_is_fixed_and_the_fix_can_be_turned_off(tmp_path, sequence):
    np.save(tmp_path / "negative.npy", 1.0 - sequence)  # dark digits on white
    fixed = app.predict_file([str(tmp_path / "negative.npy")], 10, 0, True)
    as_is = app.predict_file([str(tmp_path / "negative.npy")], 10, 0, False)
    assert "Input fixed" in fixed[OUT["note"]] and "bright background: inverted" in fixed[OUT["note"]].lower()
    assert "Tick *Fix the input*" in as_is[OUT["note"]]
    mse = lambda out: float(out[OUT["table"]][0][1])
    assert mse(fixed) < 0.5 * mse(as_is)  # the fix is what makes the prediction useful
    panels = sprite_frames(fixed[OUT["player"]])
    assert panels[0, 32, :64].mean() > panels[0, 32, 2 * 66:2 * 66 + 64].mean()  # Input as given (white), model reads black


@pytest.mark.parametrize("args, says", [((None, 2, 0.1, 10), "seed is empty; enter a whole number from 0 to 4294967295"),
                                        ((0, 2, None, 10), "speed is empty; enter a number from 0.02 to 0.3"),
                                        ((0, 5, 0.1, 10), "digits must be a whole number from 1 to 3, got 5"),
                                        ((0, 2, 0.1, 0), "horizon must be a whole number from 1 to 30, got 0"),
                                        ((-1, 2, 0.1, 10), "seed must be a whole number from 0 to 4294967295, got -1")])
def test_bad_sample_settings_raise_gr_error(args, says):
    with pytest.raises(gr.Error) as err:
        app.sample(*args)
    assert err.value.message == says


@pytest.mark.parametrize("name, reach", [("whole-range", (32, 16)), ("canonical", (8, 4))])
def test_about_reads_numbers_from_the_chosen_weights(name, reach):
    text = app.about(name)
    provenance = app.shipped_model(name).provenance
    assert f"{provenance['sequences_seen']:,}" in text and f"Below: the **{name}** model" in text
    assert app.grid_table(provenance["test"]["grid"]["cells"], provenance["test"]["grid"].get("shapes")) in text
    assert f"**{reach[0]} px per predicted frame and {reach[1]} px per context frame**" in text  # measured reach
    head = grid_headline(provenance["test"]["grid"])
    assert f"| {app.MODEL_LABELS[name]} | {provenance['test']['mse']:.1f} | {head['mean']:.2f}x | {head['worst']:.2f}x" in text


@pytest.mark.parametrize("name", ["whole-range", "canonical"])
def test_sample_note_says_how_well_the_chosen_weights_do_at_that_speed(name):
    cells = app.shipped_model(name).provenance["test"]["grid"]["cells"]
    others = app.shipped_model({"whole-range": "canonical", "canonical": "whole-range"}[name]).provenance["test"]["grid"]["cells"]
    for digits, speed in [(2, 0.1), (1, 0.16), (3, 0.02), (2, 0.3)]:
        cell, other = app.cell_for(cells, digits, speed), app.cell_for(others, digits, speed)
        note = app.sample(0, digits, speed, 3, name)[OUT["note"]]
        assert f"the {name} model scores **{cell['ratio']:.2f}x** a black frame's MSE" in note
        assert f"speed {cell['speed']:g})" in note
        poor = cell["ratio"] > app.GATE_RATIO
        assert ("predicts poorly" in note or "worse than a black frame" in note) == poor
        assert ("choose it under *Model*" in note) == (other["ratio"] < cell["ratio"])
    assert "choose it under *Model*" in app.sample(0, 2, 0.3, 3, "canonical")[OUT["note"]]  # fast digits: the default


def test_the_model_choice_runs_that_model():
    """Each choice predicts with its own weights, exactly as the API does with that name; a bad name is refused."""
    from convlstm import predict
    from convlstm.data import generate_sequence, load_digits

    seq = generate_sequence(np.random.default_rng(4), load_digits("test"), num_frames=13, num_digits=2, speed=0.1)
    preds = {}
    for name in app.MODELS:
        out = app.sample(4, 2, 0.1, 3, name)
        preds[name] = np.load(downloads(out)[2])
        assert np.array_equal(preds[name], predict(seq[:10], 3, name)), name
    assert not np.array_equal(preds["whole-range"], preds["canonical"])
    assert np.array_equal(np.load(downloads(app.sample(4, 2, 0.1, 3))[2]), preds["whole-range"])  # the default
    with pytest.raises(gr.Error, match="model must be one of whole-range, canonical"):
        app.sample(4, 2, 0.1, 3, "gpt")


def test_client_sample_and_predict_file(server, tmp_path, sequence):
    client = Client(server, verbose=False)
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert [p["parameter_name"] for p in api["/sample"]["parameters"]] == ["seed", "num_digits", "speed", "horizon", "model"]
    assert [p["parameter_name"] for p in api["/predict_file"]["parameters"]] == ["files", "horizon", "index", "fix", "model"]
    assert [p["parameter_name"] for p in api["/files"]["parameters"]] == ["result"]
    for name, n in (("/sample", len(OUT)), ("/predict_file", len(OUT)), ("/files", 2)):
        labels = [r["label"] for r in api[name]["returns"]]
        assert len(labels) == n and all(label and not label.startswith("value_") for label in labels), labels
    result = client.predict(7, 2, 0.1, 12, api_name="/sample")
    assert result[OUT["player"]]["frames"] == 22
    strip, (gif, _, npy) = client.predict(result[OUT["result"]], api_name="/files")
    assert n_frames(gif) == 10 + 12 and np.load(npy).shape == (12, 64, 64) and Image.open(strip).width > 0
    files = write_upload("gif", tmp_path, sequence)
    result = client.predict([handle_file(files[0])], 5, 0, api_name="/predict_file")  # fix left at its default
    assert result[OUT["player"]]["frames"] == 10 + 5 and "64x64 grey" in result[OUT["note"]]
    assert n_frames(client.predict(result[OUT["result"]], api_name="/files")[1][0]) == 10 + 5
    for bad in ("../../etc", "tmpnotthere", ""):
        with pytest.raises(AppError, match="pass the result id that /sample or /predict_file returned"):
            client.predict(bad, api_name="/files")
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    with pytest.raises(AppError, match="could not decode it"):
        client.predict([handle_file(str(tmp_path / "bad.mp4"))], 10, 0, api_name="/predict_file")
    assert client.predict(8, 1, 0.1, 3, api_name="/sample")[OUT["player"]]["frames"] == 13  # still serving
    canonical = client.predict(8, 1, 0.1, 3, "canonical", api_name="/sample")
    assert np.array_equal(np.load(client.predict(canonical[OUT["result"]], api_name="/files")[1][2]),
                          np.load(downloads(app.sample(8, 1, 0.1, 3, "canonical"))[2]))
    with pytest.raises(Exception, match="model must be one of whole-range, canonical, got 'gpt'"):
        client.predict(8, 1, 0.1, 3, "gpt", api_name="/sample")  # the door names the field, before Gradio's check
    # requests at once each see their own model internals (the trace hooks are shared by the one model)
    jobs = [client.submit(s, 2, 0.1, 5 + s, api_name="/sample") for s in range(4)]
    assert [j.result(timeout=300)[OUT["inside"]]["frames"] for j in jobs] == [15, 16, 17, 18]


def chrome(width: int):
    """Debian's headless chromium at `width` CSS pixels (device emulation, so phone widths below 500 work too)."""
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        if os.environ.get("CI"):
            pytest.fail("CI must have Debian's chromium and chromium-driver (.ci/run installs them)")
        pytest.skip("Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]:
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver_path), options=options)
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": 1600, "deviceScaleFactor": 1, "mobile": width < 600})
    return browser


def screenshot(browser, name: str) -> None:
    """The whole page as artifacts/NAME.png, for a person to look at."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    width = browser.execute_script("return window.innerWidth")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": min(height, 6000), "deviceScaleFactor": 1, "mobile": width < 600})
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": 1600, "deviceScaleFactor": 1, "mobile": width < 600})


PLAYER = """const root = document.querySelector('#player'), c = root && root.querySelector('canvas');
return c ? {frame: Number(c.dataset.frame), frames: Number(root.querySelector('.scrub').max) + 1,
            counter: root.querySelector('.counter').textContent, painted: c.dataset.frame !== undefined} : null;"""


@pytest.mark.slow
def test_browser_result_on_arrival_player_slider_and_example(server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser = chrome(1280)
    try:
        browser.get(server)
        wait = WebDriverWait(browser, 90)
        # a result on arrival: the player is playing a prediction without any click
        first = wait.until(lambda b: (p := b.execute_script(PLAYER)) and p["painted"] and p)
        assert first["frames"] == 20
        wait.until(lambda b: b.execute_script(PLAYER)["frame"] != first["frame"])  # it animates
        # the filmstrip and downloads follow the result by themselves
        wait.until(lambda b: b.execute_script("const i = document.querySelector('#filmstrip img'); return i && i.naturalWidth"))
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#downloads a[download='comparison.gif']"))
        # pause holds the frame; the scrubber moves to any frame and the counter says which
        browser.find_element(By.CSS_SELECTOR, "#player .play").click()
        held = browser.execute_script(PLAYER)["frame"]
        time.sleep(4 / media.FPS)  # four frames' worth
        assert browser.execute_script(PLAYER)["frame"] == held, "the paused player kept moving"
        browser.execute_script("const s = document.querySelector('#player .scrub'); s.value = 14;"
                               "s.dispatchEvent(new Event('input', {bubbles: true}));")
        state = browser.execute_script(PLAYER)
        assert state["frame"] == 14 and state["counter"].startswith("frame 15/20: predicted +5/10")
        screenshot(browser, "app_1280")
        # the dice samples at once: a new seed and its prediction, no Sample click
        browser.find_element(By.ID, "dice").click()
        wait.until(lambda b: "Sampled seed" in (t := b.find_element(By.ID, "note").text) and "Sampled seed 0:" not in t)
        # releasing the horizon slider re-runs the current input
        browser.execute_script("""const s = document.querySelector('#horizon input[type=range]'); s.value = 17;
            s.dispatchEvent(new Event('input', {bubbles: true})); s.dispatchEvent(new PointerEvent('pointerup', {bubbles: true}));""")
        wait.until(lambda b: b.execute_script(PLAYER)["frames"] == 27)
        # an error keeps the earlier result on the page, uncovered
        browser.find_element(By.XPATH, "//button[@role='tab'][normalize-space()='Upload']").click()
        bad = ARTIFACTS / "bad.gif"
        bad.write_bytes(b"GIF89a not really")  # a header claiming a 28192x29807 canvas
        browser.find_element(By.CSS_SELECTOR, "#files input[type=file]").send_keys(str(bad))
        predict = browser.find_element(By.ID, "upload-button")
        wait.until(lambda b: predict.is_enabled() and "bad" in b.find_element(By.ID, "files").get_attribute("textContent"))
        predict.click()
        wait.until(lambda b: "at most 4096x4096 are accepted" in b.find_element(By.TAG_NAME, "body").text)  # the toast
        assert browser.execute_script(PLAYER)["frames"] == 27  # still the slider's result
        assert browser.execute_script("return document.querySelectorAll('#player .error, #mse-plot .error').length") == 0
        assert browser.find_element(By.CSS_SELECTOR, "#mse-plot canvas, #mse-plot svg").is_displayed()
        # a ready sequence, clicked from the Sample tab: its result plays, in view, and the Upload tab is selected
        browser.find_element(By.XPATH, "//button[@role='tab'][normalize-space()='Sample']").click()
        browser.find_elements(By.CSS_SELECTOR, "#examples button.thumbnail-item, #examples .thumbnail-item")[0].click()
        wait.until(lambda b: "20 frames" in b.find_element(By.ID, "note").text)
        selected = browser.find_element(By.CSS_SELECTOR, "button[role=tab][aria-selected=true]").text
        assert selected == "Upload"
        assert browser.execute_script(PLAYER)["frames"] == 27  # the example ran at the current horizon
        note_top = browser.execute_script("return document.querySelector('#player').getBoundingClientRect().top")
        assert -50 < note_top < browser.execute_script("return window.innerHeight")  # the result is in view
        # choosing the other model re-runs the current input with its weights
        browser.find_element(By.XPATH, "//*[@id='model']//label[contains(., 'Canonical specialist')]").click()
        wait.until(lambda b: "Predicted by the canonical model" in b.find_element(By.ID, "note").text)
        assert browser.execute_script(PLAYER)["frames"] == 27
    finally:
        browser.quit()


# the filmstrip's <img> loads lazily, so it is scrolled into view first; then its size as shown and as drawn
STRIP = """const i = document.querySelector('#filmstrip img');
if (!i) return null;
i.scrollIntoView();
const r = i.getBoundingClientRect();
return i.naturalWidth ? {width: r.width, height: r.height, natural: [i.naturalWidth, i.naturalHeight]} : null;"""


@contextlib.contextmanager
def painted(server: str, width: int):
    """The page at `width` CSS pixels, once its first prediction is painted; the browser is closed after."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser = chrome(width)
    try:
        browser.get(server)
        WebDriverWait(browser, 90).until(lambda b: (p := b.execute_script(PLAYER)) and p["painted"])
        yield browser
    finally:
        browser.quit()


@pytest.mark.slow
def test_browser_phone_width_has_no_sideways_overflow(server):
    from selenium.webdriver.support.ui import WebDriverWait

    with painted(server, 400) as browser:
        WebDriverWait(browser, 30).until(lambda b: b.execute_script("return document.querySelector('#inside canvas')"))
        strip = WebDriverWait(browser, 60).until(lambda b: b.execute_script(STRIP))
        assert browser.execute_script("return document.documentElement.scrollWidth") <= 400  # the strip included
        assert browser.execute_script("return document.querySelector('#player canvas').getBoundingClientRect().width") > 300
        # every heading of both players shows its whole text: none cut off ("Ground tru..." was)
        cut = browser.execute_script("return [...document.querySelectorAll('#player .heads span, #inside .heads span')]"
                                     ".filter(s => s.scrollWidth > s.clientWidth).map(s => s.textContent)")
        assert cut == []
        # the filmstrip is drawn at its own scale (it scrolls sideways in its box), not shrunk to 0.43x of it
        assert [strip["width"], strip["height"]] == strip["natural"] and strip["height"] >= 100, strip
        screenshot(browser, "app_400")


@pytest.mark.slow
def test_browser_wide_screen_is_used_and_downloads_are_not_editable(server):
    from selenium.webdriver.support.ui import WebDriverWait

    with painted(server, 1400) as browser:
        WebDriverWait(browser, 60).until(lambda b: b.execute_script(STRIP))
        WebDriverWait(browser, 60).until(lambda b: b.execute_script("return document.querySelectorAll('#downloads a').length") == 3)
        # the content is centred and spans the window (it was capped at 1180 px on the left: 252 px empty on the right)
        left, right = browser.execute_script("const r = document.querySelector('.gradio-container .contain')"
                                             ".getBoundingClientRect(); return [r.left, window.innerWidth - r.right]")
        assert abs(left - right) < 20 and right < 100, (left, right)
        # no remove, clear or upload control on what the app hands out
        controls = browser.execute_script(
            "return [...document.querySelectorAll('#downloads button, #downloads input, #filmstrip button[aria-label], "
            "#filmstrip input')].filter(e => e.offsetParent !== null).map(e => e.getAttribute('aria-label') || e.outerHTML)")
        assert controls == []
        screenshot(browser, "app_1400")


def test_cache_cleaning_never_removes_the_example_thumbnails():
    """delete_cache removes old request files hourly; the ready sequences' thumbnails must survive it."""
    from gradio.route_utils import delete_files_created_by_app

    thumbnails = [item["image"]["path"] for item in app.examples.value]
    assert len(thumbnails) == len(app.EXAMPLES)
    assert set(thumbnails) <= set().union(*app.demo.temp_file_sets)  # they live in Gradio's cache, so cleaning sees them
    delete_files_created_by_app(app.demo, None)  # what the hourly clean does, with every file old enough
    assert all(Path(p).is_file() for p in thumbnails)
    assert all(Path(p).is_file() for p in app.EXAMPLES)  # clicks read the originals, never the cache


def test_slider_float_noise_at_the_range_end_is_snapped_not_refused():
    """The browser's slider sends 0.02 + 28 x 0.01 = 0.30000000000000004 for its last stop: that is speed 0.3."""
    out = app.sample(0, 2, 0.02 + 0.01 * 28, 3)
    assert "speed 0.3;" in out[app.OUTPUTS.index(app.note)]
    with pytest.raises(gr.Error, match="speed must be a number from 0.02 to 0.3"):
        app.sample(0, 2, 0.31, 3)


@pytest.mark.parametrize("call, message", [
    (lambda: app.sample(0, 2.5, 0.1, 10), "digits must be a whole number"),  # refused, not truncated to 2
    (lambda: app.sample(float("nan"), 2, 0.1, 10), "seed is NaN"),
    (lambda: app.sample(0, 2, float("nan"), 10), "speed is NaN"),
    (lambda: app.sample(0, 2, 0.1, float("inf")), "horizon is infinite"),
    (lambda: app.predict_file(["x.gif"], 10, float("-inf")), "sequence index is infinite"),
    (lambda: app.predict_file(["x.gif"], 7.5, 0), "horizon must be a whole number"),
])
def test_every_form_value_gets_a_message_that_names_it(call, message):
    with pytest.raises(gr.Error, match=message):
        call()


def test_index_on_a_single_clip_and_empty_canonical_file_are_explained(tmp_path, sequence):
    np.save(tmp_path / "thwc.npy", (sequence[..., None] * 255).astype(np.uint8))
    with pytest.raises(gr.Error, match="applies only to canonical"):
        app.predict_file([str(tmp_path / "thwc.npy")], 10, 1)
    np.save(tmp_path / "empty.npy", np.zeros((20, 0, 64, 64), np.uint8))
    with pytest.raises(gr.Error, match="N = 0"):
        app.predict_file([str(tmp_path / "empty.npy")], 10, 0)


def wide_white_clip(path: Path) -> Path:
    """128x96 colour frames of a red disc moving on white: a clip this project did not make."""
    frames = []
    for t in range(20):
        image = np.full((96, 128, 3), 255, np.uint8)
        yy, xx = np.mgrid[:96, :128]
        image[(yy - 48) ** 2 + (xx - 20 - 4 * t) ** 2 < 100] = (220, 30, 30)
        frames.append(Image.fromarray(image))
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def test_a_wide_white_clip_gets_one_prediction_from_app_cli_and_api(tmp_path):
    """Fixed before it is padded (the black bars stay black), and prepared the same way by all three doors."""
    import subprocess
    import sys

    import convlstm
    from convlstm.showcase import pipeline, workdirs
    from convlstm.upload import clips

    gif = wide_white_clip(tmp_path / "disc.gif")
    out = app.predict_file([str(gif)], 10, 0, True)
    assert "Input fixed: Bright background: inverted" in out[OUT["note"]]
    from_app = np.load(workdirs.find(app.WORK, out[OUT["result"]]) / pipeline.PREDICTION)
    model_mse, copy_mse = (float(x) for x in out[OUT["table"]][0][1:])
    assert model_mse < 2 * copy_mse  # was 1,090 against copy-last-frame's 43 when the bars turned white
    r = subprocess.run([sys.executable, "-m", "convlstm.predict_clip", gif, "--out", tmp_path / "c.gif",
                        "--npy", tmp_path / "cli.npy"], capture_output=True, text=True)
    assert r.returncode == 0 and "Input fixed" in r.stdout and "--no-fix" in r.stdout, r.stderr
    from_api = convlstm.predict(clips.read_clip(gif), 10, context=10)
    assert np.allclose(from_app, np.load(tmp_path / "cli.npy"), atol=1e-6)
    assert np.allclose(from_app, from_api, atol=1e-6)
    assert from_app[:, :8].max() < 0.05  # nothing predicted in the bars
