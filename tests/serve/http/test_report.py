"""The report with the many-seed study, its pictures and its HTML page, through the Flask test client,
from fixture repositories with and without a study. (The browser test drives the real thing.)"""

from __future__ import annotations

import hashlib
import html
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests import ROOT
from tests.fixtures import (
    add_report,
    build_repository,
    onnx_bytes,
    png_bytes,
    replace_artifact,
    study_for,
    write_manifest,
    write_raw_manifest,
)
from xorlab.modelrepo.reader import RepositoryError, parse_study
from xorlab.serve.app import create_app
from xorlab.serve.http.page import render_page
from xorlab.serve.registry import load_registry
from xorlab.serve.report_data import study_view
from xorlab.serve.verdict import Served, served, verdict


def study_report(study: object) -> dict | None:
    """What the report shows of a manifest's `study`: its view, or None when the reader refuses it."""
    try:
        return study_view(parse_study(study))
    except RepositoryError:
        return None


# What a browser sends: GET / is the page for it (for clients that do not prefer HTML, KServe V1's
# liveness answer: test_api.py).
BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
SUCCESSES = {"perceptron": 0, "mlp": 176, "mlp-backprop": 170, "deep": 190}  # of 200 seeds


def serve(root: Path):
    return create_app({"models": str(root), "log_level": "WARNING"}).test_client()


