"""Triton's protocol messages (the vendored .proto files beside this module): the Open Inference
Protocol's gRPC service with Triton's extensions, and the model configuration schema that
config.pbtxt is written in. The Python modules are generated when the package is built."""

try:
    from xorlab.serve.proto._generated import grpc_service_pb2 as service_pb2
    from xorlab.serve.proto._generated import model_config_pb2
except ImportError as exc:  # a source tree that was never built or installed
    raise ImportError(
        "xorlab's protocol modules are generated when the package is built: "
        "run `pip install -e .` (or `make`) in the source tree"
    ) from exc

SERVICE = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]

__all__ = ["SERVICE", "model_config_pb2", "service_pb2"]
