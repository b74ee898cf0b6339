import numpy as np
import pytest
import torch

from convlstm.data import (
    CANVAS, DIGIT, NUM_DIGITS, SPEED, SPEEDS, Digits, MovingMNIST, fixed_set, generate_sequence, generate_uint8,
    generate_shapes, load_canonical, load_digits, mixed_sequence, mixed_set, render, shape_patch, trajectory,
)


def test_digit_bank_is_real_mnist_and_split():
    train, test = load_digits("train"), load_digits("test")
    assert train.images.shape[1:] == (28, 28) and train.images.dtype == np.uint8
    assert 8500 <= len(train.images) <= 9500 and 900 <= len(test.images) <= 1100
    assert set(np.unique(test.labels)) == set(range(10))  # class-balanced: every class in both splits
    assert len(np.unique(train.images)) > 200  # real grey levels, not a binarised stand-in


def test_same_seed_same_sequence_bit_for_bit():
    digits = load_digits("train")
    a = generate_sequence(np.random.default_rng(7), digits)
    b = generate_sequence(np.random.default_rng(7), digits)
    c = generate_sequence(np.random.default_rng(8), digits)
    assert a.dtype == np.float32 and a.shape == (20, CANVAS, CANVAS)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0.0 <= a.min() and a.max() <= 1.0


@pytest.mark.parametrize("speed", [SPEED, 0.25])
def test_trajectory_stays_on_canvas_moves_at_speed_and_bounces(speed):
    rng = np.random.default_rng(0)
    bounces = 0
    for _ in range(50):
        pos = trajectory(rng, 40, speed)
        assert (pos >= 0).all() and (pos <= 1).all()  # corner * 36 keeps the 28-px digit on the 64-px canvas
        for t in range(1, 39):
            step, nxt = pos[t] - pos[t - 1], pos[t + 1] - pos[t]
            on_edge = (pos[t] == 0.0) | (pos[t] == 1.0)
            if not on_edge.any() and not ((pos[t - 1] == 0) | (pos[t - 1] == 1)).any():
                assert np.linalg.norm(step) == pytest.approx(speed)  # no bounce in the last step: full speed
            for k in np.flatnonzero(on_edge):
                if step[k] != 0 and nxt[k] != 0:
                    assert np.sign(nxt[k]) == -np.sign(step[k])  # the component that hit the edge flips
                    bounces += 1
    assert bounces > 10


def test_render_combines_digits_by_max():
    a, b = np.full((DIGIT, DIGIT), 100, np.uint8), np.full((DIGIT, DIGIT), 200, np.uint8)
    frames = render([a, b], [np.array([[0, 0]]), np.array([[10, 20]])])
    assert frames.shape == (1, CANVAS, CANVAS)
    assert frames[0, 5, 5] == 100 and frames[0, 20, 25] == 200  # overlap is max(100, 200), not the sum
    assert frames[0, 37, 47] == 200 and frames[0, 40, 5] == 0
    assert frames[0, 10:28, 20:28].min() == 200


def test_generator_uses_chosen_classes_and_digit_count():
    bank = Digits(np.stack([np.full((DIGIT, DIGIT), v, np.uint8) for v in (50, 150, 250)]), np.array([0, 1, 2], np.uint8))
    seq = generate_sequence(np.random.default_rng(1), bank, num_frames=5, num_digits=2, classes=(0, 2))
    assert set(np.unique(np.rint(seq * 255))) <= {0, 50, 250}
    with pytest.raises(ValueError):
        generate_sequence(np.random.default_rng(1), bank, num_digits=2, classes=(0,))
    three = generate_sequence(np.random.default_rng(1), load_digits("train"), num_digits=3, num_frames=3)
    assert three.shape == (3, CANVAS, CANVAS)


def test_fixed_sets_are_fixed_and_drawn_from_disjoint_digit_splits():
    train, test = load_digits("train"), load_digits("test")
    as_rows = lambda images: {im.tobytes() for im in images}  # noqa: E731
    assert not as_rows(train.images) & as_rows(test.images)  # no MNIST image in both splits
    v1, v2, t = fixed_set("train", 3), fixed_set("train", 3), fixed_set("test", 3)
    assert np.array_equal(v1, v2) and np.array_equal(t, fixed_set("test", 3))
    # each set is the same draws rendered from its own split: the same seed with the other split differs
    seed = np.random.default_rng(20_150_001)
    assert np.array_equal(v1, np.stack([generate_sequence(seed, train) for _ in range(3)]))
    seed = np.random.default_rng(20_150_002)
    assert np.array_equal(t, np.stack([generate_sequence(seed, test) for _ in range(3)]))


def test_speed_and_digit_ranges_are_one_constant():
    digits = load_digits("train")
    for bad in (dict(speed=SPEEDS[1] + 0.01), dict(speed=SPEEDS[0] - 0.01), dict(num_digits=NUM_DIGITS[1] + 1), dict(num_digits=0)):
        with pytest.raises(ValueError):
            generate_uint8(np.random.default_rng(0), digits, **bad)
    mixed = mixed_set("train", 40, 12)
    assert mixed.shape == (40, 12, CANVAS, CANVAS) and mixed.dtype == np.float32
    # speeds spread over the range: the per-frame displacement of the image's centre of mass varies widely
    mass = mixed.sum(axis=(2, 3))
    assert (mass > 0).all()
    assert len({round(float(m), 1) for m in mass[:, 0]}) > 10  # digit counts and digits vary


