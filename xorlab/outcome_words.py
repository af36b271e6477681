"""How every report says what became of a training run: the words for each outcome and the
sentence forms built on them, used alike by the verdict, the report page, the pictures and the
training summary, so a label reads the same wherever it appears.

The labels themselves, and the rule that assigns them, are the contract's
(`xorlab.modelrepo.outcomes`); this module only words them. Torch-free: serving imports it.
"""

from __future__ import annotations

# One phrase per outcome, everywhere: "12.1% stuck in a local minimum", a column's heading, a badge.
OUTCOME_WORDS = {
    "solved": "solved",
    "unfinished": "still improving",
    "plateau": "stuck at ln 2",
    "local_minimum": "stuck in a local minimum",
}
STUCK = ("plateau", "local_minimum")
NOT_SOLVED = ("unfinished", *STUCK)  # the order the report's tables list them in

# What an unfinished run calls for, and why it is not stuck: said of one run and of several.
MORE_STEPS = "train with more steps"
STILL_FALLING = ("its loss still falling", "their loss still falling")


def at_the_end(kind: str) -> str:
    """The outcome as said of runs looked back on: 'still improving when the run ended'."""
    return f"{OUTCOME_WORDS[kind]} when the run ended" if kind == "unfinished" else OUTCOME_WORDS[kind]


def loss_ending(kind: str, final_loss: float) -> tuple[str, str]:
    """How a loss curve ends, for the loss-curve picture's finding: (singular, plural)."""
    if kind == "plateau":
        return "stays at ln 2 (0.693)", "stay at ln 2 (0.693)"
    if kind == "local_minimum":
        return f"settles at {final_loss:.3g} without solving", f"settle at {final_loss:.3g} without solving"
    if kind == "unfinished":
        return (
            f"is still falling at {final_loss:.3g} when the run ends",
            f"are still falling at {final_loss:.3g} when the run ends",
        )
    return f"falls to {final_loss:.2g}", f"fall to {final_loss:.2g}"


# The study picture's caption: how to tell the outcomes apart.
OUTCOMES_CAPTION = (
    f"{OUTCOME_WORDS['unfinished'].capitalize()}: the loss was still falling over the last tenth of the steps, so "
    "more steps may solve it. Stuck: the loss had stopped moving, at ln 2 (0.5 everywhere) or in a local minimum."
)
