"""The Gradio app: handlers called directly, the launched app through gradio_client, and a real headless browser."""
import os
import shutil
from pathlib import Path

import gradio as gr
import imageio.v3 as iio
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

import app

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def n_frames(gif_path) -> int:
    return iio.imread(gif_path, index=None).shape[0]


@pytest.mark.parametrize("horizon", [1, 10, 30])
def test_sample_handler(horizon):
    gif, strip, plot, table, note, downloads = app.sample(3, 2, 0.1, horizon)
    assert n_frames(gif) == 10 + horizon
    assert Path(strip).is_file() and Path(plot).is_file()
    assert table[0][0] == "MSE per frame" and float(table[0][1]) >= 0
    assert np.load(downloads[1]).shape == (horizon, 64, 64)
    assert ("Extrapolation" in note) == (horizon > 10)


def test_sample_is_deterministic_per_seed():
    a, b = app.sample(5, 1, 0.1, 3), app.sample(5, 1, 0.1, 3)
    assert np.array_equal(np.load(a[5][1]), np.load(b[5][1]))
    assert a[3] == b[3]


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
    gif, strip, plot, table, note, downloads = app.predict_file(files, 10, 1 if kind == "canonical" else 0)
    assert n_frames(gif) == 20 and plot is not None
    assert "context = frames 1-10, truth = frames 11-20" in note
    if kind == "npy_thwc_big_colour":
        assert "128x96 RGB" in note and "64x64 grey" in note
    if kind == "canonical":
        assert "sequence 1 of 2" in note


def test_context_only_clip_gets_a_prediction_without_truth(tmp_path, sequence):
    np.save(tmp_path / "ctx.npy", sequence[:6])
    gif, strip, plot, table, note, downloads = app.predict_file([str(tmp_path / "ctx.npy")], 5, 0)
    assert n_frames(gif) == 6 + 5 and plot is None and "no ground truth" in note
    np.save(tmp_path / "long.npy", sequence)
    note = app.predict_file([str(tmp_path / "long.npy")], 4, 0)[4]
    assert "frames 15-20 lie past the horizon and are not used" in note


@pytest.mark.parametrize("case", ["garbage", "text", "none", "index", "horizon", "mixed"])
def test_bad_uploads_raise_gr_error(tmp_path, sequence, case):
    (tmp_path / "bad.gif").write_bytes(b"GIF89a" + os.urandom(200))
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
    with pytest.raises(gr.Error) as err:
        app.predict_file(*args)
    assert "Traceback" not in str(err.value) and len(str(err.value)) > 10


@pytest.mark.parametrize("args", [(None, 2, 0.1, 10), (0, 2, None, 10), (0, 5, 0.1, 10), (0, 2, 0.1, 0), (-1, 2, 0.1, 10)])
def test_bad_sample_settings_raise_gr_error(args):
    with pytest.raises(gr.Error):
        app.sample(*args)


def test_about_reads_numbers_from_the_weights():
    text = app.about()
    assert f"{app.MODEL.provenance['sequences_seen']:,}" in text


def test_client_sample_and_predict_file(server, tmp_path, sequence):
    client = Client(server, verbose=False)
    result = client.predict(7, 2, 0.1, 12, api_name="/sample")
    assert n_frames(result[0]) == 10 + 12
    files = write_upload("gif", tmp_path, sequence)
    result = client.predict([handle_file(files[0])], 5, 0, api_name="/predict_file")
    assert n_frames(result[0]) == 10 + 5
    (tmp_path / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    with pytest.raises(AppError, match="could not decode it"):
        client.predict([handle_file(str(tmp_path / "bad.mp4"))], 10, 0, api_name="/predict_file")
    assert n_frames(client.predict(8, 1, 0.1, 3, api_name="/sample")[0]) == 13  # still serving


def test_browser_clicks_sample_and_sees_an_animation(server):
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        if os.environ.get("CI"):
            pytest.fail("CI must have Debian's chromium and chromium-driver (.ci/run installs them)")
        pytest.skip("Debian's chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1400,1600"]:
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        browser.get(server)
        wait = WebDriverWait(browser, 60)
        button = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "#sample-button")))
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", button)
        img = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "img[src*='comparison.gif']")))
        wait.until(lambda b: b.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img))
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "app_after_sample.png"))
        src = img.get_attribute("src")
    finally:
        browser.quit()
    import urllib.request

    with urllib.request.urlopen(src, timeout=30) as r:
        data = r.read()
    assert data[:6] in (b"GIF89a", b"GIF87a")
    assert iio.imread(data, index=None, extension=".gif").shape[0] == 20  # animated: 10 context + 10 predicted


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
