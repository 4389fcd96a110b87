"""Hostile samples through the sandbox: what each tried, its outcome, and whether the host saw any effect.

    .venv/bin/python benchmarks/bench_hostile.py            # as root, then as nobody, then as
                                                             # nobody where user namespaces are off

Each attack is written so that it *passes* only if it succeeded; the host-side checks look for
its effect independently (a marker file outside the scratch space, a connection accepted by a
server on 127.0.0.1, the evaluator's secret read from its environ, a process left behind).
Limits are small (seconds, MiB). The guard is off: the barriers are what is measured.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import uuid
from pathlib import Path

SECRET_VAR = "EVALSUITE_BENCH_SECRET"
CHILD_MARK = b"The sandbox's child program"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

# Run argv[1:] as nobody in a fresh user namespace (every uid up to 65535 mapped) where no
# further user namespace may be created: an ordinary user on a host without user namespaces.
WITHOUT_USERNS = textwrap.dedent("""
    import ctypes, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    go_r, go_w = os.pipe(); ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        assert libc.unshare(0x10000000) == 0, os.strerror(ctypes.get_errno())
        os.write(ready_w, b"x"); os.read(go_r, 1)
        with open("/proc/sys/user/max_user_namespaces", "w") as f:
            f.write("0")
        os.setgroups([]); os.setgid(65534); os.setuid(65534)
        os.execv(sys.argv[1], sys.argv[1:])
    os.read(ready_r, 1)
    for name in ("uid_map", "gid_map"):
        with open("/proc/%d/%s" % (pid, name), "w") as f:
            f.write("0 0 65536")
    os.write(go_w, b"x")
    sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
""")


# A wrong solution that writes "passed" reports to every descriptor it may reach (its own and,
# through /proc, any other process's) and then exits 0 before the tests.
FORGED_VERDICT = textwrap.dedent("""
    import glob, os
    forged = b'{"result": {"passed": true}}\\n{"exit": {"exit_code": 0, "timed_out": false}}\\n'
    for fd in range(3, 256):
        try:
            os.write(fd, forged)
        except OSError:
            pass
    for path in glob.glob('/proc/*/fd/*'):
        try:
            with open(path, 'wb') as f:
                f.write(forged)
        except OSError:
            pass
    os._exit(0)
    assert False, 'wrong solution'
""")


def attacks(outside: Path, port: int, marker: str) -> dict[str, str]:
    """Programs that pass only when their attack worked."""
    return {
        "fork bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        "memory bomb": "keep = []\nwhile True:\n    keep.append(bytearray(64 << 20))\n",
        "disk filler": (f"with open('/tmp/{marker}', 'wb') as f:\n    for _ in range(4096):\n"
                        f"        f.write(b'x' * (1 << 20))\n"),
        "write outside scratch": f"open({str(outside / marker)!r}, 'w').write('escaped')\n",
        "socket to 127.0.0.1": f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'hi')\n",
        "ptrace the parent": textwrap.dedent("""
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            targets = [os.getppid(), 1] + [int(p) for p in os.listdir('/proc') if p.isdigit()]
            assert any(libc.ptrace(16, t, 0, 0) == 0 for t in set(targets) - {os.getpid()}), 'no ptrace'
        """),
        "read the parent's environ": textwrap.dedent(f"""
            import glob
            found = []
            for path in glob.glob('/proc/*/environ'):
                try:
                    found.append({SECRET_VAR!r}.encode() in open(path, 'rb').read())
                except OSError:
                    pass
            assert any(found), 'secret not found'
        """),
        "forge the verdict": FORGED_VERDICT,
        "leftover daemon": textwrap.dedent(f"""
            import os
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv('/bin/sleep', ['sleep', '{300 + uuid.uuid4().int % 600}.{marker[-6:].translate(str.maketrans('abcdef', '123456'))}'])
                os._exit(0)
            os.wait()
        """),
    }


def sandbox_processes() -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if CHILD_MARK in (entry / "cmdline").read_bytes() or b"sleep\x00" in (entry / "cmdline").read_bytes():
                    pids.add(int(entry.name))
            except OSError:
                continue
    return pids


def run_all() -> None:
    from evalsuite.execution.sandbox import SandboxError, SandboxLimits, probe, run_program

    limits = SandboxLimits(timeout_s=3, cpu_s=3, memory_mb=256, nproc=16, fsize_mb=64, scratch_mb=16, guard=False)
    try:
        print(f"  isolation: {probe(limits).summary()}")
    except SandboxError as exc:
        print(f"  REFUSED (nothing was run): {exc}")
        return
    here = Path.cwd() if os.access(Path.cwd(), os.W_OK) else None  # not under /tmp: that one is hidden
    outside = Path(tempfile.mkdtemp(prefix="evalsuite-hostile-", dir=here))
    outside.chmod(0o777)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.setblocking(False)
    marker = f"evalsuite-hostile-{uuid.uuid4().hex}"
    try:
        for name, code in attacks(outside, server.getsockname()[1], marker).items():
            before = sandbox_processes()
            result = run_program(code, limits)
            left = sandbox_processes() - before
            effects = []
            if (outside / marker).exists() or Path("/tmp", marker).exists():
                effects.append("file written outside the scratch space")
            try:
                server.accept()[0].close()
                effects.append("connection reached 127.0.0.1")
            except BlockingIOError:
                pass
            if left:
                effects.append(f"{len(left)} process(es) left behind")
            # A daemon's program passes by design: its attack is what it leaves behind.
            worked = bool(left) if name == "leftover daemon" else result.status == "passed"
            attack = "SUCCEEDED" if worked else "failed"
            print(f"  {name:26s} outcome={result.status:9s} attack {attack:9s} host effects: "
                  f"{'; '.join(effects) or 'none'}   ({result.message[:70]})")
    finally:
        server.close()
        shutil.rmtree(outside, ignore_errors=True)


def as_other(prefix: list[str], label: str) -> None:
    print(f"\n== {label} ==", flush=True)
    python = "/usr/bin/python3"
    script = (f"import site, sys\nsite.addsitedir({sysconfig.get_paths()['purelib']!r})\n"
              f"sys.path.insert(0, {str(Path(__file__).parent)!r})\nimport bench_hostile\nbench_hostile.run_all()\n")
    subprocess.run([*prefix, python, "-c", script], cwd=str(Path(__file__).resolve().parents[1]), timeout=600)


def main() -> None:
    if SECRET_VAR not in os.environ:  # in the initial environment, where /proc/<pid>/environ shows it
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, SECRET_VAR: uuid.uuid4().hex})
    print(f"== as uid {os.geteuid()} ==", flush=True)
    run_all()
    if os.geteuid() == 0 and shutil.which("setpriv") and Path("/usr/bin/python3").exists():
        as_other(NOBODY, "as nobody (setpriv)")
        as_other([sys.executable, "-c", WITHOUT_USERNS], "as nobody, user namespaces unavailable")


if __name__ == "__main__":
    main()
