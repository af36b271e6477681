"""Triton's protocol extensions this server does not have, answered as such on both protocols.

Tools probe them (perf_analyzer registers shared memory with `--shared-memory=system`; operations
tooling reads trace settings); a 404 "no route" or grpc's "Method not found!" cannot be told from a
wrong address. So each of Triton's routes and RPCs for them exists and answers 501 (gRPC:
UNIMPLEMENTED) with these words, the same over HTTP and gRPC. The server metadata's extension list
(`/v2`, gRPC ServerMetadata) names what is served; these are left out of it, as Triton leaves out
what it was built without, so a client that reads the list first knows before it asks.
"""

from __future__ import annotations

from xorlab.serve.errors import NotOffered

# Triton's name for each extension (as its server metadata lists it) -> why it is not here.
NOT_SUPPORTED = {
    "trace": "tracing is not recorded here; the access log has one line per request (time, duration, request id)",
    "system_shared_memory": "send tensors in the request (JSON or binary tensor data)",
    "cuda_shared_memory": "this server runs on CPUs; send tensors in the request (JSON or binary tensor data)",
}


def refuse(extension: str) -> NotOffered:
    """The error for a call to Triton's `extension`, which this server does not support."""
    return NotOffered(f"Triton's {extension} extension is not supported by this server: {NOT_SUPPORTED[extension]}")
