"""One typed config per run, with the lesson's defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from xorlab.train.models import ARCHS


class ConfigError(ValueError):
    """A bad configuration: reported as one line on stderr, exit code 2."""


@dataclass
class TrainConfig:
    archs: list[str] = field(default_factory=lambda: list(ARCHS))  # what to train, in this order
    steps: int = 10_001  # the lesson's `for step in range(10001)`
    lr: float = 1.0  # the lab's rate (its comment: "modified learning rate from 0.1 to 1")
    seed: int = 777  # torch.manual_seed(777), as every notebook of the lab
    device: str = "auto"  # auto = CUDA when available, else CPU
    out: str = "models"  # the model repository to publish into
    log_every: int = 0  # print the loss every N steps as the lesson does (0 = quiet)
    curve_every: int = 100  # loss-curve resolution kept in the manifest
    study_seeds: int | None = None  # many-seed XOR study: seeds per architecture (None = device default; 0 = skip)
    function_seeds: int | None = None  # capacity table: seeds for each other boolean function (None = device default)
    if_missing: bool = False  # skip everything when `out` already holds a readable repository

    def validate(self) -> None:
        unknown = [a for a in self.archs if a not in ARCHS]
        if unknown:
            raise ConfigError(f"unknown architecture {unknown[0]!r}; expected one of: {', '.join(ARCHS)}")
        if not self.archs:
            raise ConfigError("no architecture to train")
        if self.steps <= 0:
            raise ConfigError(f"--steps must be a positive integer, got {self.steps}")
        if not self.lr > 0 or self.lr == float("inf"):
            raise ConfigError(f"--lr must be a positive finite number, got {self.lr}")
        if self.log_every < 0:
            raise ConfigError(f"--log-every must be >= 0, got {self.log_every}")
        if self.study_seeds is not None and self.study_seeds < 0:
            raise ConfigError(f"--study-seeds must be >= 0, got {self.study_seeds}")
        if self.function_seeds is not None and self.function_seeds < 0:
            raise ConfigError(f"--function-seeds must be >= 0, got {self.function_seeds}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"--device must be auto, cpu or cuda, got {self.device!r}")

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for but CUDA is not available (no GPU or a CPU build of torch)")
        return torch.device(self.device)


# The study's default sizes per device: (XOR seeds, seeds for each other boolean function), per architecture.
# The CPU's keep the whole default pipeline within its 60 s target on 2 cores (docs/benchmarks.md,
# training speed). The GPU's give intervals a thirtieth as wide on XOR and a seventieth as wide in
# the capacity table (width ~ 1/sqrt(n)): 2.5 million networks per architecture, trained together.
# The step's buffers take 3.6 KB a network for 2-10-10-10-1 (9 GB on the device for its 2.5
# million), 0.3 KB for 2-2-1.
STUDY_SIZES = {"cpu": (1_000, 20), "cuda": (1_000_000, 100_000)}


def study_seeds(cfg: TrainConfig, device: torch.device) -> int:
    """XOR seeds per architecture: --study-seeds, or the device's default."""
    if cfg.study_seeds is not None:
        return cfg.study_seeds
    return STUDY_SIZES.get(device.type, STUDY_SIZES["cpu"])[0]


def function_seeds(cfg: TrainConfig, device: torch.device) -> int:
    """Seeds per architecture for each of the other 15 boolean functions: --function-seeds, or the device's default."""
    if cfg.function_seeds is not None:
        return cfg.function_seeds
    return STUDY_SIZES.get(device.type, STUDY_SIZES["cpu"])[1]


def describe(device: torch.device) -> str:
    """What the manifest records: 'cpu' or 'cuda:0 (NVIDIA H100 80GB HBM3)'."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return "cpu"
