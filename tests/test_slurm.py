"""The SLURM recipe of docs/cluster.md on a real SLURM: the test starts a one-node SLURM of its
own (Debian's slurm-wlm and munge, as root; ``make test`` installs them), submits dask workers
with ``dask_jobqueue.SLURMCluster`` and checks that an OI reconstruct computed in the SLURM job
equals the synchronous scheduler's. Everything listens or connects on the loopback only, and the
daemons, the job and its workers are stopped whatever happens."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import dask
import numpy as np
import pytest
import xarray as xr
from conftest import make_profiles, make_target

import xdepthdif  # noqa: F401  (the depthdif accessor)

pytestmark = pytest.mark.slow

DAEMONS = ("munged", "slurmctld", "slurmd")
COMMANDS = ("sbatch", "squeue", "sinfo", "scancel")
# Debian puts the daemons in /usr/sbin, which a user's PATH may lack.
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
# Set in the environment of the daemons and of the jobs they run, so that teardown finds every
# process that this SLURM started (slurmd's job steps outlive slurmd).
MARKER = "XDEPTHDIF_TEST_SLURM"
PARTITION = "compute"
TIMES = [f"2020-{m:02d}-15" for m in range(1, 5)]  # 4 time steps: 4 tasks
FIELDS = ("thetao", "thetao_sd", "obs_count")
IDLE_TIMEOUT_S = 60.0
WORKERS_TIMEOUT_S = 180.0


def executable(name: str) -> str | None:
    """The path of ``name`` on PATH or in /usr/sbin, /sbin."""
    return shutil.which(name, path=SEARCH_PATH)


def free_port() -> int:
    """A TCP port free on the loopback now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, or a note that it is missing."""
    if not path.exists():
        return f"--- {path.name}: missing"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join([f"--- {path.name} (last {len(text)} lines)", *text])


class OneNodeSlurm:
    """munged, slurmctld and slurmd of a one-node SLURM whose state, spool, logs, munge key and
    socket live in a temporary directory; the node is this host with its real CPUs and memory
    (``slurmd -C``) at 127.0.0.1, in one partition. Use as a context manager."""

    def __init__(self, exes: dict[str, str]) -> None:
        self.exes = exes
        # short and world-traversable: munged checks the socket's directories, and a unix
        # socket path must fit in about 100 bytes
        self.root = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))
        self.root.chmod(0o755)
        self.logs = self.root / "log"
        self.conf = self.root / "slurm.conf"
        self.socket = self.root / "munge" / "munge.socket"
        self.procs: dict[str, subprocess.Popen] = {}
        self.node = ""
        self.cpus = 0
        base = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))}
        self.env = base | {"SLURM_CONF": str(self.conf), MARKER: str(self.root)}

    def __enter__(self) -> OneNodeSlurm:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, *args: str, timeout: float = 30.0) -> str:
        """Run a SLURM command of this cluster; its stdout."""
        cmd = [self.exes.get(args[0], args[0]), *args[1:]]
        out = subprocess.run(
            cmd, env=self.env, capture_output=True, text=True, timeout=timeout, check=True
        )
        return out.stdout

    def log_report(self) -> str:
        """The daemons' logs, for an error message."""
        files = sorted(self.logs.glob("*"))
        return "\n".join(tail(path) for path in files) or f"no logs in {self.logs}"

    def start(self) -> None:
        """Write the key and the configuration, start the daemons, wait for an idle node."""
        for sub in ("munge", "log", "state", "spool"):
            (self.root / sub).mkdir(mode=0o755)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(secrets.token_bytes(128))
        key.chmod(0o600)
        munge = self.root / "munge"
        self._spawn(
            "munged",
            "--foreground",
            f"--socket={self.socket}",
            f"--key-file={key}",
            f"--log-file={self.logs / 'munged.log'}",
            f"--pid-file={munge / 'munged.pid'}",
            f"--seed-file={munge / 'munged.seed'}",
        )
        self._wait_for(self.socket.exists, 20.0, "munged never created its socket")
        self.conf.write_text(self._config())
        self._spawn("slurmctld", "-D", "-i", "-f", str(self.conf))
        self._spawn("slurmd", "-D", "-f", str(self.conf))
        self._wait_for(self._node_idle, IDLE_TIMEOUT_S, "the node never became idle in sinfo")

    def _config(self) -> str:
        """slurm.conf: this host as the only node, at 127.0.0.1, on free ports."""
        probe = subprocess.run(
            [self.exes["slurmd"], "-C"], capture_output=True, text=True, timeout=30, check=True
        )
        node_line = probe.stdout.splitlines()[0]
        match = re.match(r"NodeName=(\S+) .*\bCPUs=(\d+)", node_line)
        assert match, f"unexpected `slurmd -C` output: {probe.stdout!r}"
        self.node, self.cpus = match.group(1), int(match.group(2))
        r = self.root
        return f"""\
ClusterName=xdepthdif
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.socket}
StateSaveLocation={r / "state"}
SlurmdSpoolDir={r / "spool"}
SlurmctldPidFile={r / "slurmctld.pid"}
SlurmdPidFile={r / "slurmd.pid"}
SlurmctldLogFile={self.logs / "slurmctld.log"}
SlurmdLogFile={self.logs / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={self.logs / "jobcomp.txt"}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
KillWait=5
MailProg=/bin/true
{node_line} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName={PARTITION} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
"""

    def _spawn(self, name: str, *args: str) -> None:
        """Start a daemon in the foreground (``-D``/``--foreground``), in its own session."""
        with (self.logs / f"{name}.out").open("w") as out:
            self.procs[name] = subprocess.Popen(
                [self.exes[name], *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.root,
                start_new_session=True,
            )

    def _node_idle(self) -> bool:
        try:
            states = self.run("sinfo", "-h", "-N", "-o", "%T", timeout=10).split()
        except (subprocess.SubprocessError, OSError):
            return False  # slurmctld not listening yet
        return states == ["idle"]

    def _wait_for(self, ready, timeout: float, what: str) -> None:
        """Poll ``ready`` until true; a daemon that exits or the timeout raises with the logs."""
        deadline = time.monotonic() + timeout
        while not ready():
            dead = {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}
            if dead or time.monotonic() > deadline:
                why = f"exited: {dead}" if dead else f"after {timeout:.0f} s"
                raise RuntimeError(f"one-node SLURM: {what} ({why})\n{self.log_report()}")
            time.sleep(0.25)

    def stop(self) -> None:
        """Cancel the jobs, stop the daemons, kill what they left and remove the directory."""
        with contextlib.suppress(Exception):
            if self.procs.get("slurmctld") and self.procs["slurmctld"].poll() is None:
                self.run("scancel", f"--partition={PARTITION}", timeout=15)
                deadline = time.monotonic() + 20
                while self.run("squeue", "-h", timeout=10).strip():
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.get(name)
            if proc is None:
                continue
            if proc.poll() is None:
                proc.terminate()  # the daemon stops (and reaps) its own helpers
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=15)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of its session
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
        deadline = time.monotonic() + 10  # job steps and workers left behind, by the marker
        while self.kill_marked() and time.monotonic() < deadline:
            time.sleep(0.2)
        shutil.rmtree(self.root, ignore_errors=True)

    def marked(self) -> list[int]:
        """The processes (not this one) whose environment carries this SLURM's marker."""
        tag = f"{MARKER}={self.root}".encode()
        found = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if tag in (proc / "environ").read_bytes().split(b"\0"):
                    found.append(int(proc.name))
        return found

    def kill_marked(self) -> list[int]:
        """SIGKILL the marked processes; their ids."""
        pids = self.marked()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids


