"""manifest.json as typed records: the one definition of its shape.

Training builds these records and the writer encodes them; the reader decodes an untrusted file
into them, with the constraints below checked on the way in (msgspec validates while it decodes,
and names the failing field: "Expected `int`, got `str` - at `$.parameters`"). The JSON Schema
published beside every manifest is generated from these classes (`schema()`), so the documentation
cannot drift from the code. Unknown fields are ignored, so an older reader accepts a newer file of
the same format.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from xorlab.modelrepo import outcomes, spec

Share = Annotated[float, Meta(ge=0, le=1)]
Count = Annotated[int, Meta(ge=0)]
Seconds = Annotated[float, Meta(ge=0)]
Sha256 = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]
RelativePath = Annotated[
    str, Meta(min_length=1, description="Relative to the repository folder, '/'-separated, e.g. 'mlp/1/model.onnx'.")
]
ModelName = Annotated[str, Meta(pattern=spec.MODEL_NAME.pattern)]
Interval = Annotated[tuple[Share, Share], Meta(description="95% Wilson score interval: [low, high].")]
Row = tuple[float, float]


class Record(Struct, omit_defaults=True, forbid_unknown_fields=False):
    """Base of every record: fields with defaults are left out of the file when at their default."""


class Artifact(Record):
    """A file of the repository, with what it must hold."""

    path: RelativePath
    sha256: Sha256
    bytes: Count


class Picture(Artifact):
    """A PNG picture of the report, drawn at training time; a top-level file of the repository."""

    path: Annotated[str, Meta(pattern=spec.PICTURE_NAME.pattern)]
    title: str
    alt: str = ""  # what the picture shows, its finding in words (the page's alt text)
    caption: str = ""  # how to read it (shown under it): e.g. which series coincide, and why
    model: str | None = None  # the model a decision surface belongs to


class Tensor(Record):
    name: str
    datatype: Literal["FP32"]
    shape: Annotated[list[int], Meta(description="-1 marks the dynamic batch axis.")]


class Architecture(Record):
    layers: Annotated[
        list[Annotated[int, Meta(ge=1)]], Meta(min_length=2, description="Widths from input to output, e.g. [2, 2, 1].")
    ]
    activation: Literal["sigmoid"]


class Training(Record):
    """How the served model was trained."""

    seed: int
    steps: Annotated[int, Meta(ge=1)]
    lr: Annotated[float, Meta(gt=0)]
    optimizer: Literal["SGD"]
    loss: Literal["BCE"]
    device: Annotated[str, Meta(description="Where it was trained, e.g. 'cpu' or 'cuda:0 (NVIDIA H100 80GB HBM3)'.")]
    seconds: Seconds = 0.0


class LossCurve(Record):
    steps: list[int]
    loss: list[float]


class ExportParity(Record):
    """The largest difference between the eager model and each export, measured before publishing."""

    points: Count
    torchscript_max_abs: float
    onnx_max_abs: float
    tolerance: float


class Artifacts(Record):
    onnx: Artifact
    torchscript: Artifact
    config: Artifact


class ModelEntry(Record):
    """One model: what it is, how it was trained, what it computes on the truth table, its files."""

    name: ModelName
    version: Annotated[
        str, Meta(pattern=spec.VERSION_NAME.pattern, description="Triton's version folder holding the artifacts.")
    ]
    architecture: Architecture
    trainer: Annotated[
        Literal["autograd", "backprop"],
        Meta(description="autograd: torch.optim.SGD on autograd's gradients; backprop: the hand-written chain rule."),
    ]
    parameters: Annotated[int, Meta(ge=1)]
    training: Training
    final_loss: Annotated[float, Meta(ge=0, description="BCE of the final weights on the truth table.")]
    truth_table_outputs: Annotated[
        list[Share], Meta(min_length=4, max_length=4, description="P(y=1) of the eager model per truth-table row.")
    ]
    accuracy: Share
    solved: bool
    outcome: Annotated[
        outcomes.Outcome,
        Meta(
            description="What became of this run at the end of its steps, by the rule `xorlab.modelrepo.outcomes` "
            "defines (the study's `outcome_rule`): solved, unfinished (its loss still falling), "
            "plateau (stuck at ln 2) or local_minimum (stuck elsewhere)."
        ),
    ]
    loss_curve: LossCurve
    inputs: list[Tensor]
    outputs: list[Tensor]
    artifacts: Artifacts
    export_parity: ExportParity
    description: str = ""


class Versions(Record):
    """Library versions that produced the artifacts."""

    xorlab: str
    python: str
    torch: str
    onnx: str
    onnxruntime: Annotated[str, Meta(description="The onnxruntime that verified the ONNX export.")]
    opset: Annotated[int, Meta(ge=17)]


class TruthTable(Record):
    inputs: Annotated[list[Row], Meta(min_length=4, max_length=4)]
    targets: Annotated[list[Share], Meta(min_length=4, max_length=4)]


class StepsToSolve(Record):
    """Over the seeds that solved: the first step from which all four points stay correct."""

    median: float | None
    p90: float | None


class Rate(Record):
    """How many of n runs succeeded."""

    n: Count
    successes: Count
    rate: Share
    ci95: Interval


class FunctionRate(Rate):
    function: Annotated[int, Meta(ge=0, le=15)]


class Tally(Record):
    """How many of the study's seeds on XOR ended one way, and their share of all of them."""

    count: Count
    share: Share


