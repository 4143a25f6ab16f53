"""The child side of `jaxinterp.agent.sandbox`: set limits, install the audit hook, run the script.

Started as `python -I -B _sandbox_child.py CONFIG_JSON SCRIPT [ARGS...]` with the work directory as the
current directory. `-I` keeps the parent's package off `sys.path`, so this file imports only the standard
library and must stay standalone. In order, it

1. lowers its own resource limits (`CONFIG_JSON` holds them in bytes and seconds). Doing this here rather
   than in the parent's `preexec_fn` keeps the parent safe: `preexec_fn` may deadlock when the parent has
   threads, and a JAX process always has;
2. installs an audit hook (PEP 578) that refuses the network, new processes, `ctypes`, changes to resource
   limits, and any file-system write whose real path is outside the work directory;
3. executes SCRIPT as `__main__` with `sys.argv = [SCRIPT, *ARGS]` and the work directory first on
   `sys.path`, and on an exception prints the script's traceback without this file's frames.

The hook is the only barrier here; what it cannot stop is listed in `sandbox.py`'s docstring.
"""

import builtins
import json
import os
import sys
import traceback
import types

try:
    import resource
except ImportError:  # Windows: no rlimits; the parent's wall-clock kill still applies
    resource = None
try:
    import fcntl
except ImportError:
    fcntl = None

