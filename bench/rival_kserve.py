"""The second rival: the KServe Python model server serving the same ONNX file
through a tiny custom `kserve.Model` (V1 predict, and V2 infer with JSON or binary tensors). Runs in its own venv
(see bench/rivals.py); `--workers N` gives N uvicorn processes sharing one socket."""

import argparse

import kserve
import numpy as np
import onnxruntime as ort
from kserve import InferOutput, InferResponse


class OnnxModel(kserve.Model):
    def __init__(self, name: str, onnx: str):
        super().__init__(name)
        self.onnx = onnx
        self.session = None

    def load(self) -> bool:
        opts = ort.SessionOptions()  # the same session settings as xorlab: a fair fight
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(self.onnx, opts, providers=["CPUExecutionProvider"])
        self.ready = True
        return self.ready

    def __getstate__(self):
        # kserve spawns its worker processes and pickles the models into them; a session does not
        # pickle, so each worker opens its own.
        state = self.__dict__.copy()
        state["session"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.load()

    async def predict(self, payload, headers=None, response_headers=None):
        if isinstance(payload, dict):  # KServe V1: {"instances": [[x1, x2], ...]}
            x = np.asarray(payload["instances"], dtype=np.float32)
            return {"predictions": self.session.run(None, {"x": x})[0].ravel().tolist()}
        x = payload.inputs[0].as_numpy().astype(np.float32, copy=False)
        y = self.session.run(None, {"x": x})[0]
        binary = payload.use_binary_outputs  # Triton's binary tensor extension, as asked
        output = InferOutput(name="y", shape=list(y.shape), datatype="FP32")
        output.set_data_from_numpy(y, binary_data=binary)
        return InferResponse(
            model_name=self.name, infer_outputs=[output], response_id=payload.id, use_binary_outputs=binary
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--onnx", required=True)
    args, _ = parser.parse_known_args()
    model = OnnxModel(args.model_name, args.onnx)
    model.load()
    kserve.ModelServer(
        workers=args.workers, http_port=args.http_port, grpc_port=args.grpc_port, enable_grpc=False
    ).start([model])
