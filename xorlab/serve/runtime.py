"""A served model: one onnxruntime session, checked against the manifest before it serves.

After MLServer's `MLModel`: `load()`, `predict()`, `ready`. Sessions are created in the gunicorn
worker that uses them (they do not survive a fork) with one thread and no spinning: the models are
tiny and the workers share the cores.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from xorlab.modelrepo import records, spec
from xorlab.modelrepo.reader import RepositoryError
from xorlab.serve import onnxfile
from xorlab.serve.hosting import internals

# The served outputs must reproduce the manifest's (from the eager model) this closely; further
# apart means the artifact is not the model the manifest describes.
PARITY_TOLERANCE = 1e-4
TRUTH_TABLE = np.array(spec.INPUTS, dtype=np.float32)  # (4, 2)
TARGETS = np.array(spec.XOR, dtype=np.float32)  # (4,)


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
    """A model the manifest names: ready to predict, or refused with its reason."""

    input_name, output_name = spec.INPUT_NAME, spec.OUTPUT_NAME

    def __init__(self, name: str, entry: records.ModelEntry | None):
        self.name = name
        self.entry = entry  # None when the manifest's entry itself was refused
        self.version = entry.version if entry is not None else ""
        self.ready = False
        self.reason = "not loaded"
        self.note = ""  # why a ready model is an earlier version than the repository's (a reload failed)
        self.truth_table_outputs: list[float] | None = None  # computed by the served session
        self.accuracy: float | None = None
        self.solved: bool | None = None
        self.config = None  # its config.pbtxt as Triton's ModelConfig message (modelconfig.parse), once loaded
        self._run = None

    def fail(self, reason: str) -> None:
        self.ready, self.reason, self._run = False, reason, None

    def load(self, onnx_bytes: bytes) -> None:
        """Open the ONNX file, check its signature against the contract's, and run the truth table
        through it; raises RepositoryError with the reason when any of that fails."""
        assert self.entry is not None
        onnxfile.check_self_contained(onnx_bytes)  # before onnxruntime opens anything it names
        try:
            session = ort.InferenceSession(onnx_bytes, session_options(), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types, all meaning "unusable file"
            detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise RepositoryError(f"onnxruntime cannot load the ONNX file: {detail}") from None
        _check_io(session.get_inputs(), self.input_name, spec.INPUT_SHAPE[1], "input")
        _check_io(session.get_outputs(), self.output_name, spec.OUTPUT_SHAPE[1], "output")
        # Without the public `run`'s per-call checks of what was checked once above.
        self._run = internals.session_run(session)
        self._outputs = [self.output_name]

        try:
            y = self.predict(TRUTH_TABLE)
        except Exception as exc:  # noqa: BLE001 - whatever onnxruntime raises, the model is refused with it
            raise RepositoryError(f"the ONNX model fails on the truth table: {str(exc)[:200]}") from None
        if y.shape != (4, 1) or not np.isfinite(y).all():
            raise RepositoryError(
                f"the ONNX model returns shape {list(y.shape)} or non-finite values on the truth table"
            )
        outputs = y[:, 0]
        gap = float(np.max(np.abs(outputs - np.asarray(self.entry.truth_table_outputs))))
        if not gap <= PARITY_TOLERANCE:  # (also catches NaN)
            raise RepositoryError(
                f"the ONNX model's truth-table outputs differ from the manifest's by {gap:.3g} "
                f"(tolerance {PARITY_TOLERANCE})"
            )
        correct = (outputs > 0.5) == (TARGETS > 0.5)
        self.truth_table_outputs = [float(v) for v in outputs]
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
            "platform": spec.PLATFORM,
            "inputs": [{"name": self.input_name, "datatype": spec.DATATYPE, "shape": list(spec.INPUT_SHAPE)}],
            "outputs": [{"name": self.output_name, "datatype": spec.DATATYPE, "shape": list(spec.OUTPUT_SHAPE)}],
        }


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
            f"the ONNX file's {role}s {found} differ from the contract's ('{name}', FP32, [batch, {width}])"
        )
