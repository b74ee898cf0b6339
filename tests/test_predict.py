import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from convlstm import media, predict
from convlstm.upload import clips
from convlstm.api import prepare_clip, run
from reference import forward


def test_preprocessing_pads_greys_and_resizes():
    rgb = np.zeros((5, 48, 80, 3), np.uint8)
    rgb[:, :, :, 1] = 255  # pure green
    clip = clips.to_model_frames(rgb)
    assert clip.frames.shape == (5, 64, 64) and clip.frames.dtype == np.float32
    assert "80x48 RGB" in clip.note and "padded to 80x80" in clip.note and "64x64 grey" in clip.note
    assert clip.frames[0, 32, 32] == pytest.approx(0.587, abs=1e-3)  # BT.601 luma of green
    assert clip.frames[0, 0, 32] == 0.0  # black padding above, nothing cropped


def test_preprocessing_keeps_model_ready_frames_and_refuses_bad_values(sequence):
    clip = clips.to_model_frames(sequence)
    assert np.array_equal(clip.frames, sequence) and "->" not in clip.note
    with pytest.raises(clips.ClipError, match="in \\[0, 1\\]"):
        clips.to_model_frames(sequence * 3)
    with pytest.raises(clips.ClipError, match="shaped"):
        clips.to_model_frames(np.zeros((2, 3, 4, 5, 6)))


def test_gif_round_trip(tmp_path, sequence):
    frames = media.comparison_gif_frames(sequence[:10], sequence[10:], sequence[10:])
    path = media.save_gif(frames, tmp_path / "c.gif")
    back = iio.imread(path, index=None)
    rgb = media.PALETTE[np.asarray(frames[-1])]  # (H, W, 3)
    assert back.shape == (20, *rgb.shape)
    meta = iio.immeta(path)
    assert meta["loop"] == 0 and meta["duration"] == 1000 / media.FPS
    assert np.array_equal(back[-1], rgb)  # palette frames are written as they are: no quantisation


@pytest.mark.parametrize("suffix", [".gif", ".mp4", ".webm", ".npy"])
def test_read_clip_formats(tmp_path, sequence, suffix):
    path = tmp_path / f"clip{suffix}"
    u8 = (sequence * 255).astype(np.uint8)
    if suffix == ".npy":
        np.save(path, sequence)
    elif suffix == ".gif":
        iio.imwrite(path, u8, extension=".gif", duration=100, loop=0)
    else:
        codec = "libx264" if suffix == ".mp4" else "libvpx-vp9"
        iio.imwrite(path, np.repeat(u8[..., None], 3, -1), plugin="pyav", codec=codec, fps=10)
    clip = clips.read_clip(path)
    assert clip.frames.shape == (20, 64, 64)
    tolerance = 0 if suffix in (".npy", ".gif") else 0.05  # lossy video codecs
    assert np.abs(clip.frames - sequence).mean() <= tolerance + 1e-6


def test_read_clip_canonical_layout_and_image_frames(tmp_path, sequence):
    u8 = (sequence * 255).astype(np.uint8)
    np.save(tmp_path / "canon.npy", np.stack([u8, u8[::-1]], axis=1))  # (20, 2, 64, 64), time first
    clip = clips.read_clip(tmp_path / "canon.npy", index=1)
    assert np.array_equal(clip.frames, u8[::-1] / np.float32(255)) and "sequence 1 of 2" in clip.note
    with pytest.raises(clips.ClipError, match="index 0-1"):
        clips.read_clip(tmp_path / "canon.npy", index=2)
    paths = []
    for t in (2, 0, 1):  # written out of order, read in name order
        paths.append(tmp_path / f"frame_{t:02d}.png")
        iio.imwrite(paths[-1], u8[t])
    clip = clips.read_clip(paths)
    assert np.array_equal(clip.frames, u8[:3] / np.float32(255))


def test_read_clip_refuses_garbage(tmp_path):
    (tmp_path / "x.gif").write_text("not a gif")
    with pytest.raises(clips.ClipError, match="accepted"):
        clips.read_clip(tmp_path / "x.gif")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(clips.ClipError, match="unsupported"):
        clips.read_clip(tmp_path / "x.txt")


