"""Training speed: the batched many-seed study against the lesson's one-model Python loop.

    python -m bench.study_speed [--seeds 1000] [--steps 2001] [--device cpu|cuda|all]

Prints model-steps per second for each architecture, the lesson loop (one network, the lab's
code: nn.Sequential + BCELoss + SGD, one step per Python iteration) and the batched study
(`--seeds` networks per step, xorlab/train/batched_trainer.py, its initialisation included), measured in the
same run, each the best of `--repeat` runs (other processes only ever slow a run down), and their
ratio. The load average is printed before and after: figures taken on a busy machine are not
results. The whole default pipeline is timed by `time xorlab-train --out /tmp/m` (see
docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from xorlab.modelrepo.spec import INPUTS, XOR_FUNCTION, function_targets
from xorlab.train.batched_trainer import Networks, train_batch
from xorlab.train.data import xor_table
from xorlab.train.initial_weights import initial_params
from xorlab.train.models import ARCHS


def lesson_loop(layers: tuple[int, ...], steps: int, device: torch.device) -> float:
    """Seconds for `steps` steps of the lab's own loop on one network."""
    torch.manual_seed(777)
    mods = []
    for i, o in zip(layers[:-1], layers[1:], strict=True):
        mods += [torch.nn.Linear(i, o), torch.nn.Sigmoid()]
    model = torch.nn.Sequential(*mods).to(device)
    X, Y = xor_table(device)
    criterion = torch.nn.BCELoss().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1)
    started = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad()
        cost = criterion(model(X), Y)
        cost.backward()
        optimizer.step()
    cost.item()  # wait for the device
    return time.perf_counter() - started


def kernels_per_step(name: str) -> int:
    """Operators one batched step dispatches: on a GPU, each is a kernel launch and a pass over memory."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.n += 1
            return func(*args, **(kwargs or {}))

    Y = torch.tensor([function_targets(XOR_FUNCTION)] * 8).t().unsqueeze(1).contiguous()
    nets = Networks(
        initial_params(ARCHS[name], range(8), torch.device("cpu")), torch.tensor(INPUTS), Y, 1.0, ARCHS[name].trainer
    )
    with torch.inference_mode(), Count():
        nets.step()
    return Count.n


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.study_speed", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seeds", type=int, default=1000)
    p.add_argument("--steps", type=int, default=2001)
    p.add_argument("--device", default="all", help="cpu, cuda or all (cuda when present)")
    p.add_argument("--threads", type=int, default=1, help="CPU intra-op threads, as xorlab-train uses (default 1)")
    p.add_argument("--repeat", type=int, default=3, help="runs of each, the fastest kept (default 3)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    devices = [torch.device("cpu")] if a.device in ("cpu", "all") else []
    if a.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
        f"{a.seeds} seeds x {a.steps} steps per batched run; load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'device':<7} {'architecture':<13} {'lesson loop':>14} {'batched':>16} {'ratio':>8} {'kernels/step':>13}")
    for device in devices:
        for name, arch in ARCHS.items():
            lesson = a.steps / min(lesson_loop(arch.layers, a.steps, device) for _ in range(a.repeat))
            xor = torch.tensor([function_targets(XOR_FUNCTION)]).expand(a.seeds, 4)
            seconds = min(train_batch(arch, range(a.seeds), xor, a.steps, 1.0, device).seconds for _ in range(a.repeat))
            batched = a.seeds * a.steps / seconds
            print(
                f"{device.type:<7} {name:<13} {lesson:>9,.0f} st/s {batched:>11,.0f} st/s {batched / lesson:>7,.0f}x "
                f"{kernels_per_step(name):>13}",
                flush=True,
            )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
