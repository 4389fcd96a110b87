"""What the evaluator does around each sandboxed run: its own protection, the sample's uid, refusals.

The child (:mod:`evalsuite.execution.child`) sets the barriers up and refuses to run a program
when one is missing; this module gives the evaluator's side: it makes itself non-dumpable (so
a sample cannot ptrace it or read its ``/proc/<pid>/environ``), draws a uid that no process and
no passwd entry owns, and turns a refusal into a message that says how to get the barriers.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import random
import threading
from pathlib import Path

from evalsuite.execution.models import SandboxError

PR_SET_DUMPABLE, PR_GET_DUMPABLE = 4, 3
CAP_SYS_ADMIN = 21
UNSAFE_FLAG = "--unsafe-no-isolation (executor option unsafe_no_isolation=true)"
_claimed: set[int] = set()
_lock = threading.Lock()


def make_evaluator_undumpable() -> bool:
    """``prctl(PR_SET_DUMPABLE, 0)`` on this process; True when it is in force."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    return libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0


def _uids_in_use() -> set[int]:
    uids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                for line in (entry / "status").read_text().splitlines():
                    if line.startswith("Uid:"):
                        uids.update(int(x) for x in line.split()[1:])
                        break
            except OSError:
                continue
    return uids


def claim_unused_uid(low: int = 1_000_000, high: int = 2_000_000_000) -> int:
    """A random uid that no process, no passwd entry and no other run of this evaluator uses.

    The clean-up kills every process of the uid afterwards, so it must be nobody else's.
    Give it back with :func:`release_uid`.
    """
    draw = random.SystemRandom()
    with _lock:
        in_use = _uids_in_use() | _claimed
        for _ in range(100):
            uid = draw.randrange(low, high)
            if uid in in_use:
                continue
            try:
                pwd.getpwuid(uid)
            except KeyError:
                _claimed.add(uid)
                return uid
    raise SandboxError("no unused uid found for the sample in 100 random draws")


def release_uid(uid: int) -> None:
    with _lock:
        _claimed.discard(uid)


def has_cap_sys_admin() -> bool:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1)
    return False


def refusal_message(missing: list[str], notes: list[str]) -> str:
    """Why untrusted code was not run, and the ways to get the missing barriers."""
    head = (f"refusing to run untrusted code: {', '.join(missing)} not in force"
            + (f" ({'; '.join(notes)})" if notes else "") + ". ")
    if os.geteuid() == 0 and not has_cap_sys_admin():
        how = ("You are root without CAP_SYS_ADMIN (Docker's default): run the container with "
               "--cap-add SYS_ADMIN (with --security-opt seccomp=unconfined and apparmor=unconfined where those "
               "profiles block unshare and mount), or run the evaluator as an ordinary user on a host that allows "
               "unprivileged user namespaces. ")
    elif os.geteuid() == 0:
        how = "Run on a Linux kernel with network, PID and mount namespaces (5.12 or later), or inside a VM. "
    else:
        how = ("Enable unprivileged user namespaces (sysctl -w kernel.unprivileged_userns_clone=1 on Debian/Ubuntu "
               "kernels, sysctl -w user.max_user_namespaces=15000 elsewhere, and on Ubuntu 24.04 "
               "kernel.apparmor_restrict_unprivileged_userns=0), run as root, or run inside a container or VM "
               "that allows them. ")
    return (head + how + f"Or accept the risk explicitly with {UNSAFE_FLAG}: samples can then read the evaluator's "
            "environment (API keys), signal its processes, write its files and use the network; results.json "
            "records the flag.")
