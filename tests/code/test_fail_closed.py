"""The sandbox fails closed: it refuses to run untrusted code without every barrier, keeps the
verdict out of the program's reach, and leaves nothing behind.

The refusal paths run for real: an evaluator started as ``nobody`` inside a user namespace whose
``user.max_user_namespaces`` is 0 (so unprivileged user namespaces are unavailable, as on many
CI hosts), and a root evaluator whose bounding set lacks CAP_SYS_ADMIN (Docker's default).
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from evalsuite.cli import main
from evalsuite.execution.barriers import claim_unused_uid
from evalsuite.execution.sandbox import SandboxError, SandboxLimits, probe, run_program

REPO = Path(__file__).resolve().parents[2]
HOSTILE = SandboxLimits(timeout_s=3, cpu_s=3, memory_mb=256, nproc=8, guard=False)
SYSTEM_PYTHON = Path("/usr/bin/python3")
CAN_BECOME_NOBODY = (os.geteuid() == 0 and shutil.which("setpriv") is not None and SYSTEM_PYTHON.exists()
                     and subprocess.run([str(SYSTEM_PYTHON), "-c", "import sys; print(sys.version_info[:2])"],
                                        capture_output=True, text=True).stdout.strip() == str(sys.version_info[:2]))
needs_nobody = pytest.mark.skipif(not CAN_BECOME_NOBODY, reason="needs root, setpriv and a system python3 of this version")
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

sys.path.insert(0, str(REPO / "benchmarks"))
from bench_hostile import FORGED_VERDICT, WITHOUT_USERNS  # noqa: E402  (how a host without user namespaces is simulated)


def _as_evaluator(prefix: list[str], body: str, python: str = str(SYSTEM_PYTHON)) -> subprocess.CompletedProcess:
    """Run ``body`` as an evaluator script (with this venv's packages) under ``prefix``."""
    script = (f"import site\nsite.addsitedir({sysconfig.get_paths()['purelib']!r})\n" + textwrap.dedent(body))
    return subprocess.run([*prefix, python, "-c", script], capture_output=True, text=True, timeout=120, cwd="/")


PROBE = """
    from evalsuite.execution.sandbox import probe
    try:
        print("RAN", probe().summary())
    except Exception as exc:
        print(type(exc).__name__, exc)
"""


@needs_nobody
def test_ordinary_user_without_user_namespaces_is_refused():
    done = _as_evaluator([sys.executable, "-c", WITHOUT_USERNS], PROBE)
    assert "RAN" not in done.stdout, done.stdout
    assert done.stdout.startswith("SandboxError refusing to run untrusted code: network namespace, PID namespace")
    assert "Enable unprivileged user namespaces" in done.stdout and "user.max_user_namespaces" in done.stdout
    assert "--unsafe-no-isolation" in done.stdout


@needs_nobody
def test_ordinary_user_gets_every_barrier_and_cannot_write_its_files():
    assert "RAN netns,pidns,mountns,userns,ro-host,fresh-proc,no-caps,undumpable-evaluator" in \
        _as_evaluator(NOBODY, PROBE).stdout
    # A file the evaluator (nobody) owns and may write, where the sample can see it.
    folder = Path(os.path.realpath(REPO / ".pytest_cache")) / f"evalsuite-ro-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    try:
        target = folder / "partial-results.json"
        target.write_text("keep me")
        for path in (folder, target):
            os.chown(path, 65534, 65534)
        done = _as_evaluator(NOBODY, f"""
            from evalsuite.execution.sandbox import SandboxLimits, run_program
            r = run_program("open({str(target)!r}, 'w').write('overwritten')\\n", SandboxLimits(guard=False))
            print(r.status, r.message)
        """)
        assert target.read_text() == "keep me"
        assert done.stdout.startswith("failed OSError: [Errno 30] Read-only file system"), done.stdout + done.stderr
    finally:
        shutil.rmtree(folder)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_root_without_cap_sys_admin_is_refused_with_the_right_advice(tmp_path):
    problems = tmp_path / "problems.jsonl"
    problems.write_text(json.dumps({"task_id": "t/0", "prompt": "def f():\n", "entry_point": "f",
                                    "canonical_solution": "    return 1\n",
                                    "test": "def check(c):\n    assert c() == 1\n"}) + "\n")
    command = ["setpriv", "--bounding-set", "-sys_admin", str(Path(sys.executable).parent / "evalsuite"), "code-eval",
               "--canonical", "--problems", str(problems), "--out", str(tmp_path / "run"),
               "--store", str(tmp_path / "store.sqlite"), "--no-progress", "--k", "1"]
    refused = subprocess.run(command, capture_output=True, text=True, timeout=120)
    err = " ".join(refused.stderr.split())
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert "network namespace, PID namespace, mount namespace" in err
    assert "root without CAP_SYS_ADMIN" in err and "--cap-add SYS_ADMIN" in err and "--no-drop-privileges" not in err
    assert not (tmp_path / "run" / "results.json").exists()

    # Naming the risk runs it, and the record and the output say so.
    allowed = subprocess.run([*command, "--unsafe-no-isolation"], capture_output=True, text=True, timeout=120)
    assert allowed.returncode == 0, allowed.stderr
    assert "UNSAFE" in allowed.stdout
    record = json.loads((tmp_path / "run" / "results.json").read_text())
    assert record["model"]["limits"]["unsafe_no_isolation"] is True
    assert record["model"]["isolation"]["unsafe_no_isolation"] is True


@pytest.mark.skipif(os.geteuid() != 0, reason="as root only: keeping uid 0 is the refused path")
def test_keeping_uid_0_is_refused_without_the_risk_flag():
    with pytest.raises(SandboxError, match="unprivileged identity not in force"):
        probe(SandboxLimits(drop_privileges=False))
    assert probe(SandboxLimits(drop_privileges=False, unsafe_no_isolation=True)).uid is None


def test_a_forged_verdict_is_not_counted():
    r = run_program(FORGED_VERDICT, HOSTILE)
    assert r.status == "error" and "before reporting" in r.message


def test_the_program_sees_a_fresh_proc_without_the_evaluator():
    code = ("import os\npids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
            "seen = [open(f'/proc/{p}/cmdline', 'rb').read() for p in pids]\n"
            "assert not any(b'pytest' in c for c in seen), seen\nassert len(pids) <= 3, pids\n")
    r = run_program(code, HOSTILE)
    assert r.status == "passed", r.message


def test_the_evaluator_is_not_dumpable_and_the_record_says_so():
    r = run_program("pass\n")
    libc = ctypes.CDLL(None)
    assert libc.prctl(3, 0, 0, 0, 0) == 0  # PR_GET_DUMPABLE
    assert r.isolation is not None and r.isolation.evaluator_dumpable is False


def test_claimed_uid_is_no_users_and_no_processes():
    with pytest.raises(SandboxError, match="no unused uid"):
        claim_unused_uid(65534, 65535)  # nobody: a passwd entry
    if os.geteuid() == 0 and shutil.which("setpriv"):
        sleeper = subprocess.Popen(["setpriv", "--reuid=4242421", "--regid=4242421", "--clear-groups", "sleep", "30"])
        try:
            time.sleep(0.3)
            with pytest.raises(SandboxError, match="no unused uid"):
                claim_unused_uid(4242421, 4242422)  # no passwd entry, but a process runs as it
        finally:
            sleeper.kill()
            sleeper.wait()


def test_a_lone_surrogate_in_a_sample_is_a_clean_error(tmp_path, capsys):
    problems = tmp_path / "problems.jsonl"
    problems.write_text(json.dumps({"task_id": "t/0", "prompt": "def f():\n", "entry_point": "f",
                                    "test": "def check(c):\n    assert c() == 1\n"}) + "\n")
    samples = tmp_path / "s.jsonl"
    samples.write_text('{"task_id": "t/0", "completion": "    return 1\\n"}\n'
                       '{"task_id": "t/0", "completion": "    return \'\\ud800\'\\n"}\n')
    code = main(["code-eval", str(samples), "--problems", str(problems), "--out", str(tmp_path / "o"),
                 "--store", str(tmp_path / "store.sqlite"), "--no-progress"])
    err = " ".join(capsys.readouterr().err.split())
    assert code in (2, 3)  # a data error: 3 where exit codes are told apart, 2 before
    assert "s.jsonl: line 2: field 'completion'" in err and "lone surrogate" in err
    assert run_program("x = '\ud800'\n").status == "error"
