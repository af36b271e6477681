"""Metrics never fail a scrape or a request: a worker's file caught in the instant it exists but is
still empty (a new worker after a kill or a reload) is skipped, and a sample that cannot be
recorded is counted and the request answered."""
from xorlab.serve import metrics


def test_render_skips_a_metrics_file_not_yet_sized(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    (tmp_path / "counter_4242.db").write_bytes(b"")  # created, not yet truncated to its mmap size
    assert metrics.render().endswith(b"xorlab_metrics_record_failures_total 0\n")  # and no struct.error


def test_a_sample_that_cannot_be_recorded_is_counted_not_raised(monkeypatch, caplog):
    def broken(*args):
        raise FileNotFoundError("the metrics folder is gone")

    monkeypatch.setattr(metrics, "_failures", 0)
    for _ in range(3):
        metrics.safely(broken, "GET", "/", 200)
    assert metrics.render().endswith(b"xorlab_metrics_record_failures_total 3\n")
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1  # said once
