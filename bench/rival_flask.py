"""The first rival: a minimal Flask app serving the same ONNX model over KServe V1
predict and V2 infer (JSON, and Triton's binary tensors), as one would write it in an afternoon:
no validation beyond what numpy does, no metrics, no logs. Run under gunicorn with the same worker
settings as xorlab (bench/rivals.py)."""

import os

import numpy as np
import onnxruntime as ort
from flask import Flask, Response, jsonify, request

from xorlab.serve.runtime import session_options  # the same session settings as xorlab: a fair fight

app = Flask(__name__)
session = ort.InferenceSession(os.environ["BENCH_ONNX"], session_options(), providers=["CPUExecutionProvider"])


@app.get("/v2/health/ready")
def ready():
    return jsonify(ready=True)


@app.post("/v1/models/<name>:predict")
def predict(name):
    x = np.asarray(request.get_json(force=True)["instances"], dtype=np.float32)
    return jsonify(predictions=session.run(None, {"x": x})[0].ravel().tolist())


@app.post("/v2/models/<name>/infer")
def infer(name):
    header_length = request.headers.get("Inference-Header-Content-Length")
    if header_length is None:
        tensor = request.get_json(force=True)["inputs"][0]
        x = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
        y = session.run(None, {tensor["name"]: x})[0]
        return jsonify(
            model_name=name,
            outputs=[{"name": "y", "datatype": "FP32", "shape": list(y.shape), "data": y.ravel().tolist()}],
        )
    body = request.get_data()
    tensor = request.json_module.loads(body[: int(header_length)])["inputs"][0]
    x = np.frombuffer(body[int(header_length) :], dtype=np.float32).reshape(tensor["shape"])
    y = session.run(None, {tensor["name"]: x})[0]
    header = request.json_module.dumps(
        {
            "model_name": name,
            "outputs": [
                {"name": "y", "datatype": "FP32", "shape": list(y.shape), "parameters": {"binary_data_size": y.nbytes}}
            ],
        }
    ).encode()
    return Response(
        header + y.tobytes(),
        mimetype="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
