"""Run model-written Python code in a separate, limited process and return what it printed.

An interpretability agent writes code (FIND's `PYTHON(function.py x1 x2 ...)` commands, MAIA-style experiment
snippets) that we must run without trusting it. `run_code` and `run_script` start a fresh interpreter
(`sys.executable -I -B`, so no user site, no `PYTHON*` variables, no bytecode files) through
`_sandbox_child.py`, with

- **a wall-clock limit**: the child leads its own process group, killed with `SIGKILL` at the limit
  (`SandboxResult.timed_out`); `RLIMIT_CPU` (wall limit x CPU count) is a backstop should the parent die;
- **a memory limit**: `RLIMIT_AS`, so allocations fail with `MemoryError` (`memory_exceeded`). It limits
  *virtual* memory: runtimes that reserve large address spaces up front (JAX/XLA, some BLAS builds) need a
  larger `memory_mb` than they actually use;
- **an output limit**: stdout and stderr are read incrementally; each keeps its first and last bytes up to
  `output_bytes` and the middle is replaced by a marker (`output_truncated`), so a script printing forever
  costs the parent bounded memory;
- **a file-size limit**: `RLIMIT_FSIZE` (writes beyond it fail with `OSError: File too large`);
- **no network, no new processes, writes only in the work directory**: an audit hook (PEP 578) installed
  before the script runs refuses socket connect/bind/send/name lookups, `subprocess`, `os.system`,
  `os.exec*`, `os.fork`, `os.posix_spawn`, signals to other processes, changes to the rlimits, importing
  `ctypes`/`cffi`, and every write-mode `open`, remove, rename, mkdir, chmod, link, `shutil.rmtree`, ... whose
  real path is outside the work directory (`os.devnull` excepted). Reading is allowed everywhere: the
  script needs the standard library and site-packages;
- **a minimal environment**: `HOME` and `TMPDIR` point into the work directory, one BLAS/OpenMP thread,
  and the current directory is a fresh temporary directory (removed afterwards) or the one given.

Where Linux lets an ordinary user create user and network namespaces (`unshare -rn` works; checked once per
process), the child also runs in an empty network namespace (no interfaces but a down loopback), which
stops the network at the kernel whatever the script does; elsewhere this is skipped silently.

What this is and is not: the audit hook stops accidents and ordinary model-written code (a stray
`requests.get`, `os.remove("../x")`, `subprocess.run`), not a determined attacker. Code that wants out can
get around an audit hook: through any installed C extension that makes system calls itself (refusing
`ctypes` and `cffi` closes only the obvious doors), by tampering with the hook's state through `gc`, with
`os.open` relative to a directory descriptor opened outside the work directory (the `open` event does not
carry `dir_fd`), or by racing a path check against a symlink swap. Only the network namespace, where
available, is enforced by the kernel. On macOS `RLIMIT_AS` is not reliably enforced, so the memory limit
is best-effort there. `RLIMIT_NPROC` is not set: on Linux it counts every process *and thread* of the user
system-wide, so a useful value would break thread pools; new processes are refused by the hook instead. For
hostile code use a container or VM with a read-only file system and no network.

The parent survives whatever the child does: it only reads two pipes with a size cap and waits with a
deadline, and signals to other processes are refused in the child.
"""

import dataclasses
import functools
import json
import math
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from jaxinterp.errors import InputError

