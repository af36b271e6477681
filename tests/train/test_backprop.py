"""The hand-written backpropagation computes exactly what autograd computes (after micrograd's
test_engine.py): per step at random weights, and over a whole 10,001-step training run."""

import pytest
import torch

from xorlab.train import backprop
from xorlab.train.config import TrainConfig
from xorlab.train.data import xor_table
from xorlab.train.models import ARCHS, MLP
from xorlab.train.trainer import fit


def autograd_gradients(params, X, Y):
    leaves = [(w.clone().requires_grad_(), b.clone().requires_grad_()) for w, b in params]
    p = X
    for w, b in leaves:
        p = torch.sigmoid(p @ w + b)
    loss = torch.nn.functional.binary_cross_entropy(p, Y.expand_as(p))
    loss.backward()
    return loss.detach(), [(w.grad, b.grad) for w, b in leaves]


@pytest.mark.parametrize("layers", [(2, 2, 1), (2, 1), (2, 10, 10, 10, 1)])
@pytest.mark.parametrize("seed", range(5))
def test_gradients_equal_autograd(layers, seed):
    g = torch.Generator().manual_seed(seed)
    X, Y = xor_table()
    scale = 1.0 + seed  # from gentle to saturating weights
    params = [
        (torch.randn(i, o, generator=g) * scale, torch.randn(1, o, generator=g) * scale)
        for i, o in zip(layers[:-1], layers[1:], strict=True)
    ]
    loss, grads = backprop.gradients(params, X, Y)
    ref_loss, ref_grads = autograd_gradients(params, X, Y)
    assert torch.allclose(loss, ref_loss, atol=1e-6, rtol=0)
    for (dw, db), (rw, rb) in zip(grads, ref_grads, strict=True):
        assert dw.shape == rw.shape and db.shape == rb.shape
        assert (dw - rw).abs().max() <= 1e-6
        assert (db - rb).abs().max() <= 1e-6


def test_gradients_batched_over_seeds_equal_one_at_a_time():
    X, Y = xor_table()
    g = torch.Generator().manual_seed(1)
    batched = [
        (torch.randn(7, 2, 2, generator=g), torch.randn(7, 1, 2, generator=g)),
        (torch.randn(7, 2, 1, generator=g), torch.randn(7, 1, 1, generator=g)),
    ]
    loss, grads = backprop.gradients(batched, X, Y)
    assert loss.shape == (7,)
    for s in range(7):
        one = [(w[s], b[s]) for w, b in batched]
        l1, g1 = backprop.gradients(one, X, Y)
        assert torch.allclose(loss[s], l1, atol=1e-7)
        for (dw, db), (ew, eb) in zip(g1, grads, strict=True):
            assert torch.allclose(dw, ew[s], atol=1e-7) and torch.allclose(db, eb[s], atol=1e-7)


def test_descent_lowers_the_loss():
    # The lesson's sign bug climbed the loss; a correct step goes down.
    torch.manual_seed(0)
    X, Y = xor_table()
    params = backprop.from_linears(MLP((2, 2, 1)).linears)
    before = backprop.sgd_step(params, X, Y, lr=0.1)
    after, _ = backprop.gradients(params, X, Y)
    assert after < before


@pytest.mark.slow
def test_whole_trajectory_matches_autograd_training():
    # Same seed, same initial weights: 10,001 steps later the two trainers agree.
    cfg = TrainConfig()
    auto = fit("mlp", cfg, torch.device("cpu"))
    manual = fit("mlp-backprop", cfg, torch.device("cpu"))
    assert ARCHS["mlp-backprop"].trainer == "backprop"
    assert abs(auto.final_loss - manual.final_loss) <= 1e-4
    assert [o > 0.5 for o in auto.outputs] == [o > 0.5 for o in manual.outputs]
    assert max(abs(a - m) for a, m in zip(auto.outputs, manual.outputs, strict=True)) <= 1e-4
    assert max(abs(a - m) for a, m in zip(auto.curve_loss, manual.curve_loss, strict=True)) <= 1e-4