def test_canonical_reader_transposes_time_first_layout(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, size=(20, 3, 64, 64), dtype=np.uint8)
    np.save(tmp_path / "mnist_test_seq.npy", arr)
    seqs = load_canonical(tmp_path / "mnist_test_seq.npy")
    assert seqs.shape == (3, 20, 64, 64) and np.array_equal(seqs[2, 5], arr[5, 2])
    np.save(tmp_path / "bad.npy", arr.astype(np.float32))
    with pytest.raises(ValueError, match="canonical"):
        load_canonical(tmp_path / "bad.npy")


def test_dataset_items_are_pure_functions_of_index():
    ds = MovingMNIST(load_digits("train"), seed=3, num_frames=20)
    assert ds[5].shape == (20, 1, 64, 64) and ds[5].dtype == torch.uint8  # 4x smaller on its way to a device
    assert torch.equal(ds[5], MovingMNIST(load_digits("train"), seed=3, num_frames=20)[5])
    assert not torch.equal(ds[5], ds[6]) and not torch.equal(ds[5], MovingMNIST(load_digits("train"), seed=4, num_frames=20)[5])
    # the canonical protocol by default: exactly the generator's sequence for that item's seed
    rng = np.random.default_rng([3, 5])
    rng.integers(2, 3)  # the digit-count draw, fixed at 2
    assert np.array_equal(ds[5][:, 0].numpy(), generate_uint8(rng, load_digits("train"), 20, 2, SPEED))


def test_mixed_dataset_covers_the_digit_range():
    ds = MovingMNIST(load_digits("train"), seed=0, num_frames=4, speeds=SPEEDS, num_digits=NUM_DIGITS)
    counts, speeds = set(), []
    for i in range(60):
        rng = np.random.default_rng([0, i])  # item i's own generator: digit count, then speed, then the sequence
        n, speed = int(rng.integers(NUM_DIGITS[0], NUM_DIGITS[1] + 1)), float(rng.uniform(*SPEEDS))
        assert np.array_equal(ds[i][:, 0].numpy(), generate_uint8(rng, load_digits("train"), 4, n, speed))
        counts.add(n)
        speeds.append(speed)
    assert counts == {1, 2, 3} and min(speeds) < 0.08 and max(speeds) > 0.25


def test_shapes_are_the_drawn_kinds_sizes_and_brightness():
    """Each patch written out: a disc, a ring or a frame 2 px thick, a filled square; at the asked brightness."""
    disc, ring, square, frame = (shape_patch(k, 5, 0.5) for k in ("disc", "ring", "square", "frame"))
    assert disc.shape == ring.shape == (11, 11) and set(np.unique(disc)) == {0, 128}
    assert disc[5, 5] and disc[5, 0] and not disc[0, 0]  # the centre and the edge's midpoint, not the corner
    assert ring[5, 0] and ring[5, 1] and not ring[5, 2] and not ring[5, 5]  # 2 px thick, hollow
    assert square.all() and frame[0].all() and frame[1].all() and not frame[2:-2, 2:-2].any()


@pytest.mark.parametrize("speed", [0.05, 0.3])
def test_shapes_bounce_at_their_own_edge_at_the_digits_pixel_speed(speed):
    rng = np.random.default_rng(1)
    seq = generate_shapes(rng, 40, 1, speed, kinds=("square",), radii=(3,))  # one 7x7 square
    ys, xs = zip(*[np.argwhere(f)[0] for f in seq])  # its top-left corner in each frame
    assert min(ys + xs) == 0 or max(ys + xs) == CANVAS - 7  # it reaches a border: it bounces at its own edge
    step = np.hypot(np.diff(ys), np.diff(xs))
    assert np.median(step) == pytest.approx(speed * (CANVAS - DIGIT), abs=1.0)  # the same px a frame as a digit


def test_a_fraction_of_a_mixed_stream_is_shapes_and_digit_streams_are_unchanged():
    digits = load_digits("train")
    ds = MovingMNIST(digits, seed=0, num_frames=4, speeds=SPEEDS, num_digits=NUM_DIGITS, shapes=0.5)
    plain = MovingMNIST(digits, seed=0, num_frames=4, speeds=SPEEDS, num_digits=NUM_DIGITS)
    shaped = 0
    for i in range(40):
        rng = np.random.default_rng([0, i])
        is_shapes = rng.random() < 0.5
        n, speed = int(rng.integers(NUM_DIGITS[0], NUM_DIGITS[1] + 1)), float(rng.uniform(*SPEEDS))
        expected = generate_shapes(rng, 4, n, speed) if is_shapes else generate_uint8(rng, digits, 4, n, speed)
        assert np.array_equal(ds[i][:, 0].numpy(), expected)
        shaped += is_shapes
    assert 10 < shaped < 30
    assert np.array_equal(plain[7][:, 0].numpy(), mixed_sequence(np.random.default_rng([0, 7]), digits, 4, SPEEDS, NUM_DIGITS))
