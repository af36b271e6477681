"""What became of a training run at the end of its steps: the one definition of the outcomes the
manifest records, for the study's seeds and for each served model.

  solved          all four truth-table rows on the right side of 0.5.
  unfinished      not solved, and its loss still falling: more steps may solve it.
  plateau         stuck at ln 2, the loss of answering 0.5 everywhere: its loss stopped changing there.
  local_minimum   stuck elsewhere: its loss has all but stopped falling, short of solving.

A run is judged by two losses: L, its final one, and L_w, the one `window(steps)` steps earlier
(a tenth of the run), both computed in float64 from the float32 outputs.

- Off the plateau, a run whose loss fell by less than RELATIVE_TOLERANCE of itself over the window
  is in a local minimum: a stuck 2-2-1 MLP settles towards ln 2 / 2 (two points right, two at 0.5),
  ever more slowly.
- At ln 2 the loss of a network with a hidden layer creeps: the symmetric point is a saddle it
  leaves slowly, then all at once. There a run is stuck only if its loss stopped changing (by no
  more than STILL_TOLERANCE over the window; the perceptron's, for which ln 2 is the minimum,
  changes by exactly 0).

The thresholds were chosen from the lesson's settings measured on many seeds, trained on to see
which ever solve; the measurements, and the command that repeats them, are in docs/training.md.
How each outcome is worded for people is not the contract's concern: xorlab/outcome_words.py.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

Outcome = Literal["solved", "unfinished", "plateau", "local_minimum"]
OUTCOMES: tuple[Outcome, ...] = ("solved", "unfinished", "plateau", "local_minimum")

LN2 = math.log(2)  # the BCE of answering 0.5 for every row
WINDOW_FRACTION = 0.1  # the window is the last tenth of the steps
PLATEAU_TOLERANCE = 0.01  # |L - ln 2| within this: on the plateau
RELATIVE_TOLERANCE = 0.01  # off the plateau: stuck when L fell by less than this fraction of L over the window
STILL_TOLERANCE = 1e-9  # on the plateau: stuck when L changed by no more than this over the window


def window(steps: int) -> int:
    """How many steps before the end the earlier loss is taken: a tenth of the run, at least 1."""
    return max(1, int(steps * WINDOW_FRACTION))


def classify(solved, final_loss, loss_change) -> np.ndarray:
    """Each run's outcome (an array of OUTCOMES' names) from whether it solved, its final loss L
    and L_w - L, how much its loss fell over the last `window(steps)` steps (computed in float64);
    arrays of one shape, or scalars."""
    solved = np.asarray(solved, dtype=bool)
    final = np.asarray(final_loss, dtype=np.float64)
    change = np.asarray(loss_change, dtype=np.float64)
    on_plateau = np.abs(final - LN2) <= PLATEAU_TOLERANCE
    stuck = np.where(on_plateau, np.abs(change) <= STILL_TOLERANCE, change < RELATIVE_TOLERANCE * final)
    return np.where(solved, "solved", np.where(stuck, np.where(on_plateau, "plateau", "local_minimum"), "unfinished"))


def outcome(solved: bool, final_loss: float, loss_change: float) -> Outcome:
    """One run's outcome."""
    return str(classify(solved, final_loss, loss_change))  # type: ignore[return-value]
