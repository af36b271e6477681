"""What the serving tests' clients share, whichever folder they are in."""

from __future__ import annotations

# gRPC channel arguments for a connection of the client's own: by default a process's channels to
# one address share a connection, so every call would reach one worker.
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]
