"""The gRPC front end: the Open Inference Protocol's `inference.GRPCInferenceService` with Triton's
extensions (the vendored grpc_service.proto), translating messages to the data plane and back as
the HTTP blueprints do for JSON.

    codec     ModelInferRequest/Response <-> the checked request the HTTP codecs make
    servicer  one function per RPC, on the data plane
    server    a grpc.aio server per gunicorn worker: bookkeeping (request id, metrics, log line),
              errors to status codes, inference on a small thread pool
    lifecycle the gunicorn hooks: start after the fork, stop with the worker, hand the port over
              across a reload, refuse a port in use

Nothing here is imported by the gunicorn master but `lifecycle`, which loads grpc only in workers.
"""
