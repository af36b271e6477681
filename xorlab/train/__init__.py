"""xorlab's training stage: fit the lab's architectures on XOR, export TorchScript + ONNX, publish."""
