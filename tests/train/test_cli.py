"""xorlab-train's command line: errors are one line and exit code 2; publishing is atomic."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests import ROOT
from xorlab.train.cli import main

QUICK = ["--arch", "perceptron", "--steps", "50", "--study-seeds", "0"]


ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # `python -m xorlab.train` from any folder, installed or not


def xorlab_train(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "xorlab.train", *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=ENV
    )


def verify_repository(repo: Path) -> dict:
    doc = json.loads((repo / "manifest.json").read_text())
    for m in doc["models"].values():
        for a in m["artifacts"].values():
            assert hashlib.sha256((repo / a["path"]).read_bytes()).hexdigest() == a["sha256"]
    return doc


def strays(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--arch", "resnet"], "unknown architecture 'resnet'; expected one of: perceptron, mlp, mlp-backprop, deep"),
        (["--steps", "0"], "--steps must be a positive integer, got 0"),
        (["--steps", "-5"], "--steps must be a positive integer, got -5"),
        (["--lr", "0"], "--lr must be a positive finite number, got 0.0"),
        (["--lr", "-1"], "--lr must be a positive finite number, got -1.0"),
        (["--lr", "nan"], "--lr must be a positive finite number, got nan"),
        (["--device", "tpu"], "--device must be auto, cpu or cuda, got 'tpu'"),
        (["--out", "no/such/parent/models"], "cannot publish to no/such/parent/models: its parent folder"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xorlab-train: error: ") and message in lines[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised when CUDA is absent")
def test_cuda_without_cuda_is_a_clear_error(capsys, tmp_path):
    assert main(["--device", "cuda", "--out", str(tmp_path / "m")]) == 2
    assert "--device cuda was asked for but CUDA is not available" in capsys.readouterr().err


def test_output_that_is_a_file_is_refused(capsys, tmp_path):
    (tmp_path / "models").write_text("not a folder")
    assert main([*QUICK, "--out", str(tmp_path / "models")]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err


PROC_MOUNTED = os.path.ismount("/proc")


@pytest.mark.parametrize(
    ("out", "message"),
    [
        pytest.param(
            "/proc",
            "cannot publish to /proc: it is a mount point; publish into a folder inside it, e.g. /proc/models",
            marks=pytest.mark.skipif(not PROC_MOUNTED, reason="needs /proc mounted"),
        ),
        pytest.param(
            "/proc/xorlab-models",
            "cannot publish to /proc/xorlab-models: cannot create a folder in /proc (",
            marks=pytest.mark.skipif(not PROC_MOUNTED, reason="needs /proc mounted"),
        ),
        ("/dev/null/models", "cannot publish to /dev/null/models: /dev/null is not a folder"),
        ("{tmp}/file/models", "cannot publish to {tmp}/file/models: {tmp}/file is not a folder"),
        ("{tmp}/file", "cannot publish to {tmp}/file: it exists and is not a folder"),
        (
            "{tmp}/no/such/models",
            "cannot publish to {tmp}/no/such/models: its parent folder {tmp}/no/such does not exist",
        ),
    ],
)
def test_an_output_that_cannot_be_published_to_fails_before_training(out, message, tmp_path, capsys):
    """A mount point, a path through a file, a filesystem that takes no folder: refused before the
    "training ..." banner (nothing is trained), in one line that says what is wrong."""
    (tmp_path / "file").write_text("not a folder")
    out, message = out.format(tmp=tmp_path), message.format(tmp=tmp_path)
    assert main(["--out", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and err[0].startswith(f"xorlab-train: error: {message}")


def test_argparse_rejects_wrong_types(tmp_path):
    r = xorlab_train("--steps", "ten", cwd=tmp_path)
    assert r.returncode == 2 and "invalid int value: 'ten'" in r.stderr


CUDA = pytest.param(
    "cuda",
    marks=[
        pytest.mark.cuda,
        pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none is present"),
    ],
)


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize("arch", ["perceptron", "mlp-backprop"])  # BCELoss + autograd, and the hand-written BCE
def test_nan_loss_stops_and_publishes_nothing(arch, device, monkeypatch, capsys, tmp_path):
    # On CUDA, BCELoss on a NaN is a device-side assert that kills the process's CUDA context:
    # the trainer must stop cleanly before BCELoss ever sees one.
    import xorlab.train.trainer as trainer

    real_build = trainer.build

    def poisoned(arch, seed):  # a network whose weights are NaN: the real trainer must notice
        model = real_build(arch, seed)
        with torch.no_grad():
            model.linears[0].weight.fill_(float("nan"))
        return model

    monkeypatch.setattr(trainer, "build", poisoned)
    out = tmp_path / "models"
    assert main(["--arch", arch, "--steps", "50", "--study-seeds", "0", "--device", device, "--out", str(out)]) == 2
    assert f"{arch}: weights became non-finite at step 0" in capsys.readouterr().err
    assert not out.exists() and strays(tmp_path) == []
    if device == "cuda":  # the context survived: the device still computes
        assert torch.ones(2, device="cuda").sum().item() == 2.0


@pytest.mark.parametrize("device", ["cpu", CUDA])
def test_saturated_run_exits_2_with_one_line_and_publishes_nothing(device, tmp_path):
    # --lr 1e30 drives every output to exactly 0 (loss 50, BCE's clamp): trained on, it would publish
    # a model that learns nothing more. A real process, as a user runs it.
    out = tmp_path / "models"
    r = xorlab_train(
        "--arch", "mlp", "--steps", "200", "--lr", "1e30", "--study-seeds", "0", "--device", device, "--out", str(out)
    )
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    error = [line for line in r.stderr.splitlines() if "error" in line]
    assert error == [r.stderr.strip().splitlines()[-1]]
    # Which extreme each output lands on depends on the device's rounding; on the CPU, all at 0.
    assert re.fullmatch(
        r"xorlab-train: error: mlp: diverged \(lr=1e\+30\): final outputs ([01], ){3}[01] for targets "
        r"0, 1, 1, 0 \(loss (25|50|75|100)\) are saturated at the wrong extreme or not finite; "
        r"nothing was published",
        error[0],
    ), error[0]
    if device == "cpu":
        assert "final outputs 0, 0, 0, 0 for targets 0, 1, 1, 0 (loss 50)" in error[0]
    assert not out.exists() and strays(tmp_path) == []


def test_a_diverged_network_in_the_study_stops_the_run(monkeypatch, capsys, tmp_path):
    # The served model of seed 777 trains well; one network of the study is poisoned. The real study must notice.
    import xorlab.train.batched_trainer as engine

    real = engine.initial_params

    def one_poisoned(arch, seeds, device):
        params = real(arch, seeds, device)
        params[-1][1][..., 3] = float("nan")
        return params

    monkeypatch.setattr(engine, "initial_params", one_poisoned)
    out = tmp_path / "models"
    assert (
        main(["--arch", "mlp", "--steps", "300", "--study-seeds", "10", "--function-seeds", "1", "--out", str(out)])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "xorlab-train: error: study: mlp: 1 of 25 networks diverged (lr=1.0): non-finite values or an "
        "output saturated at the wrong extreme; nothing was published"
    )
    assert not out.exists() and strays(tmp_path) == []


def test_a_study_where_no_seed_solves_draws_its_pictures_without_warnings(tmp_path):
    # 100 steps: no network solves XOR yet. The suite turns warnings into errors, so a picture that
    # warns (an empty legend) fails this run.
    out = tmp_path / "models"
    assert (
        main(["--arch", "mlp", "--steps", "100", "--study-seeds", "20", "--function-seeds", "1", "--out", str(out)])
        == 0
    )
    doc = verify_repository(out)
    assert doc["study"]["architectures"]["mlp"]["successes"] == 0
    assert "steps-to-solve.png" in {p["path"] for p in doc["pictures"]}


def test_publish_replaces_the_repository_whole(tmp_path):
    out = tmp_path / "models"
    assert (
        main(["--arch", "perceptron", "--arch", "mlp", "--steps", "50", "--study-seeds", "0", "--out", str(out)]) == 0
    )
    assert sorted(verify_repository(out)["models"]) == ["mlp", "perceptron"]
    assert out.stat().st_mode & 0o777 == 0o755, "readable by a server running as another user"
    assert main(["--arch", "deep", "--steps", "50", "--study-seeds", "0", "--out", str(out)]) == 0
    assert sorted(verify_repository(out)["models"]) == ["deep"]
    assert not (out / "mlp").exists(), "nothing of the old repository may linger"
    assert strays(tmp_path) == []


def test_full_disk_midway_is_one_line_and_leaves_the_previous_repository(monkeypatch, capsys, tmp_path):
    out = tmp_path / "models"
    assert main([*QUICK, "--out", str(out)]) == 0
    before = verify_repository(out)
    import xorlab.train.export as export

    real = export.export_onnx
    calls = []

    def fail_on_second(model, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(model, path)

    monkeypatch.setattr(export, "export_onnx", fail_on_second)
    capsys.readouterr()
    assert (
        main(["--arch", "perceptron", "--arch", "mlp", "--steps", "50", "--study-seeds", "0", "--out", str(out)]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "xorlab-train: error: cannot write the repository: No space left on device; "
        "the previous repository is untouched"
    )
    assert verify_repository(out) == before
    assert strays(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_mid_run_leaves_the_previous_repository(sig, tmp_path):
    out = tmp_path / "models"
    assert main([*QUICK, "--out", str(out)]) == 0
    before = verify_repository(out)
    proc = subprocess.Popen(
        [sys.executable, "-m", "xorlab.train", "--out", str(out), "--steps", "200000", "--study-seeds", "0"],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr.readline().startswith("training ")  # training has begun
    time.sleep(0.5)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig  # 130 for SIGINT, 143 for SIGTERM, as shells report them
    assert "interrupted; the previous repository is untouched" in err and "Traceback" not in err
    assert verify_repository(out) == before
    assert strays(tmp_path) == []


def test_unwritable_output_is_one_line(tmp_path):
    if os.geteuid() == 0:
        # root writes anywhere; a read-only bind is out of reach, so use a path through a file
        target = tmp_path / "file" / "models"
        (tmp_path / "file").write_text("x")
    else:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        target = ro / "models"
    r = xorlab_train(*QUICK, "--out", str(target))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith("xorlab-train: error: cannot publish to ")


@pytest.mark.slow
def test_summary_and_log_every(tmp_path):
    r = xorlab_train(
        "--arch",
        "perceptron",
        "--arch",
        "mlp",
        "--steps",
        "201",
        "--log-every",
        "100",
        "--study-seeds",
        "10",
        "--function-seeds",
        "2",
        "--out",
        str(tmp_path / "m"),
    )
    assert r.returncode == 0, r.stderr
    assert "perceptron 0 " in r.stdout and "mlp 200 " in r.stdout  # as the lesson prints them
    header = next(line for line in r.stdout.splitlines() if line.startswith("architecture"))
    for column in ("params", "final loss", "outputs", "acc", "solved"):
        assert column in header
    lines = r.stdout.splitlines()
    table = lines[lines.index(header) + 2 :]
    assert [row.split()[0] for row in table[:2]] == ["perceptron", "mlp"]
    assert table[0].split()[-1] in ("yes", "no") and table[0].split()[1] == "3"  # parameters
    assert "many-seed study: 10 seeds per architecture" in r.stdout
    assert any(line.startswith("perceptron") and "0/10" in line for line in lines)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; none is present")
def test_trains_on_cuda_and_records_it(tmp_path):
    from xorlab.train.config import TrainConfig
    from xorlab.train.trainer import fit

    cfg = TrainConfig()
    gpu = fit("mlp", cfg, torch.device("cuda"))
    cpu = fit("mlp", cfg, torch.device("cpu"))
    assert gpu.solved and abs(gpu.final_loss - cpu.final_loss) <= 1e-4
    assert (
        main(
            [
                "--arch",
                "mlp",
                "--steps",
                "100",
                "--device",
                "cuda",
                "--study-seeds",
                "100",
                "--function-seeds",
                "2",
                "--out",
                str(tmp_path / "m"),
            ]
        )
        == 0
    )
    doc = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert doc["models"]["mlp"]["training"]["device"].startswith("cuda:")
    assert doc["study"]["device"].startswith("cuda")


def test_if_missing_trains_once_and_then_leaves_the_repository_alone(tmp_path, capsys):
    out = tmp_path / "models"
    assert main([*QUICK, "--out", str(out), "--if-missing"]) == 0  # nothing there: it trains
    first = verify_repository(out)
    capsys.readouterr()
    assert main([*QUICK, "--out", str(out), "--if-missing"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"xorlab-train: {out} already holds a model repository (created {first['created']}); "
        "nothing to do (--if-missing)"
    ]
    assert verify_repository(out) == first
    (out / "manifest.json").write_text("{")  # unreadable: trained again
    assert main([*QUICK, "--out", str(out), "--if-missing"]) == 0
    assert verify_repository(out)["created"] >= first["created"]
