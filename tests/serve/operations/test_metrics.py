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


FORKED = r'''
import os, sys
from xorlab.serve import metrics
metrics.observe_http("GET", "/parent", 200)
child = os.fork()
if child == 0:  # the child's samples go to its own file, under its own pid, and add to the parent's
    metrics.observe_http("GET", "/child", 200)
    os._exit(0)
os.waitpid(child, 0)
metrics.observe_http("GET", "/parent", 200)
files = sorted(f for f in os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]) if f.startswith("counter_"))
print(files == sorted([f"counter_{os.getpid()}.db", f"counter_{child}.db"]))
sys.stdout.write(metrics.render().decode())
'''


def test_multiprocess_samples_go_to_each_process_own_file_across_a_fork(tmp_path):
    # The process id is kept, not asked for per sample (logs.pid): a forked child must still
    # write its own file, and the sums must hold.
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", FORKED], env={**__import__("os").environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    first, text = done.stdout.split("\n", 1)
    assert first == "True"
    assert 'xorlab_http_requests_total{method="GET",route="/parent",status="200"} 2.0' in text
    assert 'xorlab_http_requests_total{method="GET",route="/child",status="200"} 1.0' in text