@pytest.fixture(scope="module")
def study_repo(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("study") / "models"
    return root, add_report(root, build_repository(root), SUCCESSES)


@pytest.fixture(scope="module")
def study_client(study_repo):
    return serve(study_repo[0])


@pytest.fixture(scope="module")
def plain_client(tmp_path_factory):
    root = tmp_path_factory.mktemp("plain") / "models"
    build_repository(root)
    return serve(root)


@pytest.fixture(scope="module")
def evidence(study_repo) -> list[Served]:
    """The served models of the study repository, as the verdict takes them."""
    return [served(m.name, m.ready, m.solved, m.entry) for m in load_registry(study_repo[0]).models.values()]


@pytest.fixture
def repo_with_report(repo) -> tuple[Path, dict]:
    """`repo` with a study and pictures, as training publishes them: the test's own, to change."""
    root, manifest = repo
    return root, add_report(root, manifest, SUCCESSES)


def pct(share: float) -> str:
    text = f"{100 * share:.1f}"
    return {"0.0": "0", "100.0": "100"}.get(text, text)


# ---- /v1/report with the study -------------------------------------------------------------------


def test_the_report_carries_the_study_per_architecture(study_client, study_repo):
    study = study_repo[1]["study"]
    report = study_client.get("/v1/report").json
    assert report["study"]["seeds"] == study["seeds"] and report["study"]["steps"] == study["steps"]
    for name, arch in study["architectures"].items():
        got = report["study"]["architectures"][name]
        for key in (
            "n",
            "successes",
            "rate",
            "ci95",
            "steps_to_solve",
            "outcomes",
            "final_loss_quantiles",
            "layers",
            "trainer",
        ):
            assert got[key] == arch[key], (name, key)


def test_the_report_carries_the_capacity_table(study_client, study_repo):
    study = study_repo[1]["study"]
    capacity = study_client.get("/v1/report").json["study"]["capacity"]
    assert (capacity["seeds_per_function"], capacity["xor_seeds"]) == (20, study["seeds"])
    assert [f["name"] for f in capacity["functions"]] == study["functions"]["names"]
    for k, row in enumerate(capacity["functions"]):
        assert row["index"] == k
        assert row["truth_table"] == study["functions"]["truth_tables"][k]
        assert row["linearly_separable"] == study["functions"]["linearly_separable"][k]
        for name, arch in study["architectures"].items():
            want = next(c for c in arch["capacity"] if c["function"] == k)
            assert row["rates"][name] == {key: want[key] for key in ("n", "successes", "rate", "ci95")}


def test_the_verdict_cites_the_rates_and_intervals(study_client, study_repo):
    arches = study_repo[1]["study"]["architectures"]

    def ci(name: str) -> str:
        low, high = arches[name]["ci95"]
        return f"95% CI {pct(low)}–{pct(high)}%"

    said = study_client.get("/v1/report").json["verdict"]
    assert said == (
        f"mlp solves XOR from {pct(arches['mlp']['rate'])}% of 200 seeds within 10,001 steps ({ci('mlp')}), "
        f"mlp-backprop from {pct(arches['mlp-backprop']['rate'])}% ({ci('mlp-backprop')}) "
        f"and deep from {pct(arches['deep']['rate'])}% ({ci('deep')}); "
        "the rest were stuck in a local minimum (mlp 12.0%, mlp-backprop 15.0%, deep 5.0%); "
        f"perceptron cannot: without a hidden layer it draws a single line, and XOR's four points are not "
        f"linearly separable (none of 200 seeds, {ci('perceptron')}; it learns all 14 functions that are, from "
        "every seed); the served models (seed 777): mlp, mlp-backprop and deep solve XOR (as 88.0%, 85.0% and "
        "95.0% of their seeds do) and perceptron does not solve it (no seed can)."
    )


def test_the_report_lists_the_served_pictures(study_client, study_repo):
    pictures = study_client.get("/v1/report").json["pictures"]
    listed = study_repo[1]["pictures"]
    assert [p["path"] for p in pictures] == [p["path"] for p in listed]
    assert [p["title"] for p in pictures] == [p["title"] for p in listed]
    assert [p["model"] for p in pictures] == [p.get("model") for p in listed]
    assert all(p["url"] == f"/pictures/{p['path']}" for p in pictures)


def test_without_a_study_the_report_stands_on_the_served_models(plain_client):
    report = plain_client.get("/v1/report").json
    assert report["study"] is None and report["pictures"] == []
    assert report["verdict"].startswith("mlp, mlp-backprop and deep solve XOR; perceptron cannot:")


MALFORMED = {
    "architectures not an object": lambda s: s.update(architectures=[]),
    "no architectures": lambda s: s.update(architectures={}),
    "capacity of 15 functions": lambda s: s["architectures"]["mlp"]["capacity"].pop(),
    "a function listed twice": lambda s: s["architectures"]["mlp"]["capacity"][3].update(function=4),
    "rate as a string": lambda s: s["architectures"]["deep"].update(rate="0.9"),
    "interval of three numbers": lambda s: s["architectures"]["deep"].update(ci95=[0.1, 0.2, 0.3]),
    "interval upside down": lambda s: s["architectures"]["deep"].update(ci95=[0.9, 0.1]),
    "more successes than seeds": lambda s: s["architectures"]["deep"].update(successes=1000),
    "no function names": lambda s: s["functions"].pop("names"),
    "a boolean seed count": lambda s: s.update(seeds=True),
    "outcomes that do not add up": lambda s: s["architectures"]["mlp"]["outcomes"]["unfinished"].update(count=5),
    "solved outcomes that are not the successes": lambda s: s["architectures"]["deep"]["outcomes"].update(
        solved={"count": 0, "share": 0.0}, local_minimum={"count": 200, "share": 1.0}
    ),
    "an unknown outcome rule": lambda s: s.pop("outcome_rule"),
}


@pytest.mark.parametrize("change", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_study_is_left_out_and_the_report_still_works(repo_with_report, change):
    root, manifest = repo_with_report
    change(manifest["study"])
    write_raw_manifest(root, manifest)
    client = serve(root)
    report = client.get("/v1/report")
    assert report.status_code == 200 and report.json["study"] is None
    assert report.json["verdict"].startswith("mlp, mlp-backprop and deep solve XOR; perceptron cannot:")
    page = client.get("/", headers=BROWSER)
    assert page.status_code == 200 and "has no many-seed study" in page.get_data(as_text=True)


def test_study_report_of_nothing_is_nothing():
    assert study_report(None) is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 2000) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


def _leaves(obj, path=()):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _leaves(value, (*path, i))
    yield path


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_a_study_with_any_one_value_changed_never_breaks_the_report(study_repo, study_client, evidence, data):
    """Whatever one field of the study holds, the study is shaped or left out, and the verdict
    is still a sentence: no exception reaches the request."""
    import copy

    study = copy.deepcopy(study_repo[1]["study"])
    path = data.draw(st.sampled_from(list(_leaves(study))[:-1]))  # any field but the whole study
    target = study
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(JSON)
    try:
        parsed = parse_study(study)
    except RepositoryError:
        parsed = None
    shaped = study_view(parsed) if parsed else None
    assert shaped is None or set(shaped["architectures"]) <= set(study["architectures"])
    report = study_client.get("/v1/report").json
    report["study"] = shaped
    report["verdict"] = verdict(evidence, parsed)
    assert report["verdict"].endswith(".")
    with study_client.application.test_request_context("/"):
        assert report["verdict"] in html.unescape(render_page(report))


@settings(max_examples=100, deadline=None)
@given(study=JSON)
def test_any_json_as_the_study_is_shaped_or_left_out(study):
    assert study_report(study) is None or isinstance(study_report(study), dict)


# ---- a model refused for its training block ----------------------------------------------------------


@pytest.mark.parametrize("training", [None, "seed 777", {"seed": [777]}, {"seed": True}, {}])
def test_a_model_whose_training_block_is_malformed_is_refused_with_the_reason(repo_with_report, training):
    root, manifest = repo_with_report
    manifest["models"]["mlp"]["training"] = training
    write_raw_manifest(root, manifest)
    client = serve(root)
    ready = client.get("/v2/models/mlp/ready")
    assert ready.status_code == 503 and "manifest entry: " in ready.json["error"] and "training" in ready.json["error"]
    assert client.get("/v1/report").json["verdict"].endswith("mlp could not be checked (not loaded).")
    assert client.get("/", headers=BROWSER).status_code == 200


# ---- the pictures ----------------------------------------------------------------------------------


def test_each_listed_picture_is_served_with_its_bytes_type_and_cache_headers(study_client, study_repo):
    root, manifest = study_repo
    for entry in manifest["pictures"]:
        r = study_client.get(f"/pictures/{entry['path']}")
        assert r.status_code == 200, entry["path"]
        assert r.data == (root / entry["path"]).read_bytes()
        assert hashlib.sha256(r.data).hexdigest() == entry["sha256"]
        assert r.headers["Content-Type"] == "image/png"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["ETag"] == f'"{entry["sha256"]}"'
        assert r.headers["Cache-Control"] == "public, no-cache"
        again = study_client.get(f"/pictures/{entry['path']}", headers={"If-None-Match": r.headers["ETag"]})
        assert again.status_code == 304 and again.data == b""


NOT_PICTURES = [
    "manifest.json",  # in the repository, but not a picture
    "nope.png",
    "SURFACE-MLP.PNG",
    "surface-mlp.png.bak",
    "..",
    "..%2Fmanifest.json",
    "%2e%2e%2fmanifest.json",
    "mlp%2F1%2Fmodel.onnx",
    "mlp/1/model.onnx",
    "../models/manifest.json",
    "%00surface-mlp.png",
]


@pytest.mark.parametrize("name", NOT_PICTURES)
def test_anything_but_a_listed_picture_is_a_json_404(study_client, name):
    r = study_client.get(f"/pictures/{name}")
    assert r.status_code == 404 and r.content_type == "application/json"
    assert set(r.json) == {"error"}


def test_a_picture_changed_after_the_manifest_is_not_served(repo_with_report):
    root, manifest = repo_with_report
    data = bytearray((root / "surface-mlp.png").read_bytes())
    data[-20] ^= 0xFF  # same size, other bytes
    (root / "surface-mlp.png").write_bytes(bytes(data))
    registry = load_registry(root)
    assert "sha256" in registry.refused_pictures["surface-mlp.png"]
    client = serve(root)
    assert client.get("/pictures/surface-mlp.png").status_code == 404
    assert client.get("/pictures/surface-deep.png").status_code == 200
    assert "surface-mlp.png" not in [p["path"] for p in client.get("/v1/report").json["pictures"]]
    assert "/pictures/surface-mlp.png" not in client.get("/", headers=BROWSER).get_data(as_text=True)


def _list_picture(root: Path, manifest: dict, path: str, data: bytes) -> None:
    """Point a picture entry at `path` with `data`'s true size and sha256: only the path check stops it."""
    manifest["pictures"][0] = {
        "path": path,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "title": "t",
    }
    write_raw_manifest(root, manifest)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../outside.png", "Expected `str` matching regex '^[A-Za-z0-9][A-Za-z0-9._-]*\\\\.png$' - at `$.path`"),
        ("/etc/outside.png", "Expected `str` matching regex '^[A-Za-z0-9][A-Za-z0-9._-]*\\\\.png$' - at `$.path`"),
        ("mlp/inside.png", "Expected `str` matching regex '^[A-Za-z0-9][A-Za-z0-9._-]*\\\\.png$' - at `$.path`"),
        ("manifest.json", "Expected `str` matching regex '^[A-Za-z0-9][A-Za-z0-9._-]*\\\\.png$' - at `$.path`"),
        ("link.png", "is a symlink pointing outside the repository"),
        ("fake.png", "is not a PNG file"),
        ("fifo.png", "is not a regular file"),
        ("missing.png", "is missing"),
    ],
)
def test_pictures_that_fail_the_artifact_checks_are_refused(repo_with_report, path, reason):
    root, manifest = repo_with_report
    outside = root.parent / "outside.png"
    outside.write_bytes(png_bytes(4, 4))
    data = outside.read_bytes()
    (root / "mlp" / "inside.png").write_bytes(data)
    os.symlink(outside, root / "link.png")
    (root / "fake.png").write_bytes(b"<svg onload=alert(1)>")
    os.mkfifo(root / "fifo.png")
    if path == "fake.png":
        data = b"<svg onload=alert(1)>"
    _list_picture(root, manifest, path, data)
    registry = load_registry(root)
    assert reason in registry.refused_pictures[path]
    assert path not in registry.pictures and len(registry.pictures) == len(manifest["pictures"]) - 1
    client = serve(root)
    assert all(
        str(root.parent) not in r.get_data(as_text=True)
        for r in (client.get("/v1/report"), client.get("/", headers=BROWSER))
    )