_CHILD = Path(__file__).with_name("_sandbox_child.py")
_MAIN = "main.py"  # the file name `run_code` gives the code; tracebacks show it
_READ_CHUNK = 65536
_DRAIN_SECONDS = 1.0  # after a kill, how long to keep reading what the pipes still hold
_MEMORY_ERROR = re.compile(r"^[\w.]*MemoryError\b|std::bad_alloc|Cannot allocate memory", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class SandboxLimits:
    """Limits for one run.

    Attributes:
        wall_seconds: Wall-clock time before the whole process group is killed.
        memory_mb: Address-space limit (`RLIMIT_AS`) of the child, in MiB.
        output_bytes: Bytes kept of each of stdout and stderr; the rest is cut from the middle.
        file_mb: Largest file the child may write (`RLIMIT_FSIZE`), in MiB.
    """

    wall_seconds: float = 10.0
    memory_mb: int = 1024
    output_bytes: int = 100_000
    file_mb: int = 50

    def __post_init__(self):
        for field in dataclasses.fields(self):
            if not getattr(self, field.name) > 0:
                raise InputError(f"SandboxLimits.{field.name} must be positive, got {getattr(self, field.name)!r}")


@dataclasses.dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed run produced.

    Attributes:
        stdout: Standard output, decoded as UTF-8 (undecodable bytes replaced), possibly truncated.
        stderr: Standard error, including the script's traceback if it raised.
        returncode: Exit status; negative for a signal (POSIX convention); None when the sandbox killed the
            process at the wall-clock limit.
        timed_out: The wall-clock (or CPU-time backstop) limit stopped the process.
        memory_exceeded: The process failed for lack of memory under the memory limit.
        output_truncated: Some output was cut at the output limit.
        seconds: Wall-clock duration of the run, interpreter start-up included.
    """

    stdout: str
    stderr: str
    returncode: int | None
    timed_out: bool
    memory_exceeded: bool
    output_truncated: bool
    seconds: float

    @property
    def ok(self) -> bool:
        """True when the code ran to completion with exit status 0."""
        return self.returncode == 0 and not self.timed_out

    def text(self) -> str:
        """What a language model should see: stdout, then stderr / traceback, then one line per limit hit."""
        parts = [s.rstrip("\n") for s in (self.stdout, self.stderr) if s.strip()]
        if self.timed_out:
            parts.append(f"[sandbox: killed after {self.seconds:.1f} s, the time limit]")
        if self.memory_exceeded:
            parts.append("[sandbox: stopped, the memory limit was exceeded]")
        if self.output_truncated:
            parts.append("[sandbox: output truncated at the output limit]")
        if self.returncode is not None and self.returncode < 0 and not (self.timed_out or self.memory_exceeded):
            parts.append(f"[sandbox: killed by signal {_signal_name(-self.returncode)}]")
        elif self.returncode and not self.stderr.strip():
            parts.append(f"[sandbox: exited with code {self.returncode}]")
        return "\n".join(parts) if parts else "[sandbox: no output]"


def run_code(
    code: str,
    limits: SandboxLimits = SandboxLimits(),  # noqa: B008 - frozen, so sharing the default is safe
    workdir: Path | None = None,
    files: dict[str, str] | None = None,
    args: Sequence[str] | None = None,
) -> SandboxResult:
    """Run a string of Python code as `main.py` in the sandbox.

    Args:
        code: Python source, run as `__main__`.
        limits: Time, memory, output and file-size limits.
        workdir: Directory the code runs in and may write to (created if missing, kept afterwards); None for a
            fresh temporary directory removed after the run.
        files: Text files to create in the work directory first, relative path -> content (helper modules,
            data); the code can import or read them.
        args: Command-line arguments, seen as `sys.argv[1:]`.

    Returns:
        The run's output and what stopped it, if anything.

    Raises:
        InputError: A file name that is absolute, leaves the work directory, or is `main.py`.
    """
    if files and _MAIN in files:
        raise InputError(f"files may not contain {_MAIN!r}: run_code writes the code there")
    return _run_in_workdir({**(files or {}), _MAIN: code}, (), _MAIN, args, limits, workdir)


def run_script(
    path: str | Path,
    args: Sequence[str] | None = None,
    limits: SandboxLimits = SandboxLimits(),  # noqa: B008 - frozen, so sharing the default is safe
    workdir: Path | None = None,
    files: dict[str, str] | None = None,
    helpers: Sequence[str | Path] = (),
) -> SandboxResult:
    """Run a script file in the sandbox, as `python path args...` would (FIND's `PYTHON(function.py x1 x2)`).

    The script and its helper files are copied into the work directory, so the script can import its helpers
    but cannot write to where they came from.

    Args:
        path: The script.
        args: Command-line arguments, seen as `sys.argv[1:]`.
        limits: Time, memory, output and file-size limits.
        workdir: As in `run_code`.
        files: As in `run_code`.
        helpers: Files or directories copied next to the script (modules it imports, data it reads).

    Returns:
        The run's output and what stopped it, if anything.

    Raises:
        InputError: The script or a helper does not exist, or a bad name in `files`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no script at {path}")
    copies = [path, *map(Path, helpers)]
    for p in copies:
        if not p.exists():
            raise InputError(f"no helper file or directory at {p}")
    return _run_in_workdir(files or {}, copies, path.name, args, limits, workdir)


def _run_in_workdir(
    files: dict[str, str],
    copies: Sequence[Path],
    script: str,
    args: Sequence[str] | None,
    limits: SandboxLimits,
    workdir: Path | None,
) -> SandboxResult:
    """Populate the work directory (a temporary one when `workdir` is None), run `script` there, clean up."""
    temporary = workdir is None
    root = Path(tempfile.mkdtemp(prefix="jaxinterp-sandbox-")) if temporary else Path(workdir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        root = root.resolve()
        for src in copies:
            if src.is_dir():
                shutil.copytree(src, root / src.name, dirs_exist_ok=True)
            else:
                shutil.copy(src, root / src.name)
        for name, content in files.items():
            target = (root / name).resolve()
            if Path(name).is_absolute() or not target.is_relative_to(root) or target == root:
                raise InputError(f"file name {name!r} must be a relative path inside the work directory")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        args = [str(a) for a in args or ()]
        result = _execute(root, script, args, limits, _isolation_prefix())
        if _isolation_prefix() and result.stderr.startswith("unshare: ") and not result.stdout:
            # Namespaces exist but could not be made this time (e.g. a per-user namespace quota): run unisolated.
            result = _execute(root, script, args, limits, ())
        return result
    finally:
        if temporary:
            shutil.rmtree(root, ignore_errors=True)


def _execute(
    workdir: Path, script: str, args: list[str], limits: SandboxLimits, prefix: Sequence[str]
) -> SandboxResult:
    """Start the child in `workdir` (behind `prefix`, e.g. `unshare -rn`), read its output under the caps and
    enforce the wall-clock limit."""
    config = {
        "memory_bytes": int(limits.memory_mb * 2**20),
        "cpu_seconds": math.ceil(limits.wall_seconds * (os.cpu_count() or 1)) + 1,
        "file_bytes": int(limits.file_mb * 2**20),
    }
    command = [*prefix, sys.executable, "-I", "-B", str(_CHILD), json.dumps(config), script, *args]
    start = time.monotonic()
    deadline = start + limits.wall_seconds
    proc = subprocess.Popen(
        command,
        cwd=workdir,
        env=_environment(workdir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        start_new_session=True,  # its own process group, killed as a whole
    )
    out, err = _CappedBuffer(limits.output_bytes), _CappedBuffer(limits.output_bytes)
    timed_out = False
    stop_reading = None  # set once the child has exited or been killed: drain the pipes until then
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ, out)
        selector.register(proc.stderr, selectors.EVENT_READ, err)
        while selector.get_map():
            now = time.monotonic()
            if stop_reading is None:
                if _exited(proc):
                    stop_reading = now + _DRAIN_SECONDS
                elif now >= deadline:
                    timed_out = True
                    _kill_group(proc)
                    stop_reading = now + _DRAIN_SECONDS
            elif now >= stop_reading:
                break  # something still holds the pipes open; what it writes is lost
            wait = (deadline if stop_reading is None else stop_reading) - now
            for key, _ in selector.select(timeout=max(min(wait, 0.1), 0.0)):
                chunk = os.read(key.fd, _READ_CHUNK)
                if chunk:
                    key.data.append(chunk)
                else:
                    selector.unregister(key.fileobj)
    while not _exited(proc):  # the pipes closed before the process ended (it closed its stdout and stderr)
        if time.monotonic() >= deadline:
            timed_out = True
            break
        time.sleep(0.01)
    _kill_group(proc)  # the group's leader is not reaped yet, so its id cannot have been reused
    returncode = proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    seconds = time.monotonic() - start
    stderr = err.text()
    if hasattr(signal, "SIGXCPU") and returncode == -signal.SIGXCPU:  # the CPU-time backstop
        timed_out = True
    memory_exceeded = not timed_out and returncode != 0 and _MEMORY_ERROR.search(stderr[-2000:]) is not None
    return SandboxResult(
        stdout=out.text(),
        stderr=stderr,
        returncode=None if timed_out and returncode == -signal.SIGKILL else returncode,
        timed_out=timed_out,
        memory_exceeded=memory_exceeded,
        output_truncated=out.dropped > 0 or err.dropped > 0,
        seconds=seconds,
    )


class _CappedBuffer:
    """Keeps the first and last bytes of a stream up to `limit` in all, counting what was dropped between."""

    def __init__(self, limit: int):
        self.tail_limit = min(limit // 4, 8192)
        self.head_limit = limit - self.tail_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0

    def append(self, chunk: bytes) -> None:
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            excess = len(self.tail) - self.tail_limit
            if excess > 0:
                del self.tail[:excess]
                self.dropped += excess

    def text(self) -> str:
        head = self.head.decode("utf-8", errors="replace")
        if not self.dropped:
            return head + self.tail.decode("utf-8", errors="replace")
        marker = f"\n... [{self.dropped} bytes cut here: output limit] ...\n"
        return head + marker + self.tail.decode("utf-8", errors="replace")


def _exited(proc: subprocess.Popen) -> bool:
    """Whether the child has exited, without reaping it (so its process-group id stays reserved)."""
    if not hasattr(os, "waitid"):
        return proc.poll() is not None
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the child's process group (it leads one); a group that is already gone is fine."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _environment(workdir: Path) -> dict[str, str]:
    """A minimal environment: nothing of the parent's but PATH, all caches and temp files in `workdir`."""
    home = str(workdir)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "TMPDIR": home,
        "MPLCONFIGDIR": home,
        "MPLBACKEND": "Agg",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2",  # glibc reserves 64 MiB of address space per arena, which RLIMIT_AS counts
    }


@functools.cache
def _isolation_prefix() -> tuple[str, ...]:
    """`("unshare", "-rn")` where an unprivileged user and network namespace can be made here, else `()`."""
    unshare = shutil.which("unshare")
    if not sys.platform.startswith("linux") or unshare is None:
        return ()
    try:
        probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return ()
    return (unshare, "-rn") if probe.returncode == 0 else ()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)
