"""The training stage on a GPU, checked in one command: `python -m tools.gpu_check` (or tools/gpu_check.sh).
The GPU acceptance check: it runs the training tests and the pipeline on CUDA, and times them.

Within a time budget (default 8 minutes), in this order, each step in its own process (a CUDA
failure in one cannot take the others down):
  1. cuda-tests     the training suite's CUDA tests (pytest -m cuda tests/train/);
  2. study-1m       1,000,000 seeds of the 2-2-1 MLP on XOR, 10,001 steps: seconds, peak GPU memory;
  3. seed-777       every architecture with the lesson's seed on the CPU and on CUDA: losses, outputs, differences;
  4. pipeline       the default GPU pipeline, `python -m xorlab.train --device cuda`: seconds, study figures;
  5. train-tests    the other training tests, on the time left (CI runs them on the CPU anyway).
Without CUDA it says what it skipped and runs the rest (seed-777 on the CPU only, train-tests).
Uses only what the project installs, with whatever torch is already there. One summary file:
tools/out/gpu-check.json, printed as it goes. Exit status 1 if a step failed, else 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "train").glob("test_*.py"))
STEPS = 10_001


def environment() -> dict:
    import torch

    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cuda": torch.cuda.is_available(),
    }
    if env["cuda"]:
        props = torch.cuda.get_device_properties(0)
        env.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1), gpus=torch.cuda.device_count())
    return env


# --- the steps that run inside a child process (`--step NAME`): each prints one JSON line ---------


def study_1m(seeds: int, device: str = "cuda") -> dict:
    import torch

    from xorlab.modelrepo.spec import XOR_FUNCTION, function_targets
    from xorlab.modelrepo.stats import wilson
    from xorlab.train.batched_trainer import train_batch
    from xorlab.train.models import ARCHS

    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    xor = torch.tensor([function_targets(XOR_FUNCTION)]).expand(seeds, 4)
    batch = train_batch(ARCHS["mlp"], torch.arange(seeds), xor, STEPS, 1.0, device)
    k = int(batch.solved.sum())
    return {
        "architecture": "mlp",
        "seeds": seeds,
        "steps": STEPS,
        "seconds": round(batch.seconds, 2),
        "model_steps_per_s": round(seeds * STEPS / batch.seconds),
        "solved": k,
        "rate": k / seeds,
        "ci95": list(wilson(k, seeds)),
        "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.type == "cuda" else None,
    }


def seed_777() -> dict:
    import torch

    from xorlab.train.config import TrainConfig
    from xorlab.train.models import ARCHS
    from xorlab.train.trainer import fit

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    out = {}
    for name in ARCHS:
        runs = {d: fit(name, TrainConfig(), torch.device(d)) for d in devices}
        out[name] = {
            d: {
                "final_loss": r.final_loss,
                "outputs": r.outputs,
                "solved": r.solved,
                "loss_at_step_10000": r.curve_loss[-1],
                "seconds": round(r.seconds, 2),
            }
            for d, r in runs.items()
        }
        if "cuda" in runs:
            out[name]["cuda_minus_cpu"] = {
                "final_loss": runs["cuda"].final_loss - runs["cpu"].final_loss,
                "max_abs_output": max(
                    abs(a - b) for a, b in zip(runs["cuda"].outputs, runs["cpu"].outputs, strict=True)
                ),
            }
    return out


def pipeline_figures(doc: dict) -> dict:
    """What the summary keeps of a pipeline's manifest."""
    s = doc["study"]
    return {
        "device": s["device"],
        "xor_seeds": s["seeds"],
        "function_seeds": s["functions"]["seeds_per_function"],
        "study_seconds": s["seconds"],
        "architectures": {
            n: {"seconds": e["seconds"], "successes": e["successes"], "n": e["n"], "ci95": e["ci95"]}
            for n, e in s["architectures"].items()
        },
        "fit_seconds": {n: m["training"]["seconds"] for n, m in doc["models"].items()},
    }


CHILD_STEPS = {"study-1m": lambda a: study_1m(a.seeds), "seed-777": lambda a: seed_777()}


# --- the parent: budget, child processes, summary ---------------------------------------------------


