"""The input fix: Moving MNIST passes untouched; inverted, grey-background, faint and colour clips are detected and fixed."""
import numpy as np
import pytest

from convlstm.upload import clips, fix as input_fix
from convlstm.data import generate_sequence, load_digits


@pytest.mark.parametrize("num_digits", [1, 2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_moving_mnist_needs_no_fix(num_digits, seed):
    seq = generate_sequence(np.random.default_rng(seed), load_digits("test"), num_digits=num_digits)
    fix = input_fix.assess(seq[:10])
    assert fix == input_fix.Fix() and fix.note == ""
    assert np.array_equal(fix.apply(seq), seq)


def test_bright_background_is_inverted(sequence):
    fix = input_fix.assess(1.0 - sequence[:10])
    assert fix.problems == ("bright background",) and fix.invert
    assert np.abs(fix.apply(1.0 - sequence) - sequence).max() < 1e-6
    assert "inverted" in fix.note


def test_grey_background_is_lifted_to_black(sequence):
    grey = 0.4 + 0.6 * sequence
    fix = input_fix.assess(grey[:10])
    assert "grey background" in fix.problems
    fixed = fix.apply(grey)
    assert np.median(fixed) < 0.01 and np.abs(fixed - sequence).mean() < 0.01


def test_faint_shapes_are_stretched(sequence):
    fix = input_fix.assess(0.3 * sequence[:10])
    assert fix.problems == ("low contrast",) and fix.gain == pytest.approx(1 / 0.3, rel=0.05)
    assert np.abs(fix.apply(0.3 * sequence) - sequence).max() < 0.02


def test_colour_shapes_on_a_grey_ground_become_bright_on_black(sequence):
    rgb = np.empty((*sequence.shape, 3), np.float32)
    rgb[:] = (0.5, 0.5, 0.5)  # mid-grey ground
    rgb[sequence > 0.5] = (0.9, 0.1, 0.1)  # red digits: darker than the ground in luma
    grey = clips.to_model_frames(rgb).frames
    fix = input_fix.assess(grey[:10])
    assert "grey background" in fix.problems
    fixed = fix.apply(grey)
    assert np.median(fixed) == 0.0 and fixed[sequence > 0.5].mean() > 0.3  # the digits are now the bright part


def test_a_non_square_bright_clip_is_fixed_inside_and_its_padding_stays_black(sequence):
    """A 128x96 clip of bright ground: the black bars that make it square are not the clip, so they stay black."""
    frames = np.full((20, 96, 128), 1.0, np.float32)
    frames[:, 16:80, 32:96] = 1.0 - sequence  # dark digits on white, 64x64 in the middle of the 128x96 frame
    clip = clips.to_model_frames(frames)
    assert clip.size == (128, 96) and (clip.coverage[:8] == 0).all() and (clip.coverage[8:56] == 1).all()
    fix = input_fix.assess(clip.frames[:10], clip.coverage)
    assert fix.invert and fix.problems == ("bright background",)
    fixed = fix.apply(clip.frames, clip.coverage)
    assert fixed[:, :8].max() == 0 and fixed[:, 56:].max() == 0  # the bars: black, as the model knows a background
    shown = clips.to_model_frames(np.pad(sequence, ((0, 0), (16, 16), (32, 32)))).frames  # the same digits on black
    assert np.abs(fixed - shown).max() < 1e-5
    assert input_fix.assess(clip.frames[:10]).apply(clip.frames)[:, :8].min() == 1.0  # blind to coverage: white bars