@pytest.fixture
def slurm(monkeypatch) -> Iterator[OneNodeSlurm]:
    """A running one-node SLURM; the test process's SLURM commands (those dask-jobqueue runs)
    talk to it."""
    if not sys.platform.startswith("linux"):
        pytest.skip("a one-node SLURM needs Linux")
    for module in ("distributed", "dask_jobqueue"):
        pytest.importorskip(module, reason=f"{module} is missing: pip install -e '.[test]'")
    found = {name: executable(name) for name in (*DAEMONS, *COMMANDS)}
    missing = sorted(name for name, path in found.items() if path is None)
    if missing:
        pytest.skip(
            f"one-node SLURM: {', '.join(missing)} not found; `make test` as root installs "
            "Debian's slurm-wlm and munge"
        )
    if os.geteuid() != 0:
        pytest.skip("one-node SLURM: starting slurmd (SlurmUser=root) needs root")
    for name in list(os.environ):
        if name.startswith(("SLURM_", "SBATCH_")):
            monkeypatch.delenv(name)
    exes = {name: path for name, path in found.items() if path is not None}
    with OneNodeSlurm(exes) as cluster:
        monkeypatch.setenv("SLURM_CONF", str(cluster.conf))
        monkeypatch.setenv(MARKER, str(cluster.root))  # the jobs inherit it through sbatch
        monkeypatch.setenv("PATH", SEARCH_PATH)
        yield cluster
    assert not cluster.marked(), "processes of the one-node SLURM are still running"