def run(cmd: list[str], timeout: float) -> tuple[str, float, str, str]:
    """(status, seconds, stdout, stderr) of a command with a time limit. It runs in its own process
    group, so a timeout also ends what it started (the CLI tests start training processes)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=max(timeout, 1))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return "timed out", time.monotonic() - started, out, err
    status = "passed" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
    return status, time.monotonic() - started, out, err


def brief(name: str, detail: dict) -> str:
    """One line for the terminal; the summary file has everything."""
    r = detail.get("result")
    if r is None:
        return detail.get("reason") or detail.get("tests") or "see the summary file for the output"
    if name == "study-1m":
        return (
            f"{r['seeds']:,} seeds x {r['steps']:,} steps: {r['model_steps_per_s']:,} model-steps/s, "
            f"{r['rate']:.2%} solved, peak GPU memory {r['peak_gpu_memory_gib']} GiB"
        )
    if name == "seed-777":
        return "; ".join(
            f"{n} " + " vs ".join(f"{d} {v['final_loss']:.7g}" for d, v in runs.items() if d != "cuda_minus_cpu")
            for n, runs in r.items()
        )
    if name == "pipeline":
        return f"study {r['study_seconds']} s: " + ", ".join(
            f"{n} {e['seconds']} s" for n, e in r["architectures"].items()
        )
    return ""


def pytest_summary(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    return lines[-1].strip("= ") if lines else ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tools.gpu_check", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--budget", type=float, default=480, help="seconds for the whole check (default 480: 8 minutes)")
    p.add_argument("--seeds", type=int, default=1_000_000, help="seeds of the study-1m step (default 1000000)")
    p.add_argument("--summary", type=Path, default=ROOT / "tools" / "out" / "gpu-check.json")
    p.add_argument("--step", choices=sorted(CHILD_STEPS), help=argparse.SUPPRESS)  # inside a child process
    a = p.parse_args(argv)
    if a.step:
        print(json.dumps(CHILD_STEPS[a.step](a)))
        return 0

    started = time.monotonic()
    deadline = started + a.budget
    env = environment()
    cuda = env["cuda"]
    summary = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "budget_s": a.budget,
        "environment": env,
        "steps": [],
    }
    print(
        f"gpu check: torch {env['torch']}, "
        + (f"{env['gpu']} ({env['gpu_memory_gib']} GiB)" if cuda else "no CUDA device: the GPU steps are skipped")
        + f", {env['cpus']} CPUs, load {env['load_average'][0]}"
    )

    def record(name: str, status: str, seconds: float = 0.0, **detail) -> None:
        summary["steps"].append({"name": name, "status": status, "seconds": round(seconds, 1), **detail})
        print(f"  {name:<12} {status:<18} {seconds:7.1f} s  {brief(name, detail)}", flush=True)

    def left() -> float:
        return deadline - time.monotonic()

    def child(name: str, needs_cuda: bool, *extra: str) -> None:
        if needs_cuda and not cuda:
            return record(name, "skipped", reason="needs CUDA; none is present")
        if left() < 10:
            return record(name, "skipped", reason="out of time")
        status, seconds, out, err = run([sys.executable, "-m", "tools.gpu_check", "--step", name, *extra], left())
        lines = out.strip().splitlines()
        if status == "passed" and lines:
            record(name, status, seconds, result=json.loads(lines[-1]))
        else:
            record(name, status, seconds, output=(out + err)[-3000:])

    def tests(name: str, marker: str) -> None:
        if marker == "cuda" and not cuda:
            return record(name, "skipped", reason="needs CUDA; none is present")
        if left() < 30:
            return record(name, "skipped", reason="out of time")
        status, seconds, out, err = run(
            [sys.executable, "-m", "pytest", *TESTS, "-m", marker, "-q", "-rs", "-p", "no:cacheprovider"], left()
        )
        record(
            name,
            status,
            seconds,
            tests=pytest_summary(out),
            **({} if status == "passed" else {"output": (out + err)[-6000:]}),
        )

    tests("cuda-tests", "cuda")
    child("study-1m", True, "--seeds", str(a.seeds))
    child("seed-777", False)
    if not cuda:
        record(
            "pipeline",
            "skipped",
            reason="needs CUDA; none is present (the CPU pipeline: `time xorlab-train --out /tmp/m`)",
        )
    elif left() < 30:
        record("pipeline", "skipped", reason="out of time")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            status, seconds, out, err = run(
                [sys.executable, "-m", "xorlab.train", "--device", "cuda", "--out", f"{tmp}/models"], left()
            )
            detail = {"output": (out + err)[-3000:]}
            if status == "passed":
                detail = {"result": pipeline_figures(json.loads((Path(tmp) / "models" / "manifest.json").read_text()))}
            record("pipeline", status, seconds, **detail)
    tests("train-tests", "not cuda")

    summary["total_seconds"] = round(time.monotonic() - started, 1)
    a.summary.parent.mkdir(parents=True, exist_ok=True)
    a.summary.write_text(json.dumps(summary, indent=2) + "\n")
    failed = [s["name"] for s in summary["steps"] if s["status"] not in ("passed", "skipped")]
    skipped = [s["name"] for s in summary["steps"] if s["status"] == "skipped"]
    print(
        f"gpu check: {summary['total_seconds']} s; failed: {', '.join(failed) or 'none'}; "
        f"skipped: {', '.join(skipped) or 'none'}; summary in {a.summary}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
