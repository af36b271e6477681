"""A served model: one onnxruntime session, checked against the manifest before it serves.

After MLServer's `MLModel`: `load()`, `predict()`, `ready`. Sessions are created in the gunicorn
worker that uses them (they do not survive a fork) with one thread and no spinning: the models are
tiny and the workers share the cores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort

from xorlab.serve.errors import RepositoryError

if TYPE_CHECKING:
    from xorlab.serve.repository import TruthTable

PLATFORM = "onnxruntime_onnx"  # as in Triton's config.pbtxt
# The served outputs must reproduce the manifest's (from the eager model) this closely; further
# apart means the artifact is not the model the manifest describes.
PARITY_TOLERANCE = 1e-4
# What this server serves: x FP32 [batch, 2] -> y FP32 [batch, 1].
INPUT_SHAPE = [-1, 2]
OUTPUT_SHAPE = [-1, 1]


def session_options() -> ort.SessionOptions:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Spinning threads burn a core waiting for work; with several workers per core they would
    # steal it from each other.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3  # errors only: a refused model is reported through its reason
    return opts


class OnnxModel:
    def __init__(self, name: str, entry: object):
        self.name = name
        self.entry = entry if isinstance(entry, dict) else {}
        version = self.entry.get("version")
        self.version = version if isinstance(version, str) else ""
        self.ready = False
        self.reason = "not loaded"
        self.input_name = self.output_name = ""
        self.truth_table_outputs: list[float] | None = None  # computed by the served session
        self.accuracy: float | None = None
        self.solved: bool | None = None
        self._session: ort.InferenceSession | None = None
        self._run = None

    def fail(self, reason: str) -> None:
        self.ready, self.reason, self._session, self._run = False, reason, None, None

    def load(self, onnx_bytes: bytes, truth_table: TruthTable) -> None:
        inputs, outputs = self.entry["inputs"], self.entry["outputs"]
        if len(inputs) != 1 or len(outputs) != 1:
            raise RepositoryError("the manifest must declare exactly one input and one output")
        self.input_name = _check_declared(inputs[0], INPUT_SHAPE, "input")
        self.output_name = _check_declared(outputs[0], OUTPUT_SHAPE, "output")
        try:
            session = ort.InferenceSession(onnx_bytes, session_options(), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types, all meaning "unusable file"
            detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise RepositoryError(f"onnxruntime cannot load the ONNX file: {detail}") from None
        _check_io(session.get_inputs(), self.input_name, 2, "input")
        _check_io(session.get_outputs(), self.output_name, 1, "output")
        self._session = session
        # The public `run` re-checks the input names and settings on every call: static things,
        # checked once above. The binding underneath does the same run without them (half the
        # time of a one-row call); an onnxruntime without it gets the public method.
        self._run = getattr(session, "_sess", session).run
        self._outputs = [self.output_name]

        try:
            y = self.predict(truth_table.inputs)
        except Exception as exc:
            raise RepositoryError(f"the ONNX model fails on the truth table: {str(exc)[:200]}") from None
        if y.shape != (4, 1) or not np.isfinite(y).all():
            raise RepositoryError(f"the ONNX model returns shape {list(y.shape)} or non-finite values on the truth table")
        outputs_tt = y[:, 0]
        try:
            expected = np.asarray(self.entry["truth_table_outputs"], dtype=np.float64).reshape(4)
        except (TypeError, ValueError):
            raise RepositoryError("manifest field 'truth_table_outputs' must be 4 numbers") from None
        gap = float(np.max(np.abs(outputs_tt - expected)))
        if not gap <= PARITY_TOLERANCE:  # (also catches NaN)
            raise RepositoryError(
                f"the ONNX model's truth-table outputs differ from the manifest's by {gap:.3g} "
                f"(tolerance {PARITY_TOLERANCE})"
            )
        correct = (outputs_tt > 0.5) == (truth_table.targets > 0.5)
        self.truth_table_outputs = [float(v) for v in outputs_tt]
        self.accuracy = float(correct.mean())
        self.solved = bool(correct.all())
        self.ready, self.reason = True, ""

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x: (batch, 2) float32 -> (batch, 1) float32."""
        return self._run(self._outputs, {self.input_name: x}, None)[0]

    def metadata(self) -> dict:
        # V2 model metadata: shapes as declared (-1: the batch axis).
        return {
            "name": self.name,
            "versions": [self.version],
            "platform": PLATFORM,
            "inputs": [{"name": self.input_name, "datatype": "FP32", "shape": INPUT_SHAPE}],
            "outputs": [{"name": self.output_name, "datatype": "FP32", "shape": OUTPUT_SHAPE}],
        }


def _check_declared(tensor: object, shape: list[int], role: str) -> str:
    if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str) or not tensor["name"]:
        raise RepositoryError(f"the manifest's {role} needs a name")
    if tensor.get("datatype") != "FP32" or tensor.get("shape") != shape:
        raise RepositoryError(f"the manifest's {role} must be FP32 with shape {shape}")
    return tensor["name"]


def _check_io(args: list, name: str, width: int, role: str) -> None:
    found = [(a.name, a.type, list(a.shape)) for a in args]
    ok = (
        len(args) == 1
        and args[0].name == name
        and args[0].type == "tensor(float)"
        and len(args[0].shape) == 2
        and not isinstance(args[0].shape[0], int)  # a dynamic batch axis: a symbol or None
        and args[0].shape[1] == width
    )
    if not ok:
        raise RepositoryError(
            f"the ONNX file's {role}s {found} differ from the manifest's "
            f"('{name}', FP32, [batch, {width}])"
        )