class Outcomes(Record):
    """What became of every seed on XOR at the end of the steps, by the study's `outcome_rule`;
    the four counts add up to `n`, and `solved` is `successes`."""

    solved: Tally
    unfinished: Annotated[Tally, Meta(description="Not solved, and the loss still falling: more steps may solve it.")]
    plateau: Annotated[
        Tally, Meta(description="Stuck at ln 2 (outputs 0.5 everywhere): the loss stopped changing there.")
    ]
    local_minimum: Annotated[
        Tally, Meta(description="Stuck elsewhere: the loss all but stopped falling, short of solving.")
    ]


class ArchitectureStudy(Rate):
    """One architecture over many seeds on XOR, and its capacity table."""

    trainer: Literal["autograd", "backprop"]
    layers: list[int]
    seconds: Seconds
    steps_to_solve: StepsToSolve
    final_loss_quantiles: dict[str, float]
    outcomes: Outcomes
    capacity: Annotated[
        list[FunctionRate],
        Meta(min_length=16, max_length=16, description="One rate per boolean function, in function order."),
    ]


class Functions(Record):
    seeds_per_function: Count
    xor_seeds: Count
    names: Annotated[list[str], Meta(min_length=16, max_length=16)]
    truth_tables: Annotated[
        list[list[float]],
        Meta(
            min_length=16,
            max_length=16,
            description="Function k outputs bit i of k for input row i: k=6 is XOR, k=9 XNOR.",
        ),
    ]
    linearly_separable: Annotated[list[bool], Meta(min_length=16, max_length=16)]

    @classmethod
    def of(cls, seeds_per_function: int, xor_seeds: int) -> Functions:
        """The sixteen functions as spec.py defines them, with the study's seed counts."""
        return cls(
            seeds_per_function=seeds_per_function,
            xor_seeds=xor_seeds,
            names=list(spec.FUNCTION_NAMES),
            truth_tables=[spec.function_targets(k) for k in range(16)],
            linearly_separable=[spec.linearly_separable(k) for k in range(16)],
        )


class OutcomeRule(Record):
    """How a seed's outcome is read from its final loss L and its loss `window` steps earlier, L_w."""

    window: Annotated[int, Meta(ge=1, description="Steps between L_w and L: a tenth of the steps.")]
    plateau_tolerance: Annotated[float, Meta(ge=0, description="|L - ln 2| within this: on the plateau at ln 2.")]
    still_tolerance: Annotated[
        float, Meta(ge=0, description="On the plateau: stuck when |L_w - L| is no more than this.")
    ]
    relative_tolerance: Annotated[
        float, Meta(ge=0, description="Off the plateau: stuck in a local minimum when L_w - L < this * L.")
    ]

    @classmethod
    def for_steps(cls, steps: int) -> OutcomeRule:
        """The rule outcomes.py applies to a run of `steps` steps."""
        return cls(
            window=outcomes.window(steps),
            plateau_tolerance=outcomes.PLATEAU_TOLERANCE,
            still_tolerance=outcomes.STILL_TOLERANCE,
            relative_tolerance=outcomes.RELATIVE_TOLERANCE,
        )


class Study(Record):
    """The many-seed study: every architecture trained from seeds 0..seeds-1 on XOR, and from
    `functions.seeds_per_function` seeds on each other boolean function, with the lesson's settings."""

    task: Literal["XOR"]
    seeds: Annotated[int, Meta(ge=1)]
    seed_range: tuple[int, int]
    steps: Annotated[int, Meta(ge=1)]
    lr: float
    optimizer: Literal["SGD"]
    loss: Literal["BCE"]
    device: str
    seconds: Seconds
    outcome_rule: OutcomeRule
    functions: Functions
    architectures: dict[str, ArchitectureStudy]
    initialisation: str = ""


class Manifest(Record):
    """manifest.json: the contract between training, which writes it, and serving, which checks
    everything in it before trusting it. Paths are relative to the repository folder."""

    format: Annotated[Literal[spec.FORMAT], Meta(description="Format and version of this file.")]  # type: ignore[valid-type]
    created: Annotated[str, Meta(description="When the repository was written (UTC, ISO 8601).")]
    versions: Versions
    truth_table: TruthTable
    models: dict[str, ModelEntry]
    study: Study | None = None  # absent when the study was skipped (--study-seeds 0)
    pictures: list[Picture] = []


def schema() -> dict:
    """The JSON Schema of manifest.json, generated from the records above."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"xorlab/{spec.SCHEMA}",
        "title": "xorlab model repository manifest",
        **msgspec.json.schema(Manifest),
    }
