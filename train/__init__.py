"""xorlab's training stage: fit the lab's architectures on XOR, export TorchScript + ONNX, publish."""

__version__ = "0.1.0"