def test_a_repository_whose_pictures_field_is_not_a_list_still_serves(repo_with_report):
    root, manifest = repo_with_report
    manifest["pictures"] = {"surface-mlp.png": "x"}
    write_raw_manifest(root, manifest)
    client = serve(root)
    assert client.get("/v1/report").json["pictures"] == []
    assert client.get("/", headers=BROWSER).status_code == 200


# ---- the page ---------------------------------------------------------------------------------------


class Page(HTMLParser):
    """What a test needs from the HTML: tags with their attributes, inline script text, the text."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.inline_script = ""
        self.ids: dict[str, str] = {}
        self._in: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        self._in.append(attrs.get("id") or tag)
        if tag == "script" and "src" not in attrs:
            self.inline_script += "<script>"
        for name in attrs:
            assert not name.startswith("on"), f"inline event handler {name} on <{tag}>"
        assert "style" not in attrs, f"inline style on <{tag}>"

    def handle_endtag(self, tag):
        if self._in:
            self._in.pop()

    def handle_data(self, data):
        if self._in and self._in[-1] == "script":
            self.inline_script += data.strip()
        for key in self._in:
            if key in ("verdict", "answer"):
                self.ids[key] = self.ids.get(key, "") + data

    def all(self, tag: str) -> list[dict]:
        return [attrs for t, attrs in self.tags if t == tag]


def test_the_page_has_the_verdict_tables_pictures_and_form(study_client, study_repo):
    r = study_client.get("/", headers=BROWSER)
    assert r.status_code == 200 and r.content_type == "text/html; charset=utf-8"
    report = study_client.get("/v1/report").json
    page = Page(r.get_data(as_text=True))
    assert page.ids["verdict"].strip() == report["verdict"]
    assert [a["id"] for a in page.all("tr") if a.get("id")] == [f"model-{n}" for n in report["models"]]
    assert len([a for a in page.all("table") if a.get("class") == "capacity"]) == 1
    images = page.all("img")
    assert [(i["src"], i["alt"]) for i in images] == [(p["url"], p["title"]) for p in report["pictures"]]
    text = r.get_data(as_text=True)
    for arch in report["study"]["architectures"].values():
        assert f"{pct(arch['rate'])}%" in text
    forms = page.all("form")
    assert len(forms) == 1 and forms[0]["method"] == "post" and forms[0]["action"].startswith("/")
    assert {a["name"] for a in page.all("input")} == {"x1", "x2"}
    assert [a["value"] for a in page.all("option")] == [n for n, m in report["models"].items() if m["ready"]]


def test_the_page_loads_nothing_from_elsewhere_and_nothing_inline(study_client):
    page = Page(study_client.get("/", headers=BROWSER).get_data(as_text=True))
    assert page.inline_script == ""
    scripts = [a["src"] for a in page.all("script")]
    links = [a["href"] for a in page.all("link")]
    assert scripts and links
    for url in scripts + links + [a["src"] for a in page.all("img")]:
        assert url.startswith("/") and not url.startswith("//"), url
        assert study_client.get(url).status_code == 200, url  # each one is served


def test_the_page_carries_strict_security_headers(study_client):
    r = study_client.get("/", headers=BROWSER)
    csp = {d.split()[0]: d.split()[1:] for d in r.headers["Content-Security-Policy"].split("; ")}
    assert csp["default-src"] == ["'self'"] and csp["img-src"] == ["'self'"] and csp["script-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    assert "unsafe-inline" not in r.headers["Content-Security-Policy"]
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "no-referrer"


def test_the_page_without_a_study(plain_client):
    r = plain_client.get("/", headers=BROWSER)
    text = r.get_data(as_text=True)
    assert r.status_code == 200
    assert Page(text).ids["verdict"].strip() == plain_client.get("/v1/report").json["verdict"]
    assert "has no many-seed study" in text and 'class="capacity"' not in text and "<img" not in text


def test_the_page_with_no_model_served(tmp_path):
    client = serve(tmp_path / "nowhere")
    r = client.get("/", headers=BROWSER)
    assert r.status_code == 200
    assert Page(r.get_data(as_text=True)).ids["verdict"].strip() == "No model is served, so there is no verdict."
    assert "<form" not in r.get_data(as_text=True)


@pytest.mark.parametrize(
    "change",
    [
        {"architecture": {"layers": 5}},
        {"architecture": {"layers": ["2", None]}},
        {"final_loss": "low"},
        {"final_loss": None, "parameters": [9], "trainer": {"x": 1}},
        {"training": ["seed", 777]},
    ],
)
def test_odd_informational_fields_of_a_manifest_entry_still_render(repo_with_report, change):
    """Fields serving does not need are shown as written (some refuse the model, some do not)."""
    root, manifest = repo_with_report
    manifest["models"]["deep"].update(change)
    write_raw_manifest(root, manifest)
    client = serve(root)
    r = client.get("/", headers=BROWSER)
    assert r.status_code == 200 and 'id="model-deep"' in r.get_data(as_text=True)
    assert Page(r.get_data(as_text=True)).ids["verdict"].strip() == client.get("/v1/report").json["verdict"]


def test_the_page_escapes_what_the_manifest_says(repo_with_report):
    root, manifest = repo_with_report
    manifest["pictures"][0]["title"] = '<script>alert("x")</script>'
    write_manifest(root, manifest)
    text = serve(root).get("/", headers=BROWSER).get_data(as_text=True)
    assert '<script>alert("x")</script>' not in text
    assert "&lt;script&gt;alert(" in text


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("report.css", "text/css; charset=utf-8"),
        ("report.js", "text/javascript; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_the_static_files_are_served_with_their_types(study_client, name, content_type):
    r = study_client.get(f"/static/{name}")
    assert r.status_code == 200 and r.headers["Content-Type"] == content_type
    assert r.data == (ROOT / "xorlab" / "serve" / "http" / "static" / name).read_bytes()
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["ETag"]


@pytest.mark.parametrize("name", ["page.py", "..%2Fpage.py", "report.CSS", "templates", "nope.js"])
def test_only_the_listed_static_files_are_served(study_client, name):
    r = study_client.get(f"/static/{name}")
    assert r.status_code == 404 and r.content_type == "application/json"


# ---- the form without JavaScript --------------------------------------------------------------------


@pytest.mark.parametrize(("x1", "x2", "name"), [("0", "1", "mlp"), ("1", "1", "deep"), ("0.25", "-3", "perceptron")])
def test_the_form_posted_without_javascript_renders_the_answer(study_client, x1, x2, name):
    p = study_client.post(f"/v1/models/{name}:predict", json={"instances": [[float(x1), float(x2)]]}).json[
        "predictions"
    ][0]
    r = study_client.post("/", data={"x1": x1, "x2": x2, "model": name})
    assert r.status_code == 200 and r.headers["Content-Security-Policy"]
    page = Page(r.get_data(as_text=True))
    assert page.ids["answer"] == f"{name}({float(x1):.4g}, {float(x2):.4g}): P(y=1) = {p:.4f} → class {int(p > 0.5)}"
    assert [a for a in page.all("option") if "selected" in a] == [{"value": name, "selected": None}]


@pytest.mark.parametrize(
    ("form", "status", "message"),
    [
        ({"x1": "a", "x2": "1", "model": "mlp"}, 400, "form field 'x1' must be a number, got 'a'"),
        ({"x2": "1", "model": "mlp"}, 400, "form field 'x1' must be a number, got ''"),
        ({"x1": "nan", "x2": "1", "model": "mlp"}, 400, "form field 'x1' must be a finite number"),
        ({"x1": "0", "x2": "-inf", "model": "mlp"}, 400, "form field 'x2' must be a finite number"),
        ({"x1": "1e39", "x2": "1", "model": "mlp"}, 400, "the point holds a number outside the FP32 range"),
        ({"x1": "0", "x2": "1", "model": "nope"}, 404, "model 'nope' not found"),
        ({"x1": "0", "x2": "1"}, 404, "model '' not found"),
    ],
)
def test_a_bad_form_is_a_json_error(study_client, form, status, message):
    r = study_client.post("/", data=form)
    assert r.status_code == status and r.content_type == "application/json"
    assert r.json["error"].startswith(message)


# ---- the page tells a tie, a run too short to decide and a near miss apart ----------------------------


def _row(text: str, name: str) -> str:
    return re.search(rf'<tr id="model-{name}">(.*?)</tr>', text, flags=re.S).group(1)


@pytest.mark.parametrize("bias", [0.0, -1.2e-7])  # P(y=1) = 0.5 exactly, and 0.49999997 (float rounding of it)
def test_a_tie_at_the_threshold_is_neither_right_nor_wrong(repo_with_report, bias):
    root, manifest = repo_with_report
    replace_artifact(
        root, manifest, "perceptron", "onnx", onnx_bytes([(np.zeros((2, 1), np.float32), np.array([bias], np.float32))])
    )
    client = serve(root)
    outputs = client.get("/v1/report").json["models"]["perceptron"]["truth_table_outputs"]
    assert all(abs(y - 0.5) <= 1e-6 for y in outputs) and (bias == 0 or min(outputs) < 0.5)
    text = client.get("/", headers=BROWSER).get_data(as_text=True)
    cells = re.findall(
        r'<td class="n (right|wrong|tie)">([^<]*)(<span class="sub">tie</span>)?', _row(text, "perceptron")
    )
    assert [(side, value, bool(mark)) for side, value, mark in cells] == [("tie", "0.5000", True)] * 4
    assert "<em>tie</em>: 0.5 to within 1e-06" in text  # the legend says what the grey cells are
    # The solvers' cells keep their sides.
    assert re.findall(r'<td class="n (right|wrong|tie)"', _row(text, "mlp")) == ["right"] * 4


def test_the_page_says_what_became_of_the_other_seeds(tmp_path):
    root = tmp_path / "models"
    manifest = build_repository(root)
    manifest["study"] = study_for(
        manifest,
        {"perceptron": 0, "mlp": 167, "mlp-backprop": 167, "deep": 0},
        steps=2001,
        rest={
            "mlp": {"local_minimum": 22, "unfinished": 11},
            "mlp-backprop": {"local_minimum": 22, "unfinished": 11},
            "deep": {"unfinished": 200},
        },
    )
    write_manifest(root, manifest)
    text = serve(root).get("/", headers=BROWSER).get_data(as_text=True)
    deep, mlp, perceptron = _row(text, "deep"), _row(text, "mlp"), _row(text, "perceptron")
    assert "too short to decide" in deep and "100% still improving" in deep and "stuck" not in deep
    assert "11.0% stuck in a local minimum" in mlp and "5.5% still improving" in mlp and "too short" not in mlp
    assert "cannot" in perceptron and "100% stuck at ln 2" in perceptron
    assert "over the last 200 steps (a tenth of the" in text


def test_the_capacity_colours_keep_every_seed_apart_from_most(study_client):
    text = study_client.get("/", headers=BROWSER).get_data(as_text=True)
    xor = re.search(r"<th scope=\"row\">XOR</th>(.*?)</tr>", text, flags=re.S).group(1)
    nand = re.search(r"<th scope=\"row\">NAND</th>(.*?)</tr>", text, flags=re.S).group(1)
    assert re.findall(r'class="n (heat-\w+)"', xor) == [
        "heat-none",
        "heat-half",
        "heat-half",
        "heat-most",
    ]  # 0, 88, 85, 95%
    assert re.findall(r'class="n (heat-\w+)"', nand) == ["heat-all"] * 4


def test_each_picture_shows_its_caption(repo_with_report):
    root, manifest = repo_with_report
    manifest["pictures"][-1]["caption"] = "mlp and mlp-backprop coincide"
    write_manifest(root, manifest)
    text = serve(root).get("/", headers=BROWSER).get_data(as_text=True)
    assert (
        "<figcaption><strong>Training loss of the served models</strong> mlp and mlp-backprop coincide</figcaption>"
        in text
    )