@pytest.mark.parametrize("horizon", [1, 10, 30])
def test_predict_api(tiny_model, sequence, horizon):
    out = predict((sequence[:10] * 255).astype(np.uint8)[..., None], horizon, tiny_model)
    assert out.shape == (horizon, 64, 64) and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1
    assert np.array_equal(out, predict(sequence[:10], horizon, tiny_model))  # uint8 and float inputs agree
    own = forward(tiny_model, sequence[None, :10], horizon)[0]  # the model's own forward, nothing else
    assert np.array_equal(predict(sequence[:10], horizon, tiny_model), own)
    for bad in (0, 31):
        with pytest.raises(ValueError, match="horizon must be between 1 and 30"):
            predict(sequence, bad, tiny_model)
    with pytest.raises(ValueError, match="context must be >= 1"):
        predict(sequence, horizon, tiny_model, context=0)


def test_batches_of_run_are_independent(tiny_model, sequence):
    clips5 = np.stack([np.roll(sequence[:10], k, axis=-1) for k in range(5)])  # (5, 10, 64, 64): five different clips
    batched = run(tiny_model, clips5, 3, batch_size=2, precision="fp32")  # batches of 2, 2 and 1
    one_by_one = np.concatenate([run(tiny_model, c[None], 3, precision="fp32") for c in clips5])
    assert batched.shape == (5, 3, 64, 64) and np.allclose(batched, one_by_one, atol=1e-6)


def test_prepare_clip_splits_context_and_truth_and_says_so(sequence):
    ready = prepare_clip(clips.to_model_frames(sequence), horizon=5, context=10)
    assert len(ready.context) == 10 and len(ready.truth) == 10 and ready.given is None
    assert "context = frames 1-10, truth = frames 11-15; frames 16-20 lie past the horizon" in ready.note
    ready = prepare_clip(clips.to_model_frames(sequence[:7]), context=10)
    assert len(ready.context) == 7 and ready.truth is None and "no ground truth" in ready.note
    negative = prepare_clip(clips.to_model_frames(1.0 - sequence))
    assert negative.given is not None and "Input fixed: Bright background: inverted" in negative.note
    assert np.abs(negative.context - sequence[:10]).max() < 1e-6 and np.abs(negative.truth - sequence[10:]).max() < 1e-6
    as_is = prepare_clip(clips.to_model_frames(1.0 - sequence), fix=False)
    assert as_is.given is None and np.array_equal(as_is.context, 1.0 - sequence[:10]) and "fix was turned off" in as_is.note


def test_predict_fixes_like_the_app_unless_told_not_to(sequence, tiny_model):
    negative = 1.0 - sequence[:10]
    assert np.array_equal(predict(negative, 5, tiny_model), predict(sequence[:10], 5, tiny_model))
    assert not np.array_equal(predict(negative, 5, tiny_model, fix=False), predict(sequence[:10], 5, tiny_model))
    clip = clips.to_model_frames(negative)
    assert np.array_equal(predict(clip, 5, tiny_model), predict(negative, 5, tiny_model))  # a Clip or frames: the same
    assert np.array_equal(predict(sequence, 5, tiny_model, context=10), predict(sequence[:10], 5, tiny_model))


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "convlstm.predict_clip", *map(str, args)], capture_output=True, text=True)


def test_cli_writes_a_comparison_gif(tmp_path, tiny_weights, sequence):
    iio.imwrite(tmp_path / "in.gif", (sequence * 255).astype(np.uint8), extension=".gif", duration=100, loop=0)
    r = run_cli(tmp_path / "in.gif", "--horizon", 12, "--out", tmp_path / "out.gif", "--npy", tmp_path / "p.npy",
                "--weights", tiny_weights)
    assert r.returncode == 0, r.stderr
    assert "context = frames 1-10, truth = frames 11-20" in r.stdout and r.stderr == ""
    assert iio.imread(tmp_path / "out.gif", index=None).shape[0] == 10 + 12
    assert np.load(tmp_path / "p.npy").shape == (12, 64, 64)


