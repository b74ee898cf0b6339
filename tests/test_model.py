import pytest
import torch

from convlstm.model import ConvLSTMCell, ModelConfig, Seq2Seq


def test_cell_matches_the_gate_equations():
    torch.manual_seed(1)
    cin, hid = 2, 3
    cell = ConvLSTMCell(cin, hid, kernel_size=3)
    x, h, c = torch.randn(1, cin, 5, 5), torch.randn(1, hid, 5, 5), torch.randn(1, hid, 5, 5)
    w, b = cell.conv.weight, cell.conv.bias  # (4*hid, cin+hid, 3, 3): gates stacked i, f, o, g

    def gate(k):  # W_x * x + W_h * h + b for gate k, the input and hidden weights convolved separately
        rows = slice(k * hid, (k + 1) * hid)
        return (torch.conv2d(x, w[rows, :cin], padding=1) + torch.conv2d(h, w[rows, cin:], padding=1)
                + b[rows].view(1, -1, 1, 1))

    i, f, o, g = torch.sigmoid(gate(0)), torch.sigmoid(gate(1)), torch.sigmoid(gate(2)), torch.tanh(gate(3))
    c_expected = f * c + i * g
    h_expected = o * torch.tanh(c_expected)
    h_new, c_new = cell(x, (h, c))
    torch.testing.assert_close(c_new, c_expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h_new, h_expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("copy_states", [False, True])
@pytest.mark.parametrize("patch_size", [1, 4])
@pytest.mark.parametrize("context", [1, 10])
@pytest.mark.parametrize("horizon", [1, 10, 30])
def test_shapes_and_range(patch_size, context, horizon, copy_states):
    model = Seq2Seq(ModelConfig(hidden=4, kernel_size=3, patch_size=patch_size, copy_states=copy_states))
    x = torch.rand(2, context, 1, 64, 64)
    with torch.no_grad():
        y = model(x, horizon)
    assert y.shape == (2, horizon, 1, 64, 64)
    assert 0.0 <= y.min() and y.max() <= 1.0


def test_decoder_is_fed_its_own_output_not_the_frames():
    """The article's decoder never sees predicted frames: the horizon-h prefix of a longer rollout is identical."""
    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(hidden=4, kernel_size=3)).eval()
    x = torch.rand(1, 10, 1, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x, 30)[:, :10], model(x, 10))


def test_bad_configs_and_inputs_are_refused():
    with pytest.raises(ValueError, match="odd"):
        ModelConfig(kernel_size=4)
    model = Seq2Seq(ModelConfig(hidden=4, kernel_size=3))
    with pytest.raises(ValueError, match="divisible"):
        model(torch.rand(1, 3, 1, 62, 62), 2)
    with pytest.raises(ValueError, match="horizon"):
        model(torch.rand(1, 3, 1, 64, 64), 0)


def test_patch4_is_much_cheaper_than_full_resolution():
    """The space-to-depth layout runs the cells on 16x16 instead of 64x64: 16x fewer positions."""
    full = Seq2Seq(ModelConfig(hidden=64, kernel_size=3, patch_size=1))
    patched = Seq2Seq(ModelConfig(hidden=64, kernel_size=3, patch_size=4))
    assert patched.encoder_1.conv.in_channels == 16 + 64 and full.encoder_1.conv.in_channels == 1 + 64


def test_copy_states_hands_the_encoder_state_to_the_decoder():
    """With copy_states the decoder's first step sees the encoder's (h, c); without, zeros: outputs differ."""
    torch.manual_seed(0)
    zero = Seq2Seq(ModelConfig(hidden=4, kernel_size=3, copy_states=False)).eval()
    copy = Seq2Seq(ModelConfig(hidden=4, kernel_size=3, copy_states=True)).eval()
    copy.load_state_dict(zero.state_dict())  # same weights, only the decoder's start differs
    x = torch.rand(1, 5, 1, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(zero(x, 3), copy(x, 3))


def test_context_guesses_are_causal_and_leave_the_future_unchanged():
    """with_context adds T-1 guesses, guess k from frames 1..k only; the future part is the plain forward's."""
    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(hidden=4, kernel_size=3)).eval()
    x = torch.rand(1, 6, 1, 64, 64)
    changed = x.clone()
    changed[:, 3] = torch.rand(1, 64, 64)  # frame 4; guesses of frames 2..4 (indices 0..2) never saw it
    with torch.no_grad():
        both, other = model(x, 3, with_context=True), model(changed, 3, with_context=True)
        assert both.shape == (1, 6 - 1 + 3, 1, 64, 64)
        torch.testing.assert_close(both[:, -3:], model(x, 3))
        torch.testing.assert_close(both[:, :3], other[:, :3])
        assert not torch.allclose(both[:, 3:], other[:, 3:])
        assert model(x[:, :1], 2, with_context=True).shape == (1, 2, 1, 64, 64)  # one frame: nothing to guess
