"""A real single-node Slurm for tests: Debian's slurmctld/slurmd/munge, configured in a temp dir.

The recipe is the one measured in shared/reference/workflow.md §3: one node with a fake GPU
(`gres.conf` pointing at /dev/null), no accounting (so the Snakemake plugin polls squeue), and
`MinJobAge` long enough for finished jobs to stay visible to `scontrol show job`. Daemons are
started in the foreground (-D) as children, so they are stopped by the PIDs we hold; a munged
that was already running is left alone.

The files live in a temporary folder, but Slurm's default path /etc/slurm points at them while
the cluster runs: the SLURM executor plugin deletes every SLURM_* variable (SLURM_CONF too)
before its in-job `srun` calls, so job steps only find a configuration at the default path.
Whatever /etc/slurm held before is put back afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
BINARIES = ("slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "munged")


class SlurmUnavailable(Exception):
    """Slurm cannot be installed here (no root): the test skips with this reason."""


def ensure_installed() -> None:
    """Install Debian's Slurm and munge packages if a binary is missing; root is required."""
    if all(shutil.which(b) or Path("/usr/sbin", b).exists() for b in BINARIES):
        return
    if os.geteuid() != 0:
        raise SlurmUnavailable("Slurm is not installed and installing Debian packages needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES], check=True, env=env, capture_output=True
    )


@dataclass
class Cluster:
    """A running single-node cluster; `env` makes the Slurm clients talk to it."""

    conf: Path
    env: dict[str, str]

    def scontrol_jobs(self) -> str:
        """`scontrol show job` for every job the controller remembers."""
        return subprocess.run(
            ["scontrol", "show", "job"], env=self.env, capture_output=True, text=True, check=True
        ).stdout


def _write_config(root: Path, host: str) -> Path:
    for sub in ("ctld", "d", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=mertest",
                f"SlurmctldHost={host}",
                "SlurmUser=root",
                "AuthType=auth/munge",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "SchedulerType=sched/backfill",
                f"StateSaveLocation={root / 'ctld'}",
                f"SlurmdSpoolDir={root / 'd'}",
                f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
                f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
                f"SlurmctldPidFile={root / 'slurmctld.pid'}",
                f"SlurmdPidFile={root / 'slurmd.pid'}",
                "ReturnToService=2",
                "MinJobAge=600",
                "AccountingStorageType=accounting_storage/none",
                "JobAcctGatherType=jobacct_gather/none",
                "JobCompType=jobcomp/none",
                "GresTypes=gpu",
                f"NodeName={host} CPUs={os.cpu_count() or 2} RealMemory=8000 Gres=gpu:1 State=UNKNOWN",
                "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    (root / "gres.conf").write_text(f"AutoDetect=off\nNodeName={host} Name=gpu File=/dev/null\n")
    return conf


def _munge_running() -> bool:
    return subprocess.run(["sh", "-c", "munge -n | unmunge"], capture_output=True).returncode == 0


def _start_munge() -> int | None:
    """Start munged as user munge unless one answers already; returns the PID we started."""
    if _munge_running():
        return None
    run_dir = Path("/run/munge")
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.chown(run_dir, "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], check=True)
    for _ in range(50):
        if _munge_running():
            return int(Path("/run/munge/munged.pid").read_text().strip())
        time.sleep(0.1)
    raise RuntimeError("munged did not come up")


def _wait_idle(env: dict[str, str], log_dir: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        proc = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
        state = proc.stdout.strip()
        if state == "idle":
            return
        time.sleep(0.5)
    logs = "\n".join(p.read_text()[-2000:] for p in sorted(log_dir.glob("*.log")))
    raise RuntimeError(f"Slurm node not idle after {timeout}s (state {state!r}):\n{logs}")


ETC = Path("/etc/slurm")


@contextlib.contextmanager
def linked_into_etc(conf_dir: Path) -> Iterator[None]:
    """Point /etc/slurm/{slurm,gres}.conf at `conf_dir` for the block; restore what was there."""
    ETC.mkdir(parents=True, exist_ok=True)
    saved: list[tuple[Path, Path]] = []
    try:
        for name in ("slurm.conf", "gres.conf"):
            target = ETC / name
            if target.exists() or target.is_symlink():
                backup = ETC / f"{name}.mer-test-backup"
                os.replace(target, backup)
                saved.append((backup, target))
            target.symlink_to(conf_dir / name)
        yield
    finally:
        for name in ("slurm.conf", "gres.conf"):
            link = ETC / name
            if link.is_symlink() and Path(os.readlink(link)).parent == conf_dir:
                link.unlink()
        for backup, target in saved:
            os.replace(backup, target)


@contextlib.contextmanager
def running_cluster(root: Path) -> Iterator[Cluster]:
    """Start munged (if needed), slurmctld and slurmd with a config under `root`; stop what we started."""
    ensure_installed()
    host = socket.gethostname().split(".")[0]
    conf = _write_config(root, host)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    started: list[subprocess.Popen[bytes]] = []
    munge_pid = _start_munge()
    with contextlib.ExitStack() as stack:
        stack.enter_context(linked_into_etc(root))
        stack.callback(_stop, started, munge_pid)  # runs first: daemons stop before the links go
        for daemon in ("/usr/sbin/slurmctld", "/usr/sbin/slurmd"):
            started.append(
                subprocess.Popen(
                    [daemon, "-D", "-f", str(conf)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
            time.sleep(1.0)
        _wait_idle(env, root / "log")
        yield Cluster(conf=conf, env=env)


def _stop(started: list[subprocess.Popen[bytes]], munge_pid: int | None) -> None:
    """Stop the daemons we started, by PID, newest first."""
    for proc in reversed(started):
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if munge_pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(munge_pid, 15)
