#!/bin/sh
# Writes the settings nginx.conf cannot know in advance, then becomes nginx (pid 1, in the foreground).
#  - resolver: nginx resolves a name given in a variable (proxy_pass http://$xorlab_upstream) only
#    through a `resolver`, and has no way to read /etc/resolv.conf itself. The engine's DNS server
#    (Docker's 127.0.0.11, podman's aardvark on the network gateway) is the first nameserver there;
#    later ones are the host's, which do not know the compose services. The C library asks the
#    first and falls back to the others only when it does not answer; nginx would ask them in
#    turn and take a "not found" from the host's for an answer. So: the first one alone.
#  - XORLAB_UPSTREAM: where the service listens, host:port (default serve:8000, the compose service);
#    XORLAB_GRPC_UPSTREAM: its gRPC port (default serve:8001).
set -eu
server=$(awk '$1 == "nameserver" { sub(/%.*/, "", $2); print ($2 ~ /:/) ? "[" $2 "]" : $2; exit }' /etc/resolv.conf)
if [ -z "$server" ]; then
    echo "proxy: /etc/resolv.conf names no nameserver; cannot resolve ${XORLAB_UPSTREAM:-serve:8000}" >&2
    exit 1
fi
upstream=${XORLAB_UPSTREAM:-serve:8000}
grpc_upstream=${XORLAB_GRPC_UPSTREAM:-serve:8001}
for value in "$upstream" "$grpc_upstream"; do
    case $value in
        *[!A-Za-z0-9.:_-]*|"") echo "proxy: XORLAB_UPSTREAM and XORLAB_GRPC_UPSTREAM must be host:port, got '$value'" >&2; exit 1 ;;
    esac
done
cat > /tmp/nginx-runtime.conf <<CONF
resolver $server valid=5s;
resolver_timeout 3s;
map "" \$xorlab_upstream { default $upstream; }
map "" \$xorlab_grpc_upstream { default $grpc_upstream; }
CONF
exec nginx -e stderr -g 'daemon off;' "$@"
