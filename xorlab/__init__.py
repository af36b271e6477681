"""xorlab: the perceptron-vs-XOR lesson as software. Three packages, one contract:

- `xorlab.train`: fit the lab's networks in PyTorch, export TorchScript and ONNX, publish a model
  repository;
- `xorlab.modelrepo`: the model repository's format (torch-free), the one contract between train and serve;
- `xorlab.serve`: serve a repository with onnxruntime behind Flask and gunicorn (never imports torch).

Beside them, what both write for people, so each report reads the same (torch-free):
`outcome_words` (what became of a run, in words) and `percentages` (rates as percentages).
"""

__version__ = "0.2.0"
