"""The verdict sentence, case by case, from typed evidence: a study built through the records (with
real Wilson intervals) and the served models as `Served`. Each case is a run a user can make: the
default one, one too short to decide, one where an architecture never solves, none with a study,
and a GPU-sized study of a million seeds."""

from __future__ import annotations

import pytest

from xorlab import percentages
from xorlab.modelrepo import records, spec, stats
from xorlab.serve.verdict import Served, undecided, verdict

PERCEPTRON, MLP, DEEP = [2, 1], [2, 2, 1], [2, 10, 10, 10, 1]


def arch(layers: list[int], n: int, solved: int, **rest: int) -> records.ArchitectureStudy:
    """An architecture's study: `solved` of `n` seeds, the others as `rest` says ({outcome: count});
    a network without a hidden layer learns exactly the linearly separable functions."""
    ends = {"solved": solved, "unfinished": 0, "plateau": 0, "local_minimum": 0, **rest}
    assert sum(ends.values()) == n, ends
    linear = len(layers) == 2
    capacity = [
        records.FunctionRate(
            function=f,
            **stats.rate(
                solved if f == spec.XOR_FUNCTION else 0 if linear and f == spec.XNOR_FUNCTION else 20,
                n if f == spec.XOR_FUNCTION else 20,
            ),
        )
        for f in range(16)
    ]
    return records.ArchitectureStudy(
        **stats.rate(solved, n),
        trainer="autograd",
        layers=layers,
        seconds=1.0,
        steps_to_solve=records.StepsToSolve(median=600.0 if solved else None, p90=1500.0 if solved else None),
        final_loss_quantiles={"0.5": 0.001},
        outcomes=records.Outcomes(**{k: records.Tally(count=c, share=c / n) for k, c in ends.items()}),
        capacity=capacity,
    )


def study(steps: int = 10_001, **architectures: records.ArchitectureStudy) -> records.Study:
    n = next(iter(architectures.values())).n
    return records.Study(
        task="XOR",
        seeds=n,
        seed_range=(0, n - 1),
        steps=steps,
        lr=1.0,
        optimizer="SGD",
        loss="BCE",
        device="cpu",
        seconds=1.0,
        outcome_rule=records.OutcomeRule.for_steps(steps),
        functions=records.Functions.of(20, n),
        architectures={name.replace("_", "-"): a for name, a in architectures.items()},
    )


def model(
    name: str,
    layers: list[int],
    solved: bool,
    outcome: str | None = None,
    *,
    seed: int = 777,
    steps: int = 10_001,
    ready: bool = True,
) -> Served:
    return Served(
        name=name,
        ready=ready,
        solved=solved if ready else None,
        layers=tuple(layers),
        seed=seed,
        steps=steps,
        outcome=outcome or ("solved" if solved else None),
    )


def lesson(steps: int, solved: dict[str, bool], outcome: dict[str, str]) -> list[Served]:
    layers = {"perceptron": PERCEPTRON, "mlp": MLP, "mlp-backprop": MLP, "deep": DEEP}
    return [model(name, layers[name], solved[name], outcome[name], steps=steps) for name in layers]


def test_the_default_run():
    """1,000 seeds, 10,001 steps, as the committed repository: the deep seeds left unsolved are still
    leaving the plateau (they all solve by step 18,000), the MLP's are in a local minimum."""
    s = study(
        perceptron=arch(PERCEPTRON, 1000, 0, plateau=1000),
        mlp=arch(MLP, 1000, 878, local_minimum=121, unfinished=1),
        mlp_backprop=arch(MLP, 1000, 878, local_minimum=121, unfinished=1),
        deep=arch(DEEP, 1000, 948, unfinished=52),
    )
    served = lesson(
        10_001,
        {"perceptron": False, "mlp": True, "mlp-backprop": True, "deep": True},
        {"perceptron": "plateau", "mlp": "solved", "mlp-backprop": "solved", "deep": "solved"},
    )
    assert verdict(served, s) == (
        "mlp solves XOR from 87.8% of 1,000 seeds within 10,001 steps (95% CI 85.6–89.7%), mlp-backprop from 87.8% "
        "(95% CI 85.6–89.7%) and deep from 94.8% (95% CI 93.2–96.0%); the rest were stuck in a local minimum (mlp "
        "and mlp-backprop 12.1%) or still improving when the run ended (mlp and mlp-backprop 0.1%, deep 5.2%); "
        "perceptron cannot: without a hidden layer it draws a single line, and XOR's four points are not linearly "
        "separable (none of 1,000 seeds, 95% CI 0–0.4%; it learns all 14 functions that are, from every seed); the "
        "served models (seed 777): mlp, mlp-backprop and deep solve XOR (as 87.8%, 87.8% and 94.8% of their seeds "
        "do) and perceptron does not solve it (no seed can)."
    )


