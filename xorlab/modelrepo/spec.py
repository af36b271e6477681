"""The constants of the contract: what a repository holds and what every model computes.

A repository is laid out as NVIDIA Triton expects (`<name>/config.pbtxt`, `<name>/<version>/`),
so Triton or KServe can serve the same folder; `manifest.json` beside the models describes them.
"""

from __future__ import annotations

import re

FORMAT = "xorlab-manifest/2"  # manifest.json's `format`; a reader refuses any other
# /2: the study records each seed's outcome (solved, still improving, stuck at ln 2 or in a local
# minimum) instead of /1's `stuck_near_ln2`, which counted unfinished seeds as stuck.
MANIFEST = "manifest.json"
SCHEMA = "manifest.schema.json"  # a copy of the JSON Schema, so a repository documents itself

MODEL_VERSION = "1"  # Triton's version folder: one version per model
PLATFORM = "onnxruntime_onnx"  # Triton's platform name for the ONNX artifacts
ONNX_FILE, TORCHSCRIPT_FILE, CONFIG_FILE = "model.onnx", "model.pt", "config.pbtxt"

# Every model: x FP32 [batch, 2] -> y FP32 [batch, 1], y = P(class 1). -1 is the batch axis.
INPUT_NAME, OUTPUT_NAME = "x", "y"
DATATYPE = "FP32"
INPUT_SHAPE, OUTPUT_SHAPE = (-1, 2), (-1, 1)

# Rows per inference request: the service's default limit and config.pbtxt's max_batch_size, so
# Triton serving the same folder accepts what xorlab accepts.
MAX_ROWS = 65_536

MODEL_NAME = re.compile(r"^[a-z][a-z0-9-]*$")  # also a URL path segment as it is
VERSION_NAME = re.compile(r"^[0-9]+$")
# The report's pictures: top-level PNG files with a plain name (so also a safe URL segment).
PICTURE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.png$")

# The lesson's truth table, in its order: X = [[0, 0], [0, 1], [1, 0], [1, 1]], Y = XOR.
INPUTS: tuple[tuple[float, float], ...] = ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0))

# The 16 boolean functions of two inputs, for the capacity table. Function k has output bit i =
# (k >> i) & 1 for input row i (rows in INPUTS order), so k = 6 is XOR (0, 1, 1, 0), 9 is XNOR.
FUNCTION_NAMES = (
    "FALSE",
    "NOR",
    "x1 AND NOT x2",
    "NOT x1",
    "NOT x1 AND x2",
    "NOT x2",
    "XOR",
    "NAND",
    "AND",
    "XNOR",
    "x2",
    "x1 OR NOT x2",
    "x1",
    "NOT x1 OR x2",
    "OR",
    "TRUE",
)
XOR_FUNCTION, XNOR_FUNCTION = 6, 9


def function_targets(k: int) -> list[float]:
    """The four outputs of boolean function k (0..15), in INPUTS order."""
    return [float((k >> i) & 1) for i in range(4)]


def linearly_separable(k: int) -> bool:
    """All but XOR and XNOR: the two functions no single line separates."""
    return k not in (XOR_FUNCTION, XNOR_FUNCTION)


XOR: tuple[float, ...] = tuple(function_targets(XOR_FUNCTION))  # (0, 1, 1, 0)

# An output within this of the threshold 0.5 is a tie, on neither side: the perceptron's float32
# outputs for "exactly 0.5" are 0.5 and 0.49999997. (Classified, a tie is class 0: class 1 is P > 0.5.)
TIE_TOLERANCE = 1e-6


def side(p: float, target: float) -> str:
    """'right', 'wrong' or 'tie': where output p falls against the threshold 0.5, for a row whose target is `target`."""
    if abs(p - 0.5) <= TIE_TOLERANCE:
        return "tie"
    return "right" if (p > 0.5) == (target > 0.5) else "wrong"


def triton_config(name: str) -> str:
    """config.pbtxt for Triton's onnxruntime backend. With max_batch_size > 0, dims leave out the
    batch axis: [2] and [1] are [batch, 2] and [batch, 1]."""
    return f'''name: "{name}"
platform: "{PLATFORM}"
max_batch_size: {MAX_ROWS}
input [
  {{
    name: "{INPUT_NAME}"
    data_type: TYPE_{DATATYPE}
    dims: [ {INPUT_SHAPE[1]} ]
  }}
]
output [
  {{
    name: "{OUTPUT_NAME}"
    data_type: TYPE_{DATATYPE}
    dims: [ {OUTPUT_SHAPE[1]} ]
  }}
]
instance_group [
  {{
    count: 1
    kind: KIND_CPU
  }}
]
version_policy: {{ latest: {{ num_versions: 1 }} }}
'''
