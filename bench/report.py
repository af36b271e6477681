"""results.json -> a Markdown report: every load figure with its ratio against the baseline
measured in the same run, the in-process floors, memory, time to ready, and the targets."""

from __future__ import annotations


def render(results: dict, connections: list[int]) -> str:
    load = {(r["server"], r["scenario"], r["connections"]): r for r in results["load"]}
    ip = results["inprocess"]
    m = results["machine"]
    lines = [
        f"date {m['date']}; {m['cpu']}, {m['cores']} cores; load average before {fmt_load(m['load_before'])}, "
        f"after {fmt_load(m.get('load_after', ()))}; Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        "",
        "| scenario | conns | req/s | × no-op (same round) | p50 ms | p99 ms | server CPU µs/req | × no-op | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label in results["labels"].items():
        for c in connections:
            r = load.get(("xorlab", key, c))
            if r:
                lines.append(row(label, c, r, r["ratio"], r["cpu_ratio"]))
    field = [k for k in load if k[0] != "xorlab"]
    if field:
        lines += ["", "Against the field, the same request (V2 infer, 1 row, JSON), the same ONNX file, the same number of workers:", "",
                  "| server | conns | req/s | xorlab ÷ server (same round) | p50 ms | p99 ms | server CPU µs/req | server ÷ xorlab | errors |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for c in connections:
            mine = load.get(("xorlab", "v2_1", c))
            if mine:
                lines.append(row("xorlab (full service)", c, mine, 1.0, 1.0))
            for server, _, cc in sorted(field):
                if cc == c and mine:
                    r = load[(server, "v2_1", c)]
                    lines.append(row(server, c, r, 1 / r["ratio"], r["cpu_ratio"]))
    for name, error in results.get("field_errors", {}).items():
        lines += ["", f"{name}: could not run here: `{error.splitlines()[0][:300]}`"]

    one = load.get(("xorlab", "v1_10k", 1))
    binary = load.get(("xorlab", "v2bin_10k", 1))
    noop1 = load.get(("xorlab", "noop", 1))
    lines += ["", "In process (µs per call, median of repeats; the two floors: median over the rounds too):", "",
              "| what | µs |", "|---|---:|"]
    for key, label in [("ort_1_public_us", "onnxruntime `InferenceSession.run`, 1 row (re-checks names per call)"),
                       ("ort_1_us", "onnxruntime run as xorlab calls it, 1 row"), ("ort_10k_us", "onnxruntime run, 10,000 rows"),
                       ("json_floor_10k_us", "JSON floor, 10,000 rows: orjson parse + float32 array + orjson write"),
                       ("xorlab_codec_v1_10k_us", "xorlab's V1 decode (validated) + encode, 10,000 rows"),
                       ("binary_floor_10k_us", "binary floor, 10,000 rows: copy in + onnxruntime + copy out")]:  # fmt: skip
        lines.append(f"| {label} | {ip[key]:,.0f} |")

    app = ip.get("app_cpu_us", {})
    if app:
        lines += ["", "The Flask app alone, each request called as WSGI in one process (no HTTP, no gunicorn): CPU µs per request, least of 5:", "",
                  "| scenario | CPU µs/req | × no-op |", "|---|---:|---:|"]
        for key, label in results["labels"].items():
            if key in app:
                lines.append(f"| {label} | {app[key]:,.0f} | {app[key] / app['noop']:.2f} |")

    lines += ["", "Memory after the load (MB; PSS splits shared pages between the processes sharing them):", ""]
    for name, mem in results.get("memory", {}).items():
        per = ", ".join(f"{p['rss_mb']:.0f}" for p in mem["processes"])
        lines.append(f"- {name}: RSS {mem['rss_total_mb']:.0f} in all ({per}, master first), PSS {mem['pss_total_mb']:.0f}")
    lines.append(f"- time from start to ready: xorlab {results['xorlab_ready_s']:.2f} s"
                 + "".join(f", {k} {v:.2f} s" for k, v in results.get("field_ready_s", {}).items()))

    lines += ["", "Targets:", ""]
    for ok, text in targets(results, load, connections, one, binary, noop1):
        lines.append(f"- {'MET' if ok else 'NOT MET'}: {text}")
    return "\n".join(lines) + "\n"


def targets(results, load, connections, one, binary, noop1):
    ip = results["inprocess"]
    for key in ("v1_1", "v2_1"):
        for c in connections:
            r = load.get(("xorlab", key, c))
            if r and r["ratio"]:
                ratio = r["ratio"]
                yield ratio >= 0.9, f"{results['labels'][key]} @ {c}: {ratio:.2f}× the no-op's req/s (≥ 0.9)"
        r = load.get(("xorlab", key, 8))
        if r:
            yield r["p99_us"] <= 2500, f"{results['labels'][key]} @ 8: p99 {r['p99_us'] / 1e3:.2f} ms (≤ 2.5)"
    if one:
        ratio = one["p50_us"] / ip["json_floor_10k_us"]
        yield ratio <= 2, f"V1 10,000 rows @ 1: p50 {ratio:.2f}× the JSON floor (≤ 2)"
    if binary:
        ratio = binary["p50_us"] / ip["binary_floor_10k_us"]
        with_http = binary["p50_us"] / (ip["binary_floor_10k_us"] + (noop1["p50_us"] if noop1 else 0))
        yield ratio <= 1.5, (f"V2 binary 10,000 rows @ 1: p50 {ratio:.2f}× onnxruntime + copying (≤ 1.5); "
                             f"{with_http:.2f}× that plus the no-op round trip")
    yield results["xorlab_ready_s"] <= 1.5, f"ready {results['xorlab_ready_s']:.2f} s after start (≤ 1.5)"
    mem = results.get("memory", {}).get("xorlab")
    if mem:
        yield mem["rss_total_mb"] <= 150, f"master + workers RSS {mem['rss_total_mb']:.0f} MB (≤ 150)"
    mine = load.get(("xorlab", "v2_1", 8))
    for server in sorted({k[0] for k in load if k[0] != "xorlab"}):
        theirs = load.get((server, "v2_1", 8))
        if mine and theirs:
            ratio = 1 / theirs["ratio"]
            goal = 1.5 if server == "kserve" else 1.0
            yield ratio > goal, f"V2 infer 1 row @ 8: xorlab {ratio:.2f}× {server}'s req/s (> {goal})"


def row(label: str, c: int, r: dict, ratio: float | None, cpu_ratio: float | None) -> str:
    return (f"| {label} | {c} | {r['rps']:,.0f} | {num(ratio)} | {r['p50_us'] / 1e3:.2f} | {r['p99_us'] / 1e3:.2f} "
            f"| {r['cpu_us']:,.0f} | {num(cpu_ratio)} | {r['errors_total']} |")


def num(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "—"


def fmt_load(values) -> str:
    return "/".join(f"{v:.2f}" for v in values)