def test_a_run_too_short_to_decide():
    """--steps 2001 --study-seeds 200: deep is still on its plateau everywhere, which is not stuck."""
    s = study(
        steps=2001,
        perceptron=arch(PERCEPTRON, 200, 0, plateau=200),
        mlp=arch(MLP, 200, 167, local_minimum=22, unfinished=11),
        mlp_backprop=arch(MLP, 200, 167, local_minimum=22, unfinished=11),
        deep=arch(DEEP, 200, 0, unfinished=200),
    )
    assert undecided(s.architectures["deep"]) and not undecided(s.architectures["mlp"])
    served = lesson(
        2001,
        {"perceptron": False, "mlp": False, "mlp-backprop": False, "deep": False},
        {"perceptron": "plateau", "mlp": "unfinished", "mlp-backprop": "unfinished", "deep": "unfinished"},
    )
    said = verdict(served, s)
    assert said == (
        "mlp solves XOR from 83.5% of 200 seeds within 2,001 steps (95% CI 77.7–88.0%) and mlp-backprop from 83.5% "
        "(95% CI 77.7–88.0%); the rest were stuck in a local minimum (mlp and mlp-backprop 11.0%) or still improving "
        "when the run ended (mlp and mlp-backprop 5.5%); the run was too short to decide for deep: none of its 200 "
        "seeds solved XOR within 2,001 steps, and 100% were still improving (train with more steps); perceptron "
        "cannot: without a hidden layer it draws a single line, and XOR's four points are not linearly separable "
        "(none of 200 seeds, 95% CI 0–1.9%; it learns all 14 functions that are, from every seed); the served models "
        "(seed 777): mlp, mlp-backprop and deep had not solved XOR within 2,001 steps, their loss still falling (as "
        "for 5.5%, 5.5% and 100% of their seeds) and perceptron does not solve it (no seed can)."
    )
    assert "stuck at ln 2" not in said and "deep" not in said.split("; ")[0]


def test_an_architecture_that_never_solves_it():
    s = study(tiny=arch([2, 1, 1], 50, 0, local_minimum=30, plateau=20))
    assert verdict([model("tiny", [2, 1, 1], False, "local_minimum", seed=3)], s) == (
        "tiny solves XOR from none of 50 seeds within 10,001 steps (95% CI 0–7.1%): 60.0% stuck in a local minimum "
        "and 40.0% stuck at ln 2, although its hidden layer could draw the two lines XOR needs; the served tiny "
        "(seed 3) is stuck in a local minimum (as 60.0% of its seeds are)."
    )


def test_an_unlucky_served_seed_is_set_against_its_seeds():
    s = study(mlp=arch(MLP, 1000, 878, local_minimum=121, unfinished=1), deep=arch(DEEP, 1000, 1000))
    said = verdict([model("mlp", MLP, False, "local_minimum", seed=3), model("deep", DEEP, True, seed=3)], s)
    assert said == (
        "mlp solves XOR from 87.8% of 1,000 seeds within 10,001 steps (95% CI 85.6–89.7%) and deep from all 1,000 "
        "seeds (95% CI 99.6–100%); the rest were stuck in a local minimum (mlp 12.1%) or still improving when the run "
        "ended (mlp 0.1%); the served models (seed 3): deep solves XOR (as all of its seeds do) and mlp is stuck in a "
        "local minimum (as 12.1% of its seeds are)."
    )


