"""Stopping a real archiver process the way a terminal or a service manager
does, and checking what it leaves behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil


def stop_group(proc: subprocess.Popen[str], signum: int, *, timeout: float = 60) -> tuple[str, str]:
    """Send `signum` to the process group `proc` leads (Ctrl-C at a terminal
    and `systemctl stop` reach every process of it) and wait for it to end:
    its (stdout, stderr). Still running after `timeout`: killed, and the
    timeout raised."""
    try:
        os.killpg(proc.pid, signum)
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def descendants(pid: int) -> list[int]:
    return [p.pid for p in psutil.Process(pid).children(recursive=True)]


def still_running(pids: list[int], *, within: float) -> list[int]:
    """Those of `pids` still running after up to `within` seconds (a zombie
    not yet reaped has ended)."""
    def alive(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + within
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = [p for p in left if alive(p)]
    return left
