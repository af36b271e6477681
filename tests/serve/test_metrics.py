"""A scrape that meets a worker's metrics file in the instant it exists but is still empty (a new
worker after a kill or a reload) must not fail: seen as a 500 on /metrics under the soak test."""
from xorlab.serve import metrics


def test_render_skips_a_metrics_file_not_yet_sized(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    (tmp_path / "counter_4242.db").write_bytes(b"")      # created, not yet truncated to its mmap size
    assert metrics.render() == b""                        # nothing counted yet, and no struct.error
