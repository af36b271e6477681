"""results.json -> a Markdown report: the machine's load and which rounds are valid first, then
every load figure with its CPU per request, every comparison as the median of per-round ratios with
its range, the in-process floors, memory, time to ready, and the targets."""

from __future__ import annotations

from bench.machine_cpu import OTHER_LIMIT

SERVERS = {
    "xorlab": "xorlab (full service)",
    "floor": "floor: hello-world WSGI, same gunicorn settings",
    "flask": "flask (minimal)",
    "flask-sync": "flask (minimal), gunicorn's sync worker",
    "kserve": "kserve 0.21",
}


def render(results: dict, connections: list[int]) -> str:
    load = {(r["server"], r["scenario"], r["connections"]): r for r in results["load"]}
    cmp = {(c["what"], c["connections"]): c for c in results["comparisons"]}
    ip = results.get("inprocess", {})
    m = results["machine"]
    rounds = results["rounds"]
    valid = results["valid_rounds"]
    lines = [
        f"date {m['date']}; {m['cpu']}, {m['cores']} cores; Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        "",
        "## The machine during the run",
        "",
        f"Load average before the run {fmt_load(m['load_before'])}, after it {fmt_load(m.get('load_after', ()))}; "
        f"other processes used {m['idle_check']['other_cores']:.2f} cores "
        f"in the {m['idle_check']['wall_s']:.0f} s before it started.",
        f"A round is valid when, in every one of its measurements, processes other than the benchmark's own "
        f"(the servers, wrk, the driver) used at most {OTHER_LIMIT} of a core.",
        "",
        "| round | load average before (1/5/15 min) "
        "| other processes, cores: max / median over its measurements | valid |",
        "|---:|---|---|---|",
    ]
    for r in rounds:
        ms = sorted(r["measurements"])
        lines.append(
            f"| {r['round'] + 1} | {fmt_load(r['load_before'])} | {r['max_other_cores']:.2f} / {ms[len(ms) // 2]:.2f} "
            f"| {'yes' if r['valid'] else '**no**'} |"
        )
    lines.append("")
    if valid:
        lines.append(
            f"**{len(valid)} of {len(rounds)} rounds valid; every figure below is from the valid rounds only.**"
        )
    else:
        lines.append(
            f"**NO ROUND WAS VALID (0 of {len(rounds)}): the figures below are from every round, taken while other "
            f"processes used the cores, and are NOT VALID for comparisons.**"
        )

    settings = results.get("settings", {})
    lines += [
        "",
        f"Settings: {settings.get('workers')} workers per server; "
        f"xorlab settings {settings.get('set') if settings.get('set') not in (None, '[]') else '(defaults)'}"
        + (
            "; **every request went through the deployment's nginx** (docker/proxy/nginx.conf), "
            "one in front of each server, "
            "whose own CPU per request is given apart (+ … proxy)"
            if settings.get("proxy") == "True"
            else "; requests straight to each server"
        ),
    ]
    lines += [
        "",
        "## xorlab, each scenario",
        "",
        "Ratios: per round, then the median over the rounds [least–most].",
        "",
        "| scenario | conns | req/s | × no-op | p50 ms | p99 ms | server CPU µs/req | no-op ÷ this, CPU | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label in results["labels"].items():
        for c in connections:
            r = load.get(("xorlab", key, c))
            if r:
                ratio = cmp.get((f"{key} ÷ noop", c))
                lines.append(row(label, c, r, ratio))

    lines += [
        "",
        "## The floors of the stack",
        "",
        "The same body (V2, one row) to the no-op route and to a raw WSGI hello-world "
        "under the same gunicorn settings:",
        "",
        "| server | conns | req/s | no-op ÷ floor | p50 ms | p99 ms "
        "| server CPU µs/req | floor ÷ no-op, CPU | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in connections:
        for server in ("xorlab", "floor"):
            r = load.get((server, "noop", c))
            if r:
                lines.append(
                    row(
                        SERVERS[server] + (" /noop" if server == "xorlab" else ""),
                        c,
                        r,
                        cmp.get(("noop ÷ floor", c)) if server == "xorlab" else None,
                    )
                )

    rivals = sorted({k[0] for k in load if k[0] not in ("xorlab", "floor")})
    if rivals:
        lines += [
            "",
            "## Against the rivals",
            "",
            "The same requests, the same ONNX file and session settings, the same number of workers; "
            "each rival server measured right after xorlab in the same round:",
            "",
            "| request | server | conns | req/s | xorlab ÷ server | p50 ms | p99 ms "
            "| server CPU µs/req | server ÷ xorlab, CPU | errors |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for key in ("v1_1", "v2_1", "v2bin_1"):
            for c in connections:
                mine = load.get(("xorlab", key, c))
                if not mine:
                    continue
                label = results["labels"].get(key, key)
                lines.append(f"| {label} " + row("xorlab", c, mine, None))
                for server in rivals:
                    r = load.get((server, key, c))
                    if r:
                        lines.append(
                            f"| {label} "
                            + row(SERVERS.get(server, server), c, r, cmp.get((f"{key} xorlab ÷ {server}", c)))
                        )
    for name, error in results.get("rival_errors", {}).items():
        lines += ["", f"{name}: could not run here: `{error.splitlines()[0][:300]}`"]

    many = [c for c in connections if c > 1]
    if many:
        lines += [
            "",
            "How the load split between each server's workers: the busiest worker's share of the workers' CPU in each "
            "round (0.50 with 2 workers is even). With a few keep-alive connections, each measurement's connections "
            "land on the workers by chance, and an uneven split caps that measurement's req/s:",
            "",
        ]
        for r in results["load"]:
            shares = [s for s in r.get("busiest_worker_share_rounds", []) if s is not None]
            if r["connections"] in many and shares:
                lines.append(
                    f"- {r['server']} {r['scenario']} @ {r['connections']}: " + ", ".join(f"{s:.2f}" for s in shares)
                )

    if ip:
        lines += [
            "",
            "## In process",
            "",
            "µs per call, median of repeats (the two floors: the median over the rounds too):",
            "",
            "| what | µs |",
            "|---|---:|",
        ]
        for key, label in [
            ("ort_1_public_us", "onnxruntime `InferenceSession.run`, 1 row (re-checks names per call)"),
            ("ort_1_us", "onnxruntime run as xorlab calls it, 1 row"),
            ("ort_10k_us", "onnxruntime run, 10,000 rows"),
            ("json_floor_10k_us", "JSON floor, 10,000 rows: orjson parse + float32 array + orjson write"),
            ("xorlab_codec_v1_10k_us", "xorlab's V1 decode (validated) + encode, 10,000 rows"),
            ("binary_floor_10k_us", "binary floor, 10,000 rows: copy in + onnxruntime + copy out"),
        ]:
            if key in ip:
                lines.append(f"| {label} | {ip[key]:,.0f} |")
        app = ip.get("app_cpu_us", {})
        if app:
            lines += [
                "",
                "The app alone, each request called as WSGI in one process (no HTTP, no gunicorn): "
                "CPU µs per request, least of 5:",
                "",
                "| scenario | CPU µs/req | × no-op |",
                "|---|---:|---:|",
            ]
            for key, label in results["labels"].items():
                if key in app:
                    lines.append(f"| {label} | {app[key]:,.0f} | {app[key] / app['noop']:.2f} |")
                if f"{key}_flask" in app:
                    lines.append(
                        f"| {label}, through Flask (no fast path) | {app[key + '_flask']:,.0f} "
                        f"| {app[key + '_flask'] / app['noop']:.2f} |"
                    )

    lines += [
        "",
        "## Memory and start",
        "",
        "After the load, MB (PSS splits shared pages between the processes sharing them):",
        "",
    ]
    for name, mem in results.get("memory", {}).items():
        per = ", ".join(f"{p['rss_mb']:.0f}" for p in mem["processes"])
        lines.append(
            f"- {SERVERS.get(name, name)}: RSS {mem['rss_total_mb']:.0f} in all ({per}, master first), "
            f"PSS {mem['pss_total_mb']:.0f}"
        )
    for name, mem in results.get("proxy_memory", {}).items():
        lines.append(f"- its proxy (nginx) for {name}: RSS {mem['rss_total_mb']:.0f}")
    lines.append(
        f"- time from start to ready: xorlab {results['xorlab_ready_s']:.2f} s"
        + "".join(f", {k} {v:.2f} s" for k, v in results.get("rivals_ready_s", {}).items())
    )

    lines += ["", "## Targets", ""]
    if not valid:
        lines += ["(from rounds that were NOT VALID: no verdict stands)", ""]
    for ok, text in targets(results, load, cmp, connections):
        lines.append(f"- {'MET' if ok else 'NOT MET'}: {text}")
    return "\n".join(lines) + "\n"


def targets(results, load, cmp, connections):
    """Issue 14's targets: one-row V1 predict and V2 infer (JSON, binary) at least 1.5× KServe and
    1.2× the minimal Flask app in req/s; p99 at most 3 ms at 8 connections and 1 ms at 1; master
    and 2 workers at most 150 MB RSS."""
    labels = results["labels"]
    for key in ("v1_1", "v2_1", "v2bin_1"):
        for c in connections:
            for server, goal in (("kserve", 1.5), ("flask", 1.2), ("flask-sync", 1.2)):
                ratio = cmp.get((f"{key} xorlab ÷ {server}", c))
                if ratio:
                    s = ratio["rps_ratio"]
                    yield (
                        s["median"] >= goal,
                        f"{labels[key]} @ {c}: xorlab {fmt_spread(s)}× {server}'s req/s (≥ {goal})",
                    )
        for c, limit in ((8, 3000), (1, 1000)):
            r = load.get(("xorlab", key, c))
            if r:
                yield r["p99_us"] <= limit, f"{labels[key]} @ {c}: p99 {r['p99_us'] / 1e3:.2f} ms (≤ {limit / 1e3:g})"
    mem = results.get("memory", {}).get("xorlab")
    if mem:
        yield mem["rss_total_mb"] <= 150, f"master + workers RSS {mem['rss_total_mb']:.0f} MB (≤ 150)"


def row(label: str, c: int, r: dict, ratio: dict | None) -> str:
    rps = fmt_spread(ratio["rps_ratio"]) if ratio else "—"
    cpu = fmt_spread(ratio["cpu_ratio"]) if ratio else "—"
    own = f"{r['cpu_us']:,.0f}" + (f" + {r['proxy_cpu_us']:,.0f} proxy" if r.get("proxy_cpu_us") is not None else "")
    return (
        f"| {label} | {c} | {r['rps']:,.0f} | {rps} | {r['p50_us'] / 1e3:.2f} | {r['p99_us'] / 1e3:.2f} "
        f"| {own} | {cpu} | {r['errors_total']} |"
    )


def fmt_spread(s: dict) -> str:
    if s["min"] == s["max"]:
        return f"{s['median']:.2f}"
    return f"{s['median']:.2f} [{s['min']:.2f}–{s['max']:.2f}]"


def fmt_load(values) -> str:
    return "/".join(f"{v:.2f}" for v in values)
