"""One function per RPC of inference.GRPCInferenceService: a message in, the data plane asked, a
message out. Errors are the data plane's and codecs' own (errors.py); the server turns them into
status codes. Each function runs on the server's thread pool, never on its event loop.

Unknown models: ModelReady answers ready=false, as Triton does (tritonclient's is_model_ready
returns False, like its HTTP twin on a 404); everything else is NOT_FOUND.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from google.protobuf import json_format

from xorlab.serve import dataplane, unsupported
from xorlab.serve.dataplane import DataPlane
from xorlab.serve.errors import NotFoundError
from xorlab.serve.grpc import messages
from xorlab.serve.proto import service_pb2 as pb


class Call(dataplane.Call):
    """A gRPC call's life in the data plane, and the metadata it came with (its credentials)."""

    __slots__ = ("metadata",)

    def __init__(self, request_id: str, start: float, metadata: Mapping[str, str]):
        super().__init__("grpc", request_id, start)
        self.metadata = metadata


def _version(version: str) -> str | None:
    return version or None  # "" is the latest, the only one


def server_live(plane: DataPlane, request: pb.ServerLiveRequest, call: Call) -> pb.ServerLiveResponse:
    return pb.ServerLiveResponse(live=True)


def server_ready(plane: DataPlane, request: pb.ServerReadyRequest, call: Call) -> pb.ServerReadyResponse:
    return pb.ServerReadyResponse(ready=plane.registry.ready)


def model_ready(plane: DataPlane, request: pb.ModelReadyRequest, call: Call) -> pb.ModelReadyResponse:
    try:
        _, ready = plane.model_status(request.name, _version(request.version))
    except NotFoundError:
        ready = False
    return pb.ModelReadyResponse(ready=ready)


def server_metadata(plane: DataPlane, request: pb.ServerMetadataRequest, call: Call) -> pb.ServerMetadataResponse:
    return json_format.ParseDict(plane.server_metadata(), pb.ServerMetadataResponse())


def model_metadata(plane: DataPlane, request: pb.ModelMetadataRequest, call: Call) -> pb.ModelMetadataResponse:
    model = plane.ready_model(plane.model(request.name, _version(request.version)))
    return json_format.ParseDict(model.metadata(), pb.ModelMetadataResponse())


def model_infer(plane: DataPlane, request: pb.ModelInferRequest, call: Call) -> pb.ModelInferResponse:
    max_rows = plane.settings.max_rows
    model, infer_request, y = plane.infer(
        call,
        request.model_name,
        _version(request.model_version),
        lambda model: messages.decode_infer(request, model, max_rows),
    )
    response = messages.encode_infer(model, infer_request, y)
    final = request.parameters.get("triton_enable_empty_final_response")
    if final is not None and final.bool_param:  # the one response is the last (a stream's client waits for the mark)
        response.parameters["triton_final_response"].bool_param = True
    return response


def model_config(plane: DataPlane, request: pb.ModelConfigRequest, call: Call) -> pb.ModelConfigResponse:
    return pb.ModelConfigResponse(config=plane.model_config(request.name, _version(request.version)))


def model_statistics(plane: DataPlane, request: pb.ModelStatisticsRequest, call: Call) -> pb.ModelStatisticsResponse:
    stats = plane.statistics(request.name or None, _version(request.version))
    return json_format.ParseDict({"model_stats": stats}, pb.ModelStatisticsResponse())


def repository_index(plane: DataPlane, request: pb.RepositoryIndexRequest, call: Call) -> pb.RepositoryIndexResponse:
    return json_format.ParseDict({"models": plane.index(request.ready)}, pb.RepositoryIndexResponse())


def _admin(plane: DataPlane, request, call: Call, allowed: tuple[str, ...] = ()) -> None:
    plane.authorize(call.metadata.get("authorization", ""))
    plane.check_load_parameters(request.parameters, allowed)


def repository_model_load(
    plane: DataPlane, request: pb.RepositoryModelLoadRequest, call: Call
) -> pb.RepositoryModelLoadResponse:
    _admin(plane, request, call)
    plane.load(request.model_name)
    return pb.RepositoryModelLoadResponse()


def repository_model_unload(
    plane: DataPlane, request: pb.RepositoryModelUnloadRequest, call: Call
) -> pb.RepositoryModelUnloadResponse:
    _admin(plane, request, call, allowed=("unload_dependents",))
    plane.unload(request.model_name)
    return pb.RepositoryModelUnloadResponse()


def log_settings(plane: DataPlane, request: pb.LogSettingsRequest, call: Call) -> pb.LogSettingsResponse:
    # Triton's logging extension, behind the admin token like the repository API.
    plane.authorize(call.metadata.get("authorization", ""), "logging")
    changes = {
        name: getattr(value, value.WhichOneof("parameter_choice")) if value.WhichOneof("parameter_choice") else None
        for name, value in request.settings.items()
    }
    response = pb.LogSettingsResponse()
    for name, value in plane.log_settings(changes).items():
        setting = response.settings[name]
        if isinstance(value, bool):
            setting.bool_param = value
        elif isinstance(value, int):
            setting.uint32_param = value
        else:
            setting.string_param = value
    return response


def _not_supported(extension: str) -> Rpc:
    def rpc(plane: DataPlane, request, call: Call):
        raise unsupported.refuse(extension)

    return rpc


Rpc = Callable[[DataPlane, object, Call], object]
# The unary RPCs served, by name; ModelStreamInfer is model_infer per message. Triton's extensions
# this server does not have answer UNIMPLEMENTED in the HTTP front end's words (unsupported.py),
# through this table, so they are counted and logged like every call.
UNARY: dict[str, Rpc] = {
    "ServerLive": server_live,
    "ServerReady": server_ready,
    "ModelReady": model_ready,
    "ServerMetadata": server_metadata,
    "ModelMetadata": model_metadata,
    "ModelInfer": model_infer,
    "ModelConfig": model_config,
    "ModelStatistics": model_statistics,
    "RepositoryIndex": repository_index,
    "RepositoryModelLoad": repository_model_load,
    "RepositoryModelUnload": repository_model_unload,
    "LogSettings": log_settings,
    "TraceSetting": _not_supported("trace"),
    **{
        f"{kind}SharedMemory{verb}": _not_supported(extension)
        for kind, extension in (("System", "system_shared_memory"), ("Cuda", "cuda_shared_memory"))
        for verb in ("Status", "Register", "Unregister")
    },
}
STREAM = {"ModelStreamInfer": model_infer}
