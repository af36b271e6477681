#!/bin/sh
# Writes the settings nginx.conf cannot know in advance, then becomes nginx (pid 1, in the foreground).
#  - resolver: nginx resolves a name given in a variable (grpc_pass grpc://$xorlab_grpc_upstream)
#    only through a `resolver`, and has no way to read /etc/resolv.conf itself. The engine's DNS
#    server (Docker's 127.0.0.11, podman's aardvark on the network gateway) is the first nameserver
#    there; later ones are the host's, which do not know the compose services. The C library asks
#    the first and falls back to the others only when it does not answer; nginx would ask them in
#    turn and take a "not found" from the host's for an answer. So: the first one alone.
#  - the HTTP upstream's addresses (nginx.conf's `upstream xorlab_http`, whose connections are kept
#    alive): those XORLAB_UPSTREAM's name has now, from the C library, as every other program here
#    resolves names. nginx reads them only when it loads its configuration, so a watch renews
#    them every XORLAB_UPSTREAM_WATCH_SECONDS (default 2) and reloads nginx when they change (a
#    graceful reload: requests under way are answered by the old workers). While the name does not
#    resolve (serve not started yet), the upstream is down and the proxy answers 503.
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
watch_seconds=${XORLAB_UPSTREAM_WATCH_SECONDS:-2}
for value in "$upstream" "$grpc_upstream"; do
    case $value in
        *[!A-Za-z0-9.:_-]*|"") echo "proxy: XORLAB_UPSTREAM and XORLAB_GRPC_UPSTREAM must be host:port, got '$value'" >&2; exit 1 ;;
    esac
done
case $watch_seconds in
    *[!0-9]*|""|0) echo "proxy: XORLAB_UPSTREAM_WATCH_SECONDS must be a whole number of seconds above 0, got '$watch_seconds'" >&2; exit 1 ;;
esac
cat > /tmp/nginx-runtime.conf <<CONF
resolver $server valid=5s;
resolver_timeout 3s;
map "" \$xorlab_grpc_upstream { default $grpc_upstream; }
CONF

host=${upstream%:*}
port=${upstream##*:}
servers() {  # nginx's `server` lines for the upstream's addresses now, sorted (the same set, the same text)
    addresses=$(getent ahosts "$host" | awk '$2 == "STREAM" { print $1 }' | sort -u) || true
    if [ -z "$addresses" ]; then
        echo "server 127.0.0.1:$port down;  # $host does not resolve (yet)"
        return
    fi
    for address in $addresses; do
        case $address in
            *:*) echo "server [$address]:$port;" ;;
            *) echo "server $address:$port;" ;;
        esac
    done
}
servers > /tmp/nginx-upstream.conf

watch() {
    loaded=$(cat /tmp/nginx-upstream.conf)
    while sleep "$watch_seconds"; do
        now=$(servers)
        [ "$now" = "$loaded" ] && continue
        printf '%s\n' "$now" > /tmp/nginx-upstream.conf
        # Kept as loaded only once nginx has taken it (a reload before nginx is up is tried again).
        if nginx -e stderr -s reload 2>/dev/null; then
            echo "proxy: $host is now at: $(echo "$now" | awk '{ printf "%s%s", sep, $2; sep = " " }' | tr -d ';')" >&2
            loaded=$now
        fi
    done
}
watch &

exec nginx -e stderr -g 'daemon off;' "$@"
