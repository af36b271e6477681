"""xorlab's model server: onnxruntime behind Flask + gunicorn, speaking KServe V1 and the Open
Inference Protocol (V2). Never imports torch: the ONNX files in the model repository are all it
needs."""