def test_a_gpu_sized_study_shows_its_narrow_intervals():
    """A million seeds: two decimals, the interval distinct from the rate, every count with separators."""
    m = 1_000_000
    s = study(
        perceptron=arch(PERCEPTRON, m, 0, plateau=m),
        mlp=arch(MLP, m, 878_123, local_minimum=121_000, unfinished=877),
        deep=arch(DEEP, m, 948_321, unfinished=51_679),
    )
    served = [model("perceptron", PERCEPTRON, False, "plateau"), model("mlp", MLP, True), model("deep", DEEP, True)]
    assert verdict(served, s) == (
        "mlp solves XOR from 87.81% of 1,000,000 seeds within 10,001 steps (95% CI 87.75–87.88%) and deep from 94.83% "
        "(95% CI 94.79–94.88%); the rest were stuck in a local minimum (mlp 12.10%) or still improving when the run "
        "ended (mlp 0.09%, deep 5.17%); perceptron cannot: without a hidden layer it draws a single line, and XOR's "
        "four points are not linearly separable (none of 1,000,000 seeds, 95% CI 0–0.0004%; it learns all 14 "
        "functions that are, from every seed); the served models (seed 777): mlp and deep solve XOR (as 87.81% and "
        "94.83% of their seeds do) and perceptron does not solve it (no seed can)."
    )


@pytest.mark.parametrize(
    ("share", "digits", "written"),
    [
        (0.0, 1, "0"),
        (1.0, 1, "100"),
        (0.878, 1, "87.8"),
        (0.948321, 2, "94.83"),
        (0.999996, 2, "99.9996"),
        (0.0000038, 2, "0.0004"),
        (0.9995, 1, "99.95"),
    ],
)
def test_no_share_but_none_or_all_is_written_as_0_or_100(share, digits, written):
    assert percentages.percent(share, digits) == written


def test_without_a_study_the_served_models_are_the_evidence():
    models = [model("perceptron", PERCEPTRON, False, "plateau"), model("mlp", MLP, True)]
    assert verdict(models) == (
        "mlp solves XOR; perceptron cannot: without a hidden layer it draws a single line, and XOR's four points are "
        "not linearly separable (no line puts (0,1) and (1,0) on one side and (0,0) and (1,1) on the other)."
    )


@pytest.mark.parametrize(
    ("outcome", "said"),
    [
        ("unfinished", "deep did not solve XOR within 2,001 steps, its loss still falling (train with more steps)."),
        (
            "plateau",
            "deep has hidden layers and so could draw the two lines XOR needs, but this training run is stuck at ln 2.",
        ),
        (
            "local_minimum",
            "deep has hidden layers and so could draw the two lines XOR needs, but this training run is stuck in "
            "a local minimum.",
        ),
    ],
)
def test_without_a_study_an_unsolved_run_says_why(outcome, said):
    assert verdict([model("deep", DEEP, False, outcome, steps=2001)]) == said


def test_the_verdict_names_models_that_could_not_be_checked():
    s = study(mlp=arch(MLP, 1000, 500, local_minimum=500))
    assert verdict([model("mlp", MLP, False, ready=False)], s) == (
        "mlp solves XOR from 50.0% of 1,000 seeds within 10,001 steps (95% CI 46.9–53.1%); the rest were stuck in a "
        "local minimum (mlp 50.0%); mlp could not be checked (not loaded)."
    )


def test_the_verdict_cites_each_sample_size_when_they_differ():
    s = study(a=arch(MLP, 100, 10, local_minimum=90), b=arch(MLP, 40, 20, local_minimum=20))
    assert verdict([], s).startswith(
        "a solves XOR from 10.0% of 100 seeds within 10,001 steps (95% CI 5.5–17.4%) and b from 50.0% of 40 seeds "
        "(95% CI 35.2–64.8%);"
    )


def test_no_model_and_no_study():
    assert verdict([]) == "No model is served, so there is no verdict."
