"""Running the bridge as users do, in a child process, and measuring only that process.

CPU comes from ``os.wait4``, which returns the resource usage of that one child (user + system
time, peak RSS): the servers, being other processes, are never counted, and neither is this
harness. Wall time is taken around the child's whole life, start-up included.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

CHILD_TIMEOUT = 900.0
# Bytecode for the bridge goes here, not into the work tree: this machine sets
# PYTHONDONTWRITEBYTECODE, and the project's sources have no __pycache__ of their own, while
# the container image has bytecode (pip compiles at install time).
PYCACHE = Path("/tmp/fedibridge-bench/pycache")


# One per checkout: an editable install points at one source tree, and several work trees of
# the project may be benchmarked on one machine.
RUNTIME = Path("/tmp/fedibridge-bench") / (
    "runtime-" + hashlib.sha256(str(Path(__file__).resolve().parents[1]).encode()).hexdigest()[:8]
)
"""A virtualenv with fedibridge and its runtime dependencies only, as in the container image.
The development venv carries test and other tools (trio, pulled in by selenium, costs httpcore
60 ms at import), which would distort start-up time and memory."""

_bin = Path(sys.executable).parent


def use_runtime(venv: Path | None, project: Path) -> Path:
    """Run the bridge from ``venv`` (created with ``pip install -e project`` when missing or
    older than pyproject.toml), or from this interpreter's venv when ``venv`` is None."""
    global _bin
    if venv is None:
        _bin = Path(sys.executable).parent
        return _bin
    marker = venv / ".installed"
    pyproject = project / "pyproject.toml"
    if not marker.exists() or marker.stat().st_mtime < pyproject.stat().st_mtime:
        if not (venv / "bin" / "python").exists():
            run_quiet([sys.executable, "-m", "venv", str(venv)], timeout=300)
        run_quiet([str(venv / "bin" / "pip"), "install", "-q", "-e", str(project)], timeout=900)
        marker.touch()
    _bin = venv / "bin"
    return _bin


def bridge_python() -> str:
    return str(_bin / "python")


def fedibridge_command() -> list[str]:
    script = _bin / "fedibridge"
    if script.exists():
        return [str(script)]
    found = shutil.which("fedibridge")
    return [found] if found else [bridge_python(), "-m", "fedibridge"]


def bridge_env(*, bytecode: bool = True, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The bridge's environment. ``bytecode=True``: compiled modules are cached (in PYCACHE),
    as in the container image; False: as in this development checkout, where
    PYTHONDONTWRITEBYTECODE is set and fedibridge's own modules are compiled at every start."""
    env = dict(os.environ)
    env.pop("PYTHONPYCACHEPREFIX", None)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


@dataclass(frozen=True, slots=True)
class ChildRun:
    wall: float
    user: float
    system: float
    max_rss_kb: int
    exit_code: int
    stdout: str
    stderr: str

    @property
    def cpu(self) -> float:
        return self.user + self.system


def run_child(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = CHILD_TIMEOUT,
    while_running: Callable[[int], None] | None = None,
) -> ChildRun:
    """Run ``argv`` to its end (killed after ``timeout``) and measure it.

    ``while_running(pid)`` is called in this thread while the child runs (to sample memory or
    send it a signal); the child is reaped afterwards.
    """
    out_path, err_path = cwd / "child.stdout", cwd / "child.stderr"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        process = subprocess.Popen(argv, cwd=cwd, env=env or bridge_env(), stdout=out, stderr=err)
        killer = threading.Timer(timeout, _kill, args=(process.pid,))
        killer.start()
        try:
            if while_running is not None:
                while_running(process.pid)
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - start
        # wait4 reaped the child; tell Popen, or it would try to reap it again.
        process.returncode = os.waitstatus_to_exitcode(status)
    return ChildRun(
        wall=wall,
        user=usage.ru_utime,
        system=usage.ru_stime,
        max_rss_kb=usage.ru_maxrss,
        exit_code=process.returncode,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
    )


def run_quiet(argv: Sequence[str], timeout: float = 120) -> None:
    """Run a helper command (openssl, pip...), raising with its output if it fails."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {done.stderr.strip()[-500:]}")


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


@dataclass(frozen=True, slots=True)
class Spread:
    """Repeated measurements of one figure."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    @property
    def noise(self) -> float:
        """(max - min) / median: how far apart the repeats were."""
        return (self.high - self.low) / self.median if self.median else 0.0


def spread(values: Sequence[float]) -> Spread:
    return Spread(tuple(values))


@dataclass(frozen=True, slots=True)
class MemorySample:
    elapsed: float
    rss_kb: int
    hwm_kb: int


def read_memory(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) in kB, or None once the process has gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    if len(values) < 2:
        return None  # a zombie has no memory lines
    return values["VmRSS"], values["VmHWM"]


def sample_memory(pid: int, seconds: float, every: float = 0.1) -> list[MemorySample]:
    samples: list[MemorySample] = []
    start = time.monotonic()
    for _ in range(int(seconds / every) + 1):
        memory = read_memory(pid)
        if memory is None:
            break
        samples.append(MemorySample(time.monotonic() - start, *memory))
        time.sleep(every)
    return samples


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()
