#!/bin/sh
# Writes the settings nginx.conf cannot know in advance, then becomes nginx (pid 1, in the foreground).
#  - resolver: nginx resolves a name given in a variable (proxy_pass http://$xorlab_upstream) only
#    through a `resolver`, and has no way to read /etc/resolv.conf itself. The engine's DNS server
#    (Docker's 127.0.0.11, podman's aardvark on the network gateway) is the first nameserver there;
#    later ones are the host's, which do not know the compose services. The C library asks the
#    first and falls back to the others only when it does not answer; nginx would ask them in
#    turn and take a "not found" from the host's for an answer. So: the first one alone.
#  - XORLAB_UPSTREAM: where the service listens, host:port (default serve:8000, the compose service).
set -eu
server=$(awk '$1 == "nameserver" { sub(/%.*/, "", $2); print ($2 ~ /:/) ? "[" $2 "]" : $2; exit }' /etc/resolv.conf)
if [ -z "$server" ]; then
    echo "proxy: /etc/resolv.conf names no nameserver; cannot resolve ${XORLAB_UPSTREAM:-serve:8000}" >&2
    exit 1
fi
upstream=${XORLAB_UPSTREAM:-serve:8000}
case $upstream in
    *[!A-Za-z0-9.:_-]*|"") echo "proxy: XORLAB_UPSTREAM must be host:port, got '$upstream'" >&2; exit 1 ;;
esac
cat > /tmp/nginx-runtime.conf <<CONF
resolver $server valid=5s;
resolver_timeout 3s;
map "" \$xorlab_upstream { default $upstream; }
CONF
exec nginx -e stderr -g 'daemon off;' "$@"
