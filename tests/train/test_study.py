"""The many-seed study: batched training follows the single-model trainer seed for seed, and the
statistics mean what they say."""
import json
import math

import pytest
import torch

from tests import ROOT
from xorlab.modelrepo.spec import XOR_FUNCTION, function_targets, linearly_separable
from xorlab.train import backprop
from xorlab.train.config import TrainConfig
from xorlab.train.data import xor_table
from xorlab.train.models import ARCHS, build
from xorlab.train.study import run_study, train_batch
from xorlab.train.trainer import fit

CPU = torch.device("cpu")
SEEDS = [2, 777]   # seed 2 leaves `deep` stuck at ln 2: a trajectory unlike the others


@pytest.fixture(scope="module")
def singles():
    cfg = {s: TrainConfig(seed=s) for s in SEEDS}
    return {(name, s): fit(name, cfg[s], CPU) for name in ARCHS for s in SEEDS}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ARCHS))
def test_seed_k_of_the_batch_is_the_single_run_with_seed_k(name, singles):
    xor = torch.tensor([function_targets(XOR_FUNCTION)] * len(SEEDS))
    batch = train_batch(ARCHS[name], SEEDS, xor, 10_001, 1.0, CPU)
    for i, s in enumerate(SEEDS):
        single = singles[(name, s)]
        assert abs(batch.final_loss[i].item() - single.final_loss) <= 1e-5, (name, s)
        assert torch.allclose(batch.outputs[i], torch.tensor(single.outputs), atol=1e-5), (name, s)
        assert bool(batch.solved[i]) == single.solved


def test_initial_weights_are_the_single_runs():
    from xorlab.train.study import initial_params
    params = initial_params(ARCHS["deep"], [3, 4], CPU)
    for i, s in enumerate((3, 4)):
        net = build(ARCHS["deep"], s)
        for (w, b), linear in zip(params, net.linears):
            assert torch.equal(w[..., i], linear.weight.detach().t()) and torch.equal(b[..., i], linear.bias.detach())


def test_steps_to_solve_is_the_first_step_from_which_all_points_stay_right():
    # Trace one run step by step with the plain (unbatched) hand-written trainer.
    X, Y = xor_table()
    params = backprop.from_linears(build(ARCHS["mlp-backprop"], 777).linears)
    last_wrong = -1
    for step in range(3000):
        with torch.no_grad():
            p = backprop.forward(params, X)[-1]
        if not ((p > 0.5) == (Y > 0.5)).all():
            last_wrong = step
        backprop.sgd_step(params, X, Y, 1.0)
    batch = train_batch(ARCHS["mlp-backprop"], [777], torch.tensor([function_targets(6)]), 3000, 1.0, CPU)
    assert batch.solved[0] and 0 < last_wrong < 2999
    assert batch.steps_to_solve[0].item() == last_wrong + 1


def test_perceptron_solves_exactly_the_linearly_separable_functions():
    study, _ = run_study(["perceptron"], xor_seeds=5, function_seeds=5, steps=10_001, lr=1.0, device=CPU)
    capacity = study.architectures["perceptron"].capacity
    assert [c.function for c in capacity] == list(range(16))
    for c in capacity:
        assert c.rate == (1.0 if linearly_separable(c.function) else 0.0), c
    assert sum(linearly_separable(f) for f in range(16)) == 14
    assert study.functions.names[6] == "XOR" and study.functions.names[9] == "XNOR"


def test_committed_study():
    doc = json.loads((ROOT / "models" / "manifest.json").read_text())
    study = doc["study"]
    assert study["seeds"] == 1000 and study["steps"] == 10_001 and study["lr"] == 1.0
    archs = study["architectures"]
    assert archs["perceptron"]["successes"] == 0 and archs["perceptron"]["stuck_near_ln2"] == 1.0
    # The MLPs solve XOR from most seeds but not all; the deep one from more.
    assert 0.75 < archs["mlp"]["rate"] < 0.95 and 0.9 < archs["deep"]["rate"] < 1.0
    assert archs["deep"]["ci95"][0] > archs["mlp"]["ci95"][1]
    # Same network, same initial weights, same gradients: the hand-written trainer agrees seed for seed.
    assert archs["mlp-backprop"]["successes"] == archs["mlp"]["successes"]
    for name, a in archs.items():
        assert a["n"] == 1000 and a["ci95"][0] <= a["rate"] <= a["ci95"][1]
        caps = {c["function"]: c["rate"] for c in a["capacity"]}
        assert caps[XOR_FUNCTION] == a["rate"]
        if name != "perceptron":
            assert a["steps_to_solve"]["median"] <= a["steps_to_solve"]["p90"] <= study["steps"]
    assert {c["function"] for c in archs["perceptron"]["capacity"] if c["rate"] == 1.0} == \
        {f for f in range(16) if linearly_separable(f)}
    names = {p["path"] for p in doc["pictures"]}
    assert {"capacity.png", "study-rates.png", "steps-to-solve.png", "loss-curves.png"} <= names
    assert {f"surface-{m}.png" for m in doc["models"]} <= names
    assert math.isclose(archs["perceptron"]["final_loss_quantiles"]["0.5"], math.log(2), abs_tol=1e-3)