# Events refused whatever their arguments, with the reason the script sees in its PermissionError.
_NETWORK = "network access is disabled in the sandbox"
_PROCESS = "starting processes is disabled in the sandbox"
_REFUSED = {
    **dict.fromkeys(
        [
            "socket.bind",
            "socket.connect",
            "socket.getaddrinfo",
            "socket.gethostbyaddr",
            "socket.gethostbyname",
            "socket.getnameinfo",
            "socket.sendmsg",
            "socket.sendto",
            "urllib.Request",
            "http.client.connect",
            "ftplib.connect",
            "imaplib.open",
            "nntplib.connect",
            "poplib.connect",
            "smtplib.connect",
            "telnetlib.Telnet.open",
            "webbrowser.open",
        ],
        _NETWORK,
    ),
    **dict.fromkeys(
        [
            "subprocess.Popen",
            "os.system",
            "os.exec",
            "os.fork",
            "os.forkpty",
            "os.posix_spawn",
            "os.spawn",
            "os.startfile",
        ],
        _PROCESS,
    ),
    **dict.fromkeys(["ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "ctypes.call_function"], "ctypes is disabled"),
    **dict.fromkeys(["resource.setrlimit", "resource.prlimit"], "the sandbox's resource limits are fixed"),
}
# Modules whose import is refused (an ImportError, so libraries with an optional ctypes path still import).
_BLOCKED_MODULES = frozenset({"ctypes", "_ctypes", "cffi", "_cffi_backend"})
# Events that change the file system: (index of a path argument, index of its dir_fd argument or None).
# A negative or None dir_fd means "relative to the current directory". `open` is handled separately.
_WRITES = {
    "os.chflags": ((0, None),),
    "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),),
    "os.link": ((0, 2), (1, 3)),  # the source too: a hard link would make an outside file writable
    "os.mkdir": ((0, 2),),
    "os.mkfifo": ((0, 2),),
    "os.mknod": ((0, 3),),
    "os.remove": ((0, 1),),
    "os.removexattr": ((0, None),),
    "os.rename": ((0, 2), (1, 3)),
    "os.rmdir": ((0, 1),),
    "os.setxattr": ((0, None),),
    "os.symlink": ((1, 2),),  # the link's target is checked when something writes through it
    "os.truncate": ((0, None),),
    "os.utime": ((0, 3),),
    "shutil.chown": ((0, None),),
    "shutil.copyfile": ((1, None),),
    "shutil.copytree": ((1, None),),
    "shutil.move": ((0, None), (1, None)),
    "shutil.rmtree": ((0, 1),),
    "shutil.unpack_archive": ((1, None),),
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def _set_limits(config: dict) -> None:
    """Lower this process's rlimits; a limit the platform does not support is skipped (macOS lacks some)."""
    if resource is None:
        return
    wanted = [
        ("RLIMIT_AS", config["memory_bytes"], config["memory_bytes"]),
        ("RLIMIT_CPU", config["cpu_seconds"], config["cpu_seconds"] + 1),  # SIGXCPU, then SIGKILL
        ("RLIMIT_FSIZE", config["file_bytes"], config["file_bytes"]),
        ("RLIMIT_CORE", 0, 0),
    ]
    for name, soft, hard in wanted:
        which = getattr(resource, name, None)
        if which is None:
            continue
        _, old_hard = resource.getrlimit(which)
        if old_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, old_hard), min(hard, old_hard)
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            pass


def _fd_path(fd: int) -> str | None:
    """The path of an open directory descriptor, or None where the platform cannot tell."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        pass
    if fcntl is not None and hasattr(fcntl, "F_GETPATH"):  # macOS
        try:
            return os.fsdecode(fcntl.fcntl(fd, fcntl.F_GETPATH, bytes(1024)).rstrip(b"\0"))
        except OSError:
            pass
    return None


def _make_hook(workdir: str):
    """An audit hook that confines writes to `workdir` (a real path) and refuses `_REFUSED` events."""
    devnull = os.path.realpath(os.devnull)

    def inside(path, dir_fd) -> bool:
        if path is None or isinstance(path, int):  # an already open descriptor
            return True
        try:
            path = os.fsdecode(path)
        except TypeError:
            return False
        if not os.path.isabs(path) and isinstance(dir_fd, int) and dir_fd >= 0:
            base = _fd_path(dir_fd)
            if base is None:
                return False
            path = os.path.join(base, path)
        real = os.path.realpath(path)
        return real == workdir or real.startswith(workdir + os.sep) or real == devnull

    def refuse_write(event: str, path) -> None:
        raise PermissionError(f"sandbox: {event} outside the work directory is not allowed: {path!r}")

    def hook(event: str, args: tuple) -> None:
        if event == "open":
            path, mode, flags = args
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            if writes and not inside(path, None):
                refuse_write(event, path)
        elif event in _WRITES:
            for path_index, fd_index in _WRITES[event]:
                dir_fd = args[fd_index] if fd_index is not None else None
                if not inside(args[path_index], dir_fd):
                    refuse_write(event, args[path_index])
        elif event == "sqlite3.connect":
            database = args[0]
            if isinstance(database, str | bytes | os.PathLike):
                name = os.fsdecode(database)
                if name.startswith("file:"):
                    name = name[len("file:") :].split("?", 1)[0]
                if name not in ("", ":memory:") and not inside(name, None):
                    refuse_write(event, database)
        elif event == "import":
            name = args[0]
            if isinstance(name, str) and name.split(".", 1)[0] in _BLOCKED_MODULES:
                raise ImportError(f"sandbox: importing {name} is disabled", name=name)
        elif event in ("os.kill", "os.killpg"):
            if args[0] not in (0, os.getpid(), os.getpgrp()):
                raise PermissionError(f"sandbox: {event} of another process is not allowed")
        elif event in _REFUSED:
            raise PermissionError(f"sandbox: {_REFUSED[event]} ({event})")

    return hook


def _print_traceback(error: BaseException) -> None:
    """Print `error` like the interpreter would, leaving out this file's frames (the runner, the hook)."""
    report = traceback.TracebackException.from_exception(error)
    seen, pending = set(), [report]
    while pending:  # the exception and those chained to it
        te = pending.pop()
        if id(te) in seen:
            continue
        seen.add(id(te))
        te.stack = traceback.StackSummary.from_list([f for f in te.stack if f.filename != __file__])
        pending += [e for e in (te.__cause__, te.__context__) if e is not None]
        pending += te.exceptions or []
    print("".join(report.format()), end="", file=sys.stderr)


def main(argv: list[str]) -> None:
    """Run the script named in `argv` under the limits and the audit hook (module docstring)."""
    config, script, args = json.loads(argv[1]), argv[2], argv[3:]
    _set_limits(config)
    workdir = os.path.realpath(os.getcwd())
    sys.path.insert(0, workdir)
    sys.argv = [script, *args]
    # Line buffering, so what was printed before a kill at the wall-clock limit still reaches the parent.
    sys.stdout.reconfigure(line_buffering=True)
    with open(script, "rb") as f:  # bytes: compile() honours a coding cookie, as `python script.py` does
        source = f.read()
    module = types.ModuleType("__main__")
    module.__file__ = script
    module.__builtins__ = builtins
    sys.modules["__main__"] = module
    sys.addaudithook(_make_hook(workdir))
    try:
        exec(compile(source, script, "exec"), module.__dict__)
    except SystemExit:
        raise
    except BaseException as error:  # noqa: B036 - KeyboardInterrupt and the like are reported too
        _print_traceback(error)
        sys.stderr.flush()
        raise SystemExit(1) from None


if __name__ == "__main__":
    main(sys.argv)
