"""Processes of ``qnet up`` forked from the launcher, which has already imported everything (a fork server).

Started as fresh interpreters, 32 node processes each import numpy, trio and the whole stack
(~0.5 s of CPU each) at the same time on a couple of cores: ~35 s before the last one says hello.
Forked from the launcher, which has imported them once, each child starts warm and only builds its
node. Each child runs the same command line a user would type (``qnet node NAME ...``) through the
CLI's entry point, with its output in its log, so a forked child behaves exactly like a spawned one.

trio must not be running in the parent when it forks (its run loop, threads and wakeup file
descriptors do not survive a fork): the launcher never runs trio; each child starts its own run.
:class:`Child` is the part of :class:`subprocess.Popen` the launcher uses.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import protocols.network.layer
import protocols.network.routing  # noqa: F401  (the runtime imports these only to build a network layer)
import stack.multiprocess.medium
import stack.multiprocess.node  # noqa: F401  (imported here so that every child starts with it loaded)
from stack.multiprocess.held import HELD_ENV, Held, close_all, describe

PR_SET_PDEATHSIG = 1
Entry = Callable[[list[str]], int]
"""The CLI's ``main``: a command line (without ``qnet``) to an exit status."""


class Child(Protocol):
    """A started process as the launcher supervises it."""

    pid: int
    returncode: Any                     # as typeshed has Popen's: int once exited (None before)

    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def send_signal(self, sig: int) -> None: ...
    def kill(self) -> None: ...


def die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent dies."""
    with contextlib.suppress(OSError, AttributeError):   # not Linux: the launcher's handlers still stop children
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class ForkedChild:
    """A forked process, supervised like a :class:`subprocess.Popen` (``returncode`` is −N after signal N)."""

    def __init__(self, pid: int, args: list[str]) -> None:
        self.pid = pid
        self.args = args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (status := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(["qnet", *self.args], timeout or 0.0)
            time.sleep(0.01)
        return status

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def fork_command(entry: Entry, args: list[str], log: Path, keep: Held | None = None,
                 drop: Iterable[Held] = (), started: list[Child] | None = None) -> ForkedChild:
    """Run ``qnet ARGS`` in a child forked from this process, its output in ``log``.

    The child keeps the bound sockets ``keep`` (named to it in :data:`stack.multiprocess.held.HELD_ENV`) and
    closes its copies of ``drop`` (other processes' sockets); the parent's copies are the caller's to close.
    The child goes into ``started`` before SIGINT and SIGTERM are unblocked again, so a signal that arrived
    during the fork (its handler runs at the unblocking and may raise) cannot hide a running child from
    whoever stops ``started``."""
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()                         # the parent's objects stay shared, not copied when a child collects
    stopping = {signal.SIGINT, signal.SIGTERM}
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, stopping)    # until the child has its own handlers
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        raise
    if pid:
        child = ForkedChild(pid, args)
        if started is not None:
            started.append(child)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return child
    status = 1
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)       # a fresh interpreter's handlers
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        die_with_parent()
        _hand_over(keep or {}, drop)
        output = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        status = entry(args)
    except SystemExit as done:
        status = done.code if isinstance(done.code, int) else int(done.code is not None)
    except KeyboardInterrupt:                   # Ctrl-C before the CLI's own handling: no traceback in the log
        status = 128 + signal.SIGINT
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(status)


def _hand_over(keep: Held, drop: Iterable[Held]) -> None:
    """In a forked child: close the sockets of other processes, name ``keep``'s descriptors in the environment
    (their Python objects let go of them: the node adopts them as its own)."""
    close_all(drop)
    os.environ.pop(HELD_ENV, None)
    if keep:
        os.environ[HELD_ENV] = describe({port: sock.detach() for port, sock in keep.items()})
