"""Crash-safety tests: run Python in a child process that SIGKILLs itself the moment a chosen function is
called, so the test can check what a kill at that point leaves on disk (the child inherits the test's
environment)."""

import os
import signal
import subprocess
import sys
import textwrap

PRELUDE = '''
import importlib, os, signal

def kill_on_call(module, name, after=0):
    """SIGKILL this process when module.name is called for the (after+1)-th time (on a class: obj.attr)."""
    owner_name, _, attr = name.rpartition(".")
    owner = importlib.import_module(module)
    if owner_name:
        owner = getattr(owner, owner_name)
    real, calls = getattr(owner, attr), [0]

    def wrapper(*args, **kwargs):
        if calls[0] >= after:
            os.kill(os.getpid(), signal.SIGKILL)
        calls[0] += 1
        return real(*args, **kwargs)
    setattr(owner, attr, wrapper)
'''


def run_killed(code: str, cwd=None, timeout: float = 300) -> None:
    """Run `code` (after PRELUDE) in a fresh interpreter; assert that it died by SIGKILL, not otherwise."""
    script = PRELUDE + textwrap.dedent(code)
    tests = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tests, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == -signal.SIGKILL, (result.returncode, result.stdout[-2000:],
                                                  result.stderr[-4000:])
