"""The outcome rule on the cases it was measured on: a loss stopped exactly at ln 2 is stuck, one
creeping off the plateau is not, a loss settling short of solving is a local minimum."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xorlab.modelrepo import outcomes

LN2 = math.log(2)


@pytest.mark.parametrize(
    ("solved", "final", "change", "expected"),
    [
        (False, 0.6931471824645996, 0.0, "plateau"),  # the perceptron: its outputs stopped changing at 0.5
        (False, 0.6931172, 4.9e-6, "unfinished"),  # deep at 2,001 steps: creeping off the saddle
        (False, 0.6930995, 2.06e-5, "unfinished"),  # deep seed 2 at 10,001 steps (it solves by 13,000)
        (False, 0.6931468, -5.5e-9, "unfinished"),  # 2-2-1 seed 215 at 2,001 steps: the smallest change measured
        (False, 0.3471, 7.5e-5, "local_minimum"),  # 2-2-1 settling towards ln 2 / 2
        (False, 0.4784, 2.6e-4, "local_minimum"),
        (False, 0.36, 0.005, "unfinished"),  # still falling by more than 1% a window
        (False, LN2 + 0.02, 0.0, "local_minimum"),  # stopped, but off the plateau
        (True, LN2, 0.0, "solved"),  # solving decides, whatever the loss does
    ],
)
def test_each_measured_case(solved, final, change, expected):
    assert outcomes.outcome(solved, final, change) == expected


def test_classify_takes_arrays():
    got = outcomes.classify(np.array([True, False, False]), np.array([0.001, LN2, 0.35]), np.array([0.0, 0.0, 1e-5]))
    assert got.tolist() == ["solved", "plateau", "local_minimum"]


@pytest.mark.parametrize(("steps", "window"), [(10_001, 1000), (2001, 200), (100, 10), (5, 1), (1, 1)])
def test_the_window_is_a_tenth_of_the_run(steps, window):
    assert outcomes.window(steps) == window
