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


def test_spread_cell_mixes_its_input_depthwise_at_its_dilation_first():
    torch.manual_seed(1)
    cin, hid, d = 2, 3, 3
    cell = ConvLSTMCell(cin, hid, kernel_size=3, spread=d)
    torch.nn.init.normal_(cell.spread.weight)
    x, h, c = torch.randn(1, cin, 11, 11), torch.randn(1, hid, 11, 11), torch.randn(1, hid, 11, 11)
    z = torch.cat([x, h], 1)
    s = cell.spread.weight  # (cin + hid, 1, 3, 3): one 3x3 filter per channel, taps d cells apart
    mixed = z + torch.cat([torch.conv2d(z[:, j:j + 1], s[j:j + 1], padding=d, dilation=d) for j in range(cin + hid)], 1)
    gates = torch.conv2d(mixed, cell.conv.weight, cell.conv.bias, padding=1)
    i, f, o, g = gates.chunk(4, 1)
    c_expected = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_new, c_new = cell(x, (h, c))
    torch.testing.assert_close(c_new, c_expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(h_new, torch.sigmoid(o) * torch.tanh(c_expected), rtol=1e-5, atol=1e-6)


def test_a_fresh_model_starts_remembering_at_the_mean_frame():
    """Forget-gate bias +1 (PredRNN) and a head biased to the mean pixel, so training starts off the 0.5-grey frame."""
    model = Seq2Seq(ModelConfig(hidden=8))
    for cell in [*model.encoder, *model.decoder]:
        b = cell.conv.bias.detach()  # gates i, f, o, g: only f is shifted
        assert b[8:16].min() > 0.5 and b[:8].abs().max() < 0.5 and b[16:].abs().max() < 0.5
    with torch.no_grad():
        first = model(torch.zeros(1, 3, 1, 64, 64), 1)
    assert 0.01 < float(first.mean()) < 0.2


@pytest.mark.parametrize("config, decoder, encoder", [
    (ModelConfig(hidden=8), 8.0, 4.0),  # the shipped wiring: two 3x3 cells of 4-px cells a step, one in the encoder
    (ModelConfig(hidden=8, spread=3), 32.0, 16.0),  # each cell sees 9x9 cells: 4 cells a conv
    (ModelConfig(hidden=8, kernel_size=5), 16.0, 8.0),  # OpenSTL's 5x5 kernels
    (ModelConfig(hidden=8, patch_size=1, copy_states=False), 2.0, 1.0),  # the article: 1-px cells
])
def test_reach_is_measured_as_the_wiring_predicts(config, decoder, encoder):
    torch.manual_seed(0)
    r = Seq2Seq(config).reach()
    assert (r["decoder_px_per_step"], r["encoder_px_per_step"]) == (decoder, encoder), r
    assert all(b - a == decoder for a, b in zip(r["decoder_radii"], r["decoder_radii"][1:]))


@pytest.mark.parametrize("name, radii, speeds", [("canonical", ([23, 31, 39], [23, 27, 31]), (8, 4)),
                                                  ("whole-range", ([71, 103, 135], [71, 87, 103]), (32, 16))])
def test_the_shipped_weights_reach(name, radii, speeds):
    """The plain wiring of the specialist 8 / 4 px a step (as measured on a 256-px canvas), the default's spread 32 / 16."""
    from convlstm.checkpoint import load_model
    r = load_model(name).reach()
    assert (r["decoder_radii"], r["encoder_radii"]) == radii
    assert (r["decoder_px_per_step"], r["encoder_px_per_step"]) == speeds


def test_reach_refuses_a_canvas_it_would_overflow():
    with pytest.raises(ValueError, match="larger canvas"):
        Seq2Seq(ModelConfig(hidden=4, spread=3)).reach(steps=3, canvas=128)


FAMILY = [
    ModelConfig(hidden=4, patch_size=1, copy_states=False),  # the article's wiring, narrow
    ModelConfig(hidden=4, patch_size=4),
    ModelConfig(hidden=4, layers=3, kernel_size=5),
    ModelConfig(hidden=4, layers=1, copy_states=False, spread=2),
    ModelConfig(hidden=4, spread=3),
]


@pytest.mark.parametrize("config", FAMILY, ids=str)
@pytest.mark.parametrize("context, horizon", [(1, 1), (10, 10), (3, 30)])
def test_shapes_and_range(config, context, horizon):
    model = Seq2Seq(config)
    x = torch.rand(2, context, 1, 64, 64)
    with torch.no_grad():
        y = model(x, horizon)
    assert y.shape == (2, horizon, 1, 64, 64)
    with torch.no_grad():  # a rollout's first frames do not depend on how far it goes on
        torch.testing.assert_close(model(x, 1), y[:, :1])


def test_the_article_is_one_config_away():
    a = ModelConfig.article()
    assert (a.hidden, a.layers, a.kernel_size, a.patch_size, a.copy_states, a.spread) == (64, 2, 3, 1, False, 0)
    assert ModelConfig() == ModelConfig(**{**a.to_dict(), "patch_size": 4, "copy_states": True})  # the shipped departures
    model = Seq2Seq(a)
    assert [c.conv.in_channels for c in model.encoder] == [1 + 64, 64 + 64]
    assert [c.conv.in_channels for c in model.decoder] == [64 + 64, 64 + 64]  # fed its own top output


def test_config_from_dict_refuses_unknown_fields():
    assert ModelConfig.from_dict({"hidden": 8}) == ModelConfig(hidden=8)  # fields added later take their defaults
    with pytest.raises(ValueError, match="unknown model config fields"):
        ModelConfig.from_dict({"hidden": 8, "attention": True})
    # options removed after a bake-off: older files name them at their "off" values and still load; others are refused
    assert ModelConfig.from_dict({"hidden": 8, "stem": "patch", "skip": False}) == ModelConfig(hidden=8)
    with pytest.raises(ValueError, match="removed after it lost a measured comparison"):
        ModelConfig.from_dict({"hidden": 8, "stem": "conv"})
    with pytest.raises(ValueError, match="spread is a dilation"):
        ModelConfig(spread=5)


def test_macs_match_the_convolutions_written_out():
    # article layout, 64x64 positions: encoder 1 (1+64 -> 4*64, 3x3), three 64+64 -> 4*64 cells, Conv3d 64 -> 1
    enc1, cell, head = 4096 * 65 * 256 * 9, 4096 * 128 * 256 * 9, 4096 * 64 * 1 * 9
    assert Seq2Seq(ModelConfig.article()).macs_per_sequence() == 10 * (enc1 + cell) + 10 * (2 * cell + head) == 42_396_549_120
    # patch 4: 16x16 positions, 16 input channels: 16x fewer positions, so about 15x cheaper
    enc1, cell, head = 256 * 80 * 256 * 9, 256 * 128 * 256 * 9, 256 * 64 * 16 * 9
    shipped = Seq2Seq(ModelConfig())
    assert shipped.macs_per_sequence() == 10 * (enc1 + cell) + 10 * (2 * cell + head) == 2_760_376_320
    # three layers a side: two more 64+64 cells per step, 20 steps
    assert Seq2Seq(ModelConfig(layers=3)).macs_per_sequence() == shipped.macs_per_sequence() + 20 * cell
    # spread: one 3x3 tap per channel of [x, h] and position before each cell's gates (encoder 1 reads 16 + 64)
    assert Seq2Seq(ModelConfig(spread=3)).macs_per_sequence() == shipped.macs_per_sequence() + 256 * 9 * (10 * 80 + 30 * 128)
    assert shipped.num_parameters() == 4 * (128 * 256 * 9 + 256) - 48 * 256 * 9 + 64 * 16 * 9 + 16 == 1_079_312


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


def test_copy_states_hands_the_encoder_state_to_the_decoder():
    """The rollout written out cell by cell: encoder from zeros over the context, then the decoder from the encoder's
    final (h, c) (copy_states) or from zeros (the article), each step fed the top h of the step before."""
    torch.manual_seed(0)
    x = torch.rand(1, 5, 1, 64, 64)
    for copy_states in (True, False):
        model = Seq2Seq(ModelConfig(hidden=4, kernel_size=3, copy_states=copy_states)).eval()
        feats = torch.nn.functional.pixel_unshuffle(x[0], 4)  # (5, 16, 16, 16)
        zeros = torch.zeros(1, 4, 16, 16)
        with torch.no_grad():
            s1 = s2 = (zeros, zeros)
            for t in range(5):
                s1 = model.encoder[0](feats[t:t + 1], s1)
                s2 = model.encoder[1](s1[0], s2)
            d1, d2 = (s1, s2) if copy_states else ((zeros, zeros), (zeros, zeros))
            inp, tops = s2[0], []
            for _ in range(3):
                d1 = model.decoder[0](inp, d1)
                d2 = model.decoder[1](d1[0], d2)
                inp = d2[0]
                tops.append(inp)
            head = model.stem.head  # Conv3d (1, 3, 3) == a 2-D 3x3 conv per frame
            logits = torch.cat([torch.nn.functional.conv2d(h, head.weight[:, :, 0], head.bias, padding=1) for h in tops])
            expected = torch.sigmoid(torch.nn.functional.pixel_shuffle(logits, 4))  # (3, 1, 64, 64)
            torch.testing.assert_close(model(x, 3)[0], expected, rtol=1e-5, atol=1e-6)


def test_removed_options_still_load_off_and_are_refused_on():
    """Frame feedback and the context head lost their comparisons (docs/results.md) and are gone; files that name
    them switched off load, files that use them are refused with the reason."""
    config = {**ModelConfig(hidden=4).to_dict(), "frame_feedback": False, "context_head": False, "stem": "patch"}
    assert ModelConfig.from_dict(config) == ModelConfig(hidden=4)
    for option in ("frame_feedback", "context_head"):
        with pytest.raises(ValueError, match=f"'{option}': True.*removed after it lost a measured comparison"):
            ModelConfig.from_dict({**config, option: True})


def test_trace_records_every_cell_step_and_matches_the_output():
    torch.manual_seed(0)
    model = Seq2Seq(ModelConfig(hidden=4)).eval()
    x = torch.rand(1, 5, 1, 64, 64)
    with torch.no_grad(), model.trace() as steps:
        y = model(x, 3)
    assert [(s["part"], s["layer"], s["step"]) for s in steps[:4]] == [("encoder", 1, 0), ("encoder", 2, 0), ("encoder", 1, 1), ("encoder", 2, 1)]
    assert len(steps) == 2 * 5 + 2 * 3 and steps[-1]["part"] == "decoder" and steps[-1]["step"] == 2
    for s in steps:
        assert s["i"].shape == s["h"].shape == (4, 16, 16) and 0 <= s["f"].min() and s["o"].max() <= 1
    # the last decoder step's top h, through the head written out, is the last predicted frame
    head = model.stem.head
    logits = torch.nn.functional.conv2d(steps[-1]["h"][None], head.weight[:, :, 0], head.bias, padding=1)  # (1, 16, 16, 16)
    torch.testing.assert_close(torch.sigmoid(torch.nn.functional.pixel_shuffle(logits, 4))[0], y[0, -1])
    with torch.no_grad():
        model(x, 1)
    assert len(steps) == 16  # hooks are gone after the block


def test_trace_records_only_its_own_thread():
    """Requests share one model: a forward on another thread during a trace is not mixed into it."""
    import threading

    model = Seq2Seq(ModelConfig(hidden=4)).eval()
    x = torch.rand(1, 3, 1, 64, 64)
    with torch.no_grad(), model.trace() as steps:
        other = threading.Thread(target=lambda: model(x, 5))
        other.start()
        other.join()
        model(x, 2)
    assert len(steps) == 2 * 3 + 2 * 2 and [s["step"] for s in steps if s["part"] == "decoder"] == [0, 0, 1, 1]