def job_logs(folder: Path) -> str:
    """The worker jobs' stdout and stderr, for an error message."""
    return "\n".join(tail(path) for path in sorted(folder.glob("*"))) or f"no job logs in {folder}"


def test_the_docs_slurm_recipe_runs_on_a_one_node_slurm(slurm, tmp_path):
    """docs/cluster.md's SLURMCluster, scaled to one job of single-threaded workers, writes an
    OI analysis to zarr from inside the SLURM job, bit for bit the store that the synchronous
    scheduler writes."""
    from dask.distributed import Client, get_task_stream
    from dask_jobqueue import SLURMCluster

    obs = make_profiles(n=60, seed=3, times=TIMES)
    target = make_target(times=TIMES)
    with dask.config.set(scheduler="synchronous"):  # the same store, written locally
        target.depthdif.reconstruct(obs=obs, method="oi").to_zarr(
            tmp_path / "reference.zarr", consolidated=False
        )

    cores = min(2, slurm.cpus)
    activate = Path(sys.prefix) / "bin" / "activate"
    jobs = tmp_path / "jobs"
    cluster = SLURMCluster(
        queue=PARTITION,
        account="my_project",
        cores=cores,
        processes=cores,  # single-threaded workers
        memory="4GB",
        walltime="00:10:00",
        job_script_prologue=[f"source {activate}"] if activate.exists() else [],
        log_directory=str(jobs),
        interface="lo",
        scheduler_options={"dashboard_address": "127.0.0.1:0"},
    )
    try:
        script = cluster.job_script()
        for directive in (f"-p {PARTITION}", "-A my_project", f"--cpus-per-task={cores}"):
            assert f"#SBATCH {directive}" in script, script
        cluster.scale(jobs=1)
        with Client(cluster) as client:
            try:
                client.wait_for_workers(cores, timeout=WORKERS_TIMEOUT_S)
            except TimeoutError:
                queue = slurm.run("squeue", "-h", "-o", "%i %T %r")
                pytest.fail(
                    f"no {cores} workers within {WORKERS_TIMEOUT_S:.0f} s; squeue: {queue!r}\n"
                    f"{job_logs(jobs)}\n{slurm.log_report()}"
                )
            job_ids = [job.job_id for job in cluster.workers.values()]
            queue = slurm.run("squeue", "-h", "-o", "%i %T %P").split()
            with get_task_stream(client) as stream:
                lazy = target.depthdif.reconstruct(obs=obs, method="oi")
                lazy.to_zarr(tmp_path / "analysis.zarr", consolidated=False)
            in_job = client.run(lambda: os.environ.get("SLURM_JOB_ID"))
    finally:
        cluster.close()

    assert len(job_ids) == 1 and job_ids[0], job_ids
    assert queue == [job_ids[0], "RUNNING", PARTITION]
    assert len(in_job) == cores and set(in_job.values()) == set(job_ids), in_job
    ran = {t["worker"] for t in stream.data if "analyse_step" in str(t["key"])}
    assert ran and ran <= set(in_job), (ran, in_job)
    result = xr.open_zarr(tmp_path / "analysis.zarr", consolidated=False).load()
    reference = xr.open_zarr(tmp_path / "reference.zarr", consolidated=False).load()
    for name in FIELDS:
        assert result[name].dtype == reference[name].dtype, name
        np.testing.assert_array_equal(result[name].values, reference[name].values, name)
    assert np.isfinite(reference.thetao.values).any()
