"""The requests the benchmark sends: one per scenario, built once and written to files for wrk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson

MODEL = "mlp"  # the 2-2-1 network: every scenario and every server uses the same ONNX file
BIG_ROWS = 10_000
ONE_ROW = np.array([[0.0, 1.0]], dtype=np.float32)


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str
    path: str
    body: bytes
    header_length: int | None = None  # Triton's binary tensor extension: the JSON header's length
    content_type: str = "application/json"


def big_rows() -> np.ndarray:
    # Random points in the unit square, float32, as a client would send them.
    return np.random.default_rng(0).random((BIG_ROWS, 2), dtype=np.float32)


def v2_json(x: np.ndarray) -> bytes:
    # With an id, as clients send one (and the KServe server needs one to answer).
    return orjson.dumps(
        {
            "id": "1",
            "inputs": [{"name": "x", "datatype": "FP32", "shape": list(x.shape), "data": x.reshape(-1).tolist()}],
        }
    )


def v2_binary(x: np.ndarray) -> tuple[bytes, int]:
    raw = x.astype("<f4").tobytes()
    header = orjson.dumps(
        {
            "inputs": [
                {"name": "x", "datatype": "FP32", "shape": list(x.shape), "parameters": {"binary_data_size": len(raw)}}
            ],
            "parameters": {"binary_data_output": True},
        }
    )
    return header + raw, len(header)


def v1_json(x: np.ndarray) -> bytes:
    return orjson.dumps({"instances": x.tolist()})


def xorlab_scenarios() -> list[Scenario]:
    big = big_rows()
    one_bin, one_len = v2_binary(ONE_ROW)
    big_bin, big_len = v2_binary(big)
    infer = f"/v2/models/{MODEL}/infer"
    return [
        Scenario("noop", "(a) no-op route (baseline)", "/noop", v2_json(ONE_ROW)),
        Scenario("v1_1", "(b) V1 :predict, 1 row", f"/v1/models/{MODEL}:predict", v1_json(ONE_ROW)),
        Scenario("v2_1", "(c) V2 infer, 1 row, JSON", infer, v2_json(ONE_ROW)),
        Scenario("v2bin_1", "(d) V2 infer, 1 row, binary", infer, one_bin, one_len, "application/octet-stream"),
        Scenario("v1_10k", "(e) V1 :predict, 10,000 rows", f"/v1/models/{MODEL}:predict", v1_json(big)),
        Scenario("v2bin_10k", "(f) V2 infer, 10,000 rows, binary", infer, big_bin, big_len, "application/octet-stream"),
    ]


# The one-row requests the rival servers are compared on, each right after xorlab's own.
RIVAL_KEYS = ("v1_1", "v2_1", "v2bin_1")


def write_body(scenario: Scenario, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{scenario.key}.body"
    path.write_bytes(scenario.body)
    return path
