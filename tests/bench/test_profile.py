"""bench.profile's reading of py-spy's raw output: which samples fall in which stage."""

from bench.profile import STAGES, shares

HANDLE = "GeventWorker.handle (gunicorn/workers/ggevent.py:120)"
APP = "Flask.__call__ (flask/app.py:1536)"
ORT = "OnnxModel.predict (xorlab/serve/runtime.py:95)"
LOOP = "Hub.run (gevent/hub.py:647)"


def test_a_sample_counts_in_every_stage_its_stack_holds_and_nowhere_else():
    raw = "\n".join(
        [
            f"{HANDLE};{APP};{ORT} 3",
            f"{HANDLE};{APP} 2",
            f"{HANDLE};Parser.__next__ (gunicorn/http/parser.py:40) 1",
            f"{LOOP} 4",
            "",
        ]
    )
    total, found = shares(raw)
    assert total == 10
    assert found["handling a request"] == 0.6
    assert found["the app (WSGI)"] == 0.5
    assert found["onnxruntime"] == 0.3
    assert found["gunicorn reading and parsing it"] == 0.1
    assert found["writing the answer"] == 0.0
    assert set(found) == set(STAGES)


def test_a_frame_of_the_same_name_in_another_file_does_not_count():
    # xorlab's own GeventWorker.handle_request, and a `create` outside gunicorn's wsgi module
    total, found = shares(
        "GeventWorker.handle (xorlab/serve/hosting/gevent_worker.py:80);create (xorlab/serve/app.py:10) 5\n"
    )
    assert total == 5 and found["handling a request"] == 0.0 and found["building the environ"] == 0.0


def test_a_frame_without_a_line_number_and_a_stack_counted_once_per_line():
    total, found = shares(f"{HANDLE};{HANDLE};Response.write (gunicorn/http/wsgi.py) 2\n")
    assert total == 2 and found["handling a request"] == 1.0 and found["writing the answer"] == 1.0
