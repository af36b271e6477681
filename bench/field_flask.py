"""The field's first comparison: a minimal Flask app serving the same ONNX model over V2 infer
(JSON), as one would write it in an afternoon: no validation beyond what numpy does, no metrics,
no logs. Run under gunicorn with the same worker settings as xorlab (bench/__main__.py)."""

import os

import numpy as np
import onnxruntime as ort
from flask import Flask, jsonify, request

from xorlab.serve.runtime import session_options  # the same session settings as xorlab: a fair fight

app = Flask(__name__)
session = ort.InferenceSession(os.environ["BENCH_ONNX"], session_options(), providers=["CPUExecutionProvider"])


@app.get("/v2/health/ready")
def ready():
    return jsonify(ready=True)


@app.post("/v2/models/<name>/infer")
def infer(name):
    tensor = request.get_json(force=True)["inputs"][0]
    x = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
    y = session.run(None, {tensor["name"]: x})[0]
    return jsonify(model_name=name, outputs=[{"name": "y", "datatype": "FP32", "shape": list(y.shape), "data": y.ravel().tolist()}])
