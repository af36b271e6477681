"""In-process floors: what onnxruntime and the JSON library cost alone, without HTTP.

Each figure is the median over repeats of the mean time per call, in microseconds.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import orjson

from bench.payloads import MODEL, ONE_ROW, big_rows, v1_json
from tools.live_server import ROOT
from xorlab.serve import infer_codec
from xorlab.serve.runtime import session_options


def per_call_us(fn: Callable[[], object], budget_s: float = 0.5, repeats: int = 7) -> float:
    fn()
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < budget_s / repeats or calls < 3:  # calibrate one repeat
        fn()
        calls += 1
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - t0) / calls * 1e6)
    return statistics.median(samples)


FLOORS = ("json_floor_10k_us", "binary_floor_10k_us")  # also measured in every round (bench/__main__.py)


def measure(models: Path, floors_only: bool = False) -> dict:
    session = ort.InferenceSession(
        str(models / MODEL / "1" / "model.onnx"), session_options(), providers=["CPUExecutionProvider"]
    )
    big = big_rows()
    body = v1_json(big)
    y_big = session.run(["y"], {"x": big})[0]
    raw = big.astype("<f4").tobytes()

    def json_floor() -> bytes:
        # The least any JSON server must do: parse, make the float32 array, write the answer.
        np.array(orjson.loads(body)["instances"], dtype=np.float32)
        return orjson.dumps({"predictions": y_big.reshape(-1)}, option=orjson.OPT_SERIALIZE_NUMPY)

    def binary_floor() -> bytes:
        x = np.frombuffer(raw, dtype="<f4").reshape(-1, 2).copy()
        return binding.run(["y"], {"x": x}, None)[0].tobytes()

    def codec_v1() -> bytes:  # xorlab's own decode + encode, validation included
        infer_codec.decode_v1(body, 65536)
        return infer_codec.encode_v1(y_big)

    binding = session._sess  # what xorlab calls (serve/runtime.py): the run without per-call re-checks
    if floors_only:
        return {"json_floor_10k_us": per_call_us(json_floor), "binary_floor_10k_us": per_call_us(binary_floor)}
    return {
        "ort_1_public_us": per_call_us(lambda: session.run(["y"], {"x": ONE_ROW})),
        "ort_1_us": per_call_us(lambda: binding.run(["y"], {"x": ONE_ROW}, None)),
        "ort_10k_us": per_call_us(lambda: binding.run(["y"], {"x": big}, None)),
        "json_floor_10k_us": per_call_us(json_floor),
        "xorlab_codec_v1_10k_us": per_call_us(codec_v1),
        "binary_floor_10k_us": per_call_us(binary_floor),
        "v1_10k_body_bytes": len(body),
        "app_cpu_us": app_cpu(models),
    }


def app_cpu(models: Path) -> dict:
    """CPU µs per request in the Flask app alone, per scenario (bench/app_cpu.py, own process)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.app_cpu", str(models)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.app_cpu failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
