#!/usr/bin/env bash
# The base images the Dockerfiles start FROM, on a machine that reaches package registries but no
# image registry (CI): an image already present is used as it is; one that can be pulled is pulled;
# otherwise an equivalent is built from Debian bookworm's own packages with mmdebstrap and given the
# official name, so the Dockerfiles and docker-compose.yml build unchanged.
#
#   .ci/base-images.sh [IMAGE...]      default: debian:bookworm-slim python:3.11-slim-bookworm
#   CONTAINER_ENGINE=docker .ci/base-images.sh
#
# The equivalents: Debian minbase with the slim images' trimming (no docs, man pages, locales or
# static Python library, apt caches cleaned after each install), LANG=C.UTF-8; a name containing
# "python" adds Debian's python3 (3.11 in bookworm), venv, its headers and the `python` command.
# Builds reach the registries the way the host does, so three things of the host carry over:
#  - its apt sources (mmdebstrap takes a bookworm host's, updates and security included);
#  - its CA bundle, for pip and apt behind a TLS-inspecting proxy (PIP_CERT and SSL_CERT_FILE
#    point at it; pip would otherwise use its own bundle);
#  - the local wheel folders its pip is configured with (find-links), as PIP_FIND_LINKS; with
#    podman they are mounted read-only into every container and build step (mounts.conf).
# Needs root and mmdebstrap. Idempotent.
set -euo pipefail
engine=${CONTAINER_ENGINE:-podman}
images=("$@")
[ ${#images[@]} -gt 0 ] || images=(debian:bookworm-slim python:3.11-slim-bookworm)

host_ca=/etc/ssl/certs/ca-certificates.crt
find_links=$( { python3 -m pip config get global.find-links || python3 -m pip config get :env:.find-links; } 2>/dev/null || true)
wheel_dirs=()
for dir in $find_links; do
    dir=${dir#file:}; dir=${dir#//}
    [ -d "$dir" ] && wheel_dirs+=("$dir")
done

if [ "$engine" = podman ] && [ ${#wheel_dirs[@]} -gt 0 ]; then
    mkdir -p /etc/containers
    for dir in "${wheel_dirs[@]}"; do
        grep -qsx "$dir:$dir" /etc/containers/mounts.conf || echo "$dir:$dir" >> /etc/containers/mounts.conf
    done
fi

standin() {  # NAME PACKAGES...
    local name=$1; shift
    local work; work=$(mktemp -d)
    local include=ca-certificates,passwd
    [ $# -eq 0 ] || include+=,$(IFS=,; echo "$*")
    # As in the official Debian images: no downloaded packages or package caches left in layers.
    cat > "$work/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
    local hooks=(--customize-hook="upload $work/docker-clean /etc/apt/apt.conf.d/docker-clean")
    [ ! -f "$host_ca" ] || hooks+=(--customize-hook="upload $host_ca /etc/ssl/certs/ca-certificates.crt")
    # shellcheck disable=SC2016  # "$1" is for mmdebstrap to expand: the root being built
    hooks+=(--customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*')
    mmdebstrap --quiet --variant=minbase --include="$include" \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
        --dpkgopt='path-exclude=/usr/lib/python3*/config-*/*.a' \
        "${hooks[@]}" \
        bookworm "$work/rootfs.tar"
    local changes=(--change 'ENV LANG=C.UTF-8'
                   --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt'
                   --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
                   --change "LABEL org.opencontainers.image.description=\"stand-in for $name, built from Debian packages by .ci/base-images.sh\"")
    if [ ${#wheel_dirs[@]} -gt 0 ]; then
        changes+=(--change "ENV PIP_FIND_LINKS=\"${wheel_dirs[*]}\"")
    fi
    if [[ $name == *python* ]]; then changes+=(--change 'CMD ["python3"]'); else changes+=(--change 'CMD ["bash"]'); fi
    "$engine" import "${changes[@]}" "$work/rootfs.tar" "$name" >/dev/null
    rm -rf "$work"
    echo "base-images: built a stand-in for $name ($("$engine" image inspect --format '{{.Size}}' "$name") bytes)"
}

for name in "${images[@]}"; do
    if "$engine" image inspect "$name" >/dev/null 2>&1; then
        echo "base-images: $name present"
    elif timeout 300 "$engine" pull -q "$name" >/dev/null 2>&1; then
        echo "base-images: $name pulled"
    elif [[ $name == *python* ]]; then
        # libpython3-dev: the official image's Python comes with its headers (C extensions
        # published as source only build against them; docker/serve.Dockerfile has one).
        standin "$name" python3 python3-venv python-is-python3 libpython3-dev
    else
        standin "$name"
    fi
done