CLI_REFUSALS = {  # case: (the command's arguments, files named relative to the test's folder; its one stderr line)
    "garbage": (["bad.gif"], "bad.gif: could not decode it"),
    "missing": (["nope.mp4"], "nope.mp4: no such file"),
    "horizon 0": (["in.gif", "--horizon", "0"], "--horizon must be 1-30 and --context >= 1"),
    "horizon 31": (["in.gif", "--horizon", "31"], "--horizon must be 1-30 and --context >= 1"),
    "context 0": (["in.gif", "--context", "0"], "--horizon must be 1-30 and --context >= 1"),
    "flag": (["in.gif", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    "junk weights": (["in.gif", "--weights", "junk.safetensors"], "not a safetensors weights file"),
    "unknown name": (["in.gif", "--weights", "whole_range"], "name a shipped model (whole-range, canonical)"),
}


@pytest.mark.parametrize("case", CLI_REFUSALS)
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, tiny_weights, sequence, case):
    (tmp_path / "bad.gif").write_bytes(b"GIF89a\x10\x00\x10\x00\x00\x00\x00garbage")  # a 16x16 screen, then junk
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    iio.imwrite(tmp_path / "in.gif", (sequence * 255).astype(np.uint8), extension=".gif", duration=100, loop=0)
    args, says = CLI_REFUSALS[case]
    args = [str(tmp_path / a) if "." in a else a for a in args]
    weights = [] if "--weights" in args else ["--weights", tiny_weights]
    r = run_cli(*args, *weights, "--out", tmp_path / "o.gif")
    assert r.returncode == 2 and not (tmp_path / "o.gif").exists()
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert "error:" in r.stderr and says in r.stderr, r.stderr


def test_a_grey_gif_is_described_as_a_grey_palette(tmp_path, sequence):
    iio.imwrite(tmp_path / "grey.gif", (sequence * 255).astype(np.uint8), extension=".gif", duration=100, loop=0)
    note = clips.read_clip(tmp_path / "grey.gif").note
    assert "grey palette" in note and "colour" not in note and "RGB" not in note


def test_bool_16_bit_and_palette_files_decode_to_the_right_values_and_notes(tmp_path):
    mask = np.zeros((3, 64, 64), bool)
    mask[:, 20:40, 20:40] = True
    np.save(tmp_path / "mask.npy", mask)
    assert np.array_equal(clips.read_clip(tmp_path / "mask.npy").frames, mask.astype(np.float32))  # True is white
    wide = np.full((64, 64), 65535 // 2, np.uint16)
    iio.imwrite(tmp_path / "wide.png", wide)
    clip = clips.read_clip(tmp_path / "wide.png")
    assert "16-bit grey" in clip.note and clip.frames[0, 10, 10] == pytest.approx(0.5, abs=1 / 255)
    from PIL import Image
    Image.fromarray(np.full((64, 64, 3), 255, np.uint8)).convert("P").save(tmp_path / "pal.png")
    clip = clips.read_clip(tmp_path / "pal.png")
    assert "palette colour" in clip.note and clip.frames.min() == 1.0


def test_shrink_before_pad_matches_pad_then_area_average():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (1, 96, 320), np.uint8)  # wide, not a multiple of 64 in height
    padded = np.zeros((1, 320, 320), np.uint8)
    padded[:, 112:208] = frame
    blocks = padded[0].reshape(64, 5, 64, 5).mean(axis=(1, 3)) / 255  # area average of the padded square
    assert np.allclose(clips.to_model_frames(frame).frames[0], blocks, atol=1e-5)


def test_cli_hostile_file_and_misplaced_index_are_one_line_and_exit_2(tmp_path, tiny_weights, sequence):
    from hostile_corpus import far_frame_gif

    (tmp_path / "far.gif").write_bytes(far_frame_gif())
    np.save(tmp_path / "clip.npy", (sequence * 255).astype(np.uint8))
    for args, message in [([tmp_path / "far.gif"], "12999"), ([tmp_path / "clip.npy", "--index", 3], "applies only")]:
        r = run_cli(*args, "--weights", tiny_weights, "--out", tmp_path / "o.gif")
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr
