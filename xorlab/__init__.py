"""xorlab: the perceptron-vs-XOR lesson as software. Three packages, one contract:

- `xorlab.train`: fit the lab's networks in PyTorch, export TorchScript and ONNX, publish a model
  repository;
- `xorlab.modelrepo`: the model repository's format (torch-free), the only thing train and serve share;
- `xorlab.serve`: serve a repository with onnxruntime behind Flask and gunicorn (never imports torch).
"""

__version__ = "0.2.0"
