"""serve/ never imports torch, not even transitively: the serving image has none."""

import subprocess
import sys

from tests import ROOT

PROBE = """
import sys

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("serve/ must not import torch")

sys.meta_path.insert(0, NoTorch())
import pkgutil, importlib, xorlab.serve
for m in pkgutil.walk_packages(xorlab.serve.__path__, 'xorlab.serve.'):
    if not m.name.endswith('__main__'):  # running it would start the server
        importlib.import_module(m.name)
from xorlab.serve.app import create_app

client = create_app({"models": "models"}).test_client()
assert client.post("/v1/models/mlp:predict", json={"instances": [[0, 1]]}).status_code == 200
assert client.get("/v1/report").status_code == 200
assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules)
print("no torch")
"""


def test_serving_runs_with_torch_made_unimportable():
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no torch"
