"""The sandbox for model-written code: output, tracebacks, the limits, and the refused operations."""

import socket
import sys
import textwrap
from pathlib import Path

import pytest

from jaxinterp.agent import sandbox
from jaxinterp.agent.sandbox import SandboxLimits, SandboxResult, run_code, run_script
from jaxinterp.errors import InputError

FAST = SandboxLimits(wall_seconds=1.5, memory_mb=256, output_bytes=10_000, file_mb=1)


def _code(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


def test_normal_code_returns_its_stdout():
    result = run_code("print(sum(range(10)))\nprint('done')")
    assert result.ok and result.returncode == 0
    assert result.stdout == "45\ndone\n"
    assert result.stderr == ""
    assert result.text() == "45\ndone"


def test_exception_returns_the_traceback_of_the_code_only():
    code = _code("""
        def f(x):
            return 1 / x
        print("before")
        f(0)
    """)
    result = run_code(code)
    assert result.returncode == 1 and not result.ok
    assert result.stdout == "before\n"
    assert 'File "main.py", line 4, in <module>' in result.stderr
    assert 'File "main.py", line 2, in f' in result.stderr
    assert result.stderr.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "_sandbox_child" not in result.stderr
    assert result.text().startswith("before\nTraceback (most recent call last):")


def test_syntax_error_is_reported():
    result = run_code("x = (\n")
    assert result.returncode == 1
    assert "SyntaxError" in result.stderr and "main.py" in result.stderr


def test_infinite_loop_is_killed_at_the_wall_clock_limit():
    result = run_code("print('started')\nwhile True:\n    pass\n", FAST)
    assert result.timed_out and result.returncode is None
    assert 1.4 < result.seconds < 4.0
    assert result.stdout == "started\n"  # printed before the kill, not lost in a buffer
    assert "time limit" in result.text()


@pytest.mark.parametrize(
    "code",
    ["data = bytearray(4 * 1024**3)\n", "chunks = []\nwhile True:\n    chunks.append(bytearray(10**6))\n"],
    ids=["one-huge-allocation", "list-growth"],
)
def test_memory_bomb_is_stopped_and_reported(code):
    result = run_code(code, FAST)
    assert result.memory_exceeded and not result.timed_out
    assert result.returncode == 1
    assert "MemoryError" in result.stderr
    assert "memory limit" in result.text()
    assert run_code("print('parent still fine')").stdout == "parent still fine\n"


@pytest.fixture
def listener():
    """A listening TCP socket on 127.0.0.1, checked to accept connections from outside the sandbox."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.5)
        with socket.create_connection(server.getsockname(), timeout=2):
            server.accept()[0].close()
        yield server


@pytest.mark.parametrize("namespace", [True, False], ids=["network-namespace-if-available", "audit-hook-only"])
def test_socket_connection_fails_inside(listener, namespace, monkeypatch):
    if not namespace:
        monkeypatch.setattr(sandbox, "_isolation_prefix", lambda: ())
    host, port = listener.getsockname()
    code = _code(f"""
        import socket
        try:
            socket.create_connection(({host!r}, {port}), timeout=2)
            print("connected")
        except OSError as error:
            print("refused:", type(error).__name__, error)
    """)
    result = run_code(code)
    assert result.stdout.startswith("refused:"), result.text()
    with pytest.raises(TimeoutError):
        listener.accept()


@pytest.mark.skipif(not sandbox._isolation_prefix(), reason="no unprivileged user + network namespaces here")
def test_network_namespace_has_no_interfaces_but_loopback():
    result = run_code("import socket\nprint(sorted(name for _, name in socket.if_nameindex()))\n")
    assert result.stdout == "['lo']\n", result.text()


def test_falls_back_when_unshare_fails(monkeypatch):
    monkeypatch.setattr(sandbox, "_isolation_prefix", lambda: ("unshare", "--no-such-option"))
    assert run_code("print('ran anyway')\n", FAST).stdout == "ran anyway\n"


def test_writes_outside_the_workdir_fail_and_inside_work(tmp_path):
    outside, keep = tmp_path / "outside.txt", tmp_path / "keep.txt"
    keep.write_text("mine")
    workdir = tmp_path / "work"
    result = run_code(
        _code(f"""
            import os, pathlib, shutil
            attempts = {{
                "open": lambda: open({str(outside)!r}, "w"),
                "pathlib": lambda: pathlib.Path({str(outside)!r}).write_text("x"),
                "os.open": lambda: os.open({str(outside)!r}, os.O_WRONLY | os.O_CREAT),
                "relative": lambda: open("../outside.txt", "a"),
                "remove": lambda: os.remove({str(keep)!r}),
                "rename": lambda: os.rename({str(keep)!r}, "stolen.txt"),
                "rmtree": lambda: shutil.rmtree({str(tmp_path)!r}),
                "symlink": lambda: (os.symlink({str(tmp_path)!r}, "link"), open("link/outside.txt", "w")),
            }}
            for name, attempt in attempts.items():
                try:
                    attempt()
                    print(name, "WROTE")
                except PermissionError:
                    print(name, "refused")
            pathlib.Path("sub").mkdir()
            pathlib.Path("sub/inside.txt").write_text("hello")
            shutil.copy("sub/inside.txt", "copy.txt")
            print(open("copy.txt").read())
        """),
        FAST,
        workdir=workdir,
    )
    assert result.ok, result.text()
    assert "WROTE" not in result.stdout
    assert result.stdout.count("refused") == 8
    assert result.stdout.endswith("hello\n")
    assert not outside.exists()
    assert keep.read_text() == "mine"
    assert (workdir / "sub" / "inside.txt").read_text() == "hello"


def test_printing_forever_is_truncated_at_the_output_limit():
    result = run_code("while True:\n    print('spam' * 20)\n", FAST)
    assert result.output_truncated and result.timed_out
    assert len(result.stdout.encode()) < FAST.output_bytes + 200
    assert result.stdout.startswith("spam")
    assert "bytes cut here: output limit" in result.stdout
    assert "output truncated" in result.text()


@pytest.mark.parametrize(
    "call",
    ["subprocess.run(['echo', 'hi'])", "os.system('echo hi')", "os.execv('/bin/echo', ['echo'])", "os.fork()"],
)
def test_starting_processes_is_refused(call):
    result = run_code(f"import os, subprocess\n{call}\n", FAST)
    assert result.returncode == 1
    assert "hi" not in result.stdout
    assert "PermissionError: sandbox: starting processes is disabled" in result.stderr


def test_ctypes_is_refused_but_numpy_imports():
    assert "ImportError: sandbox: importing" in run_code("import ctypes\n", FAST).stderr
    result = run_code("import numpy as np\nprint(np.arange(4).sum())\n", SandboxLimits(wall_seconds=10))
    assert result.stdout == "6\n", result.text()


def test_args_are_passed_through():
    result = run_code("import sys\nprint(sys.argv)\n", args=["1.5", "two words", "-3"])
    assert result.stdout == "['main.py', '1.5', 'two words', '-3']\n"


def test_run_script_copies_the_script_and_its_helpers(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "function.py").write_text(
        "import sys\nfrom helper import f\nprint([f(float(x)) for x in sys.argv[1:]])\nopen('out.txt', 'w')\n"
    )
    (source / "helper.py").write_text("def f(x):\n    return 2 * x\n")
    result = run_script(source / "function.py", ["1", "-2.5"], FAST, helpers=[source / "helper.py"])
    assert result.ok and result.stdout == "[2.0, -5.0]\n", result.text()
    assert not (source / "out.txt").exists()  # it wrote into its work dir, not next to the original


def test_files_are_written_into_the_workdir_and_may_not_escape(tmp_path):
    result = run_code("print(open('data/x.txt').read())\n", files={"data/x.txt": "payload"})
    assert result.stdout == "payload\n"
    for name in ("../evil.py", str(tmp_path / "evil.py"), "main.py"):
        with pytest.raises(InputError):
            run_code("pass\n", files={name: "x"})


def test_temporary_workdir_is_removed():
    result = run_code("import os, pathlib\nprint(os.getcwd())\npathlib.Path('left.txt').write_text('x')\n")
    assert result.ok and not Path(result.stdout.strip()).exists()


def test_exit_status_and_signals_are_reported():
    assert run_code("import sys\nsys.exit(3)\n").text() == "[sandbox: exited with code 3]"
    killed = run_code("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")
    assert killed.returncode == -11 and "SIGSEGV" in killed.text()
    assert run_code("pass\n").text() == "[sandbox: no output]"


def test_text_renders_stdout_stderr_then_notes():
    result = SandboxResult("out\n", "err\n", None, True, False, True, 2.04)
    assert result.text() == (
        "out\nerr\n[sandbox: killed after 2.0 s, the time limit]\n[sandbox: output truncated at the output limit]"
    )


def test_limits_must_be_positive():
    with pytest.raises(InputError):
        SandboxLimits(wall_seconds=0)


def test_child_uses_the_same_interpreter():
    result = run_code("import sys\nprint(sys.executable)\n")
    assert result.stdout.strip() == sys.executable
