"""Warm starts that grow a trained model wider or to larger kernels must predict exactly what it predicted."""
import pytest
import torch

from convlstm.grow import warm_start
from convlstm.model import ModelConfig, Seq2Seq

GROWTHS = [
    (ModelConfig(hidden=8), ModelConfig(hidden=12)),
    (ModelConfig(hidden=8), ModelConfig(hidden=8, kernel_size=5)),
    (ModelConfig(hidden=8, kernel_size=3), ModelConfig(hidden=16, kernel_size=5)),
    (ModelConfig(hidden=8, layers=3, copy_states=False), ModelConfig(hidden=12, layers=3, copy_states=False)),
    (ModelConfig(hidden=8), ModelConfig(hidden=8, spread=3)),  # the shipped wiring into the fast one: spreads start at zero
    (ModelConfig(hidden=8), ModelConfig(hidden=12, kernel_size=5, spread=2)),
    (ModelConfig(hidden=8, spread=3), ModelConfig(hidden=12, spread=3)),  # trained spreads keep their channels
]


@pytest.mark.parametrize("old, new", GROWTHS)
def test_a_grown_model_predicts_what_the_trained_one_did(old, new):
    torch.manual_seed(0)
    trained, grown = Seq2Seq(old), Seq2Seq(new)
    copied, changed, fresh = warm_start(grown, trained.state_dict(), old)
    assert fresh == [] and changed and len(copied) + len(changed) == len(grown.state_dict())
    x = torch.rand(2, 5, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(grown(x, 4), trained(x, 4), atol=1e-6, rtol=0)
    # the trained weights sit at their old gate rows and at the centre of each larger kernel
    if old.spread:
        torch.testing.assert_close(grown.encoder[1].spread.weight[:old.hidden], trained.encoder[1].spread.weight[:old.hidden])
    h, big, pad = old.hidden, new.hidden, (new.kernel_size - old.kernel_size) // 2
    for g in range(4):  # gate blocks i, f, o, g
        torch.testing.assert_close(grown.encoder[1].conv.weight[g * big:g * big + h, :h, pad:pad + 3, pad:pad + 3],
                                   trained.encoder[1].conv.weight[g * h:(g + 1) * h, :h])


def test_the_new_channels_and_kernel_taps_learn():
    torch.manual_seed(0)
    old, new = ModelConfig(hidden=8), ModelConfig(hidden=12, kernel_size=5)
    grown = Seq2Seq(new)
    warm_start(grown, Seq2Seq(old).state_dict(), old)
    x = torch.rand(2, 5, 1, 16, 16)
    grown(x, 3).mean().backward()
    w = grown.decoder[1].conv.weight.grad  # (4 * 12, 12 + 12, 5, 5)
    assert w[:, 12 + 8:].abs().sum() > 0  # outgoing weights of the new hidden channels (into the gates)
    assert w[:, :, 0].abs().sum() > 0  # the outer ring of the larger kernel
    assert grown.stem.head.weight.grad[:, 8:].abs().sum() > 0  # the head reads the new channels


def test_a_grown_spread_starts_at_zero_and_learns():
    torch.manual_seed(0)
    old, new = ModelConfig(hidden=8), ModelConfig(hidden=8, spread=3)
    grown = Seq2Seq(new)
    copied, changed, fresh = warm_start(grown, Seq2Seq(old).state_dict(), old)
    assert sorted(changed) == [f"{p}.{n}.spread.weight" for p in ("decoder", "encoder") for n in (0, 1)] and fresh == []
    assert all(cell.spread.weight.abs().sum() == 0 for cell in [*grown.encoder, *grown.decoder])
    grown(torch.rand(2, 5, 1, 16, 16), 3).mean().backward()
    assert all(cell.spread.weight.grad.abs().sum() > 0 for cell in [*grown.encoder, *grown.decoder])


@pytest.mark.parametrize("new", [ModelConfig(hidden=4), ModelConfig(hidden=12, patch_size=2), ModelConfig(hidden=12, layers=3)])
def test_only_what_fits_is_loaded_where_the_wiring_differs(new):
    old = ModelConfig(hidden=8)
    torch.manual_seed(1)
    model, theirs = Seq2Seq(new), Seq2Seq(old).state_dict()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    copied, grown, fresh = warm_start(model, theirs, old)
    assert grown == [] and fresh  # narrower, another patch size or another depth: no growth, only exact shapes
    after = model.state_dict()
    assert sorted(copied + fresh) == sorted(after)  # every tensor is either copied or left fresh
    assert all(torch.equal(after[k], theirs[k]) for k in copied)
    assert all(torch.equal(after[k], before[k]) for k in fresh)  # left as initialised
