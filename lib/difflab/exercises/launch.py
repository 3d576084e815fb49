"""Starting the learner's process: forked from a pre-warmed zygote, or (fallback) a fresh interpreter.

Starting Python and importing torch costs 1–3 s; forking a process that has already done so costs
milliseconds. The zygote is a fresh interpreter that imports torch and says it is ready; before it forks the
first child for a lab, it imports what that lab's checks send (difflab's models; transformers' CLIP for a06).
It never runs learner code and starts no thread (fork copies only the calling thread), so each child it forks
is as clean as a new interpreter that skipped the imports. It lives as long as the checker's process; if the
learner's code kills it, the next check starts another.

The checker and the zygote talk over a Unix socket, one fixed-size request and reply at a time:

    "F" lab         + three file descriptors → import the lab's checks (and Lab.preload), then fork a child
                      running child.main on the descriptors; reply: its pid
    "W" pid timeout → wait up to timeout s for the child to end; reply: its exit status (-N: killed by
                      signal N), or RUNNING. The child is not reaped, so its pid cannot be reused yet…
    "K" pid         → …and this kills its whole process group (anything it started too), then reaps it.

Every child leads a process group of its own, so the checker can kill it together with anything it started.
Set DIFFLAB_CHECK_ZYGOTE=0 (or run on a system other than Linux) for one fresh interpreter per child instead.
"""

import importlib
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

REQUEST = struct.Struct("!cqd16s")  # kind, pid, timeout in seconds, lab id
REPLY = struct.Struct("!q")  # a pid, or an exit status
RUNNING, UNKNOWN = 1 << 40, 1 << 41  # "still running", "no such child": no exit status is this large
START_LIMIT = 120.0  # seconds for an interpreter to start and import torch, on a busy machine


# --- the zygote's side ------------------------------------------------------------------------------------------


def serve(fd: int) -> None:
    """The zygote's loop: python -c "from difflab.exercises.launch import serve; serve(FD)"."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the checker, which then kills the child itself
    sock = socket.socket(fileno=fd)
    from . import child  # noqa: F401 (and with it torch: what every child needs)

    sock.sendall(REPLY.pack(os.getpid()))  # ready
    while True:
        data, fds, _, _ = socket.recv_fds(sock, REQUEST.size, 3)
        if len(data) < REQUEST.size:  # the checker has gone (its requests are too small to arrive in pieces)
            return
        kind, pid, timeout, lab = REQUEST.unpack(data)
        if kind == b"F":
            prepare(lab.rstrip(b"\0").decode())
            answer = fork_child(sock, fds)
        elif kind == b"W":
            answer = wait_for(pid, timeout)
        else:
            answer = end_child(pid)
        sock.sendall(REPLY.pack(answer))


def prepare(lab: str) -> None:
    """Import the lab's checks and what its arguments need (once; every later child inherits them)."""
    try:
        for module in importlib.import_module(f"difflab.exercises.{lab}").lab.preload:
            importlib.import_module(module)
    except ImportError:  # a lab defined elsewhere (a test's): its children import what they need themselves
        pass


def fork_child(sock: socket.socket, fds: list) -> int:
    pid = os.fork()
    if pid == 0:  # the learner's process
        try:
            sock.close()
            os.setpgid(0, 0)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            requests, replies, output = fds
            os.dup2(output, 1)  # print() and warnings go to the checker's capture pipe
            os.dup2(output, 2)
            os.close(output)
            from .child import main

            main(requests, replies)
        finally:
            os._exit(1)
    for fd in fds:
        os.close(fd)
    try:
        os.setpgid(pid, pid)  # done here too, so that the group exists before the checker can ask to kill it
    except OSError:
        pass
    return pid


def wait_for(pid: int, timeout: float) -> int:
    """Its exit status once it has ended (left unreaped), or RUNNING after timeout s."""
    end = time.monotonic() + timeout
    while True:
        try:
            info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return UNKNOWN  # not a child of this process, or reaped already
        if info is not None:
            return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        if time.monotonic() >= end:
            return RUNNING
        time.sleep(0.005)


def kill_group(pid: int) -> None:
    """Kill the child's process group: safe while the child is unreaped (its pid, the group's id, is still taken)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def end_child(pid: int) -> int:
    kill_group(pid)
    try:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    except ChildProcessError:
        return UNKNOWN


# --- the checker's side -------------------------------------------------------------------------------------------


class Zygote:
    """The checker's handle on the zygote: started on first use, restarted when it has died. Thread-safe."""

    def __init__(self):
        self.lock = threading.Lock()
        self.process = self.sock = None
        self.owner = os.getpid()

    def start(self, lab: str, requests: int, replies: int, output: int) -> int:
        """Fork a child for `lab` on the three descriptors; its pid."""
        with self.lock:
            for attempt in (1, 2):
                try:
                    self.ensure_running()
                    request = REQUEST.pack(b"F", 0, 0.0, lab.encode())
                    socket.send_fds(self.sock, [request], [requests, replies, output])
                    return self.reply(START_LIMIT)
                except OSError:  # the zygote has died: start another, once
                    self.stop()
                    if attempt == 2:
                        raise
                except BaseException:  # Ctrl-C mid-request: its reply would answer the next request
                    self.stop()
                    raise
            raise AssertionError("unreachable")

    def wait(self, pid: int, timeout: float) -> int | None:
        """The child's exit status (-N for signal N), RUNNING if it is still running after timeout s, or None."""
        return self.ask(b"W", pid, timeout)

    def kill(self, pid: int) -> int | None:
        """Kill the child and everything in its process group; its exit status, or None."""
        return self.ask(b"K", pid, 0.0)

    def ask(self, kind: bytes, pid: int, timeout: float) -> int | None:
        with self.lock:
            try:
                self.sock.sendall(REQUEST.pack(kind, pid, timeout, b""))
                status = self.reply(timeout + 30.0)
            except (OSError, AttributeError):  # the zygote has died (and its children with their parent gone)
                self.stop()
                return None
            except BaseException:  # Ctrl-C mid-request: its reply would answer the next request
                self.stop()
                raise
            return None if status == UNKNOWN else status

    def reply(self, timeout: float) -> int:
        self.sock.settimeout(timeout)
        data = b""
        while len(data) < REPLY.size:
            chunk = self.sock.recv(REPLY.size - len(data))
            if not chunk:
                raise ConnectionError("the zygote has ended")
            data += chunk
        return REPLY.unpack(data)[0]

    def ensure_running(self) -> None:
        if self.owner != os.getpid():  # this is a fork of the process that started the zygote: leave that one be
            self.process = self.sock = None
            self.owner = os.getpid()
        if self.process is not None and self.process.poll() is None:
            return
        ours, theirs = socket.socketpair()
        with tempfile.TemporaryFile() as errors, theirs:
            code = f"from difflab.exercises.launch import serve; serve({theirs.fileno()})"
            self.process = subprocess.Popen(
                [sys.executable, "-c", code],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,  # Ctrl-C in a terminal reaches the checker, not the zygote
            )
            theirs.close()
            self.sock = ours
            try:
                self.reply(START_LIMIT)
            except OSError as e:
                errors.seek(0)
                self.stop()
                why = errors.read()[-2000:].decode(errors="replace")
                raise OSError(f"the checker's zygote did not start: {why}") from e

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.process = self.sock = None


class FreshInterpreter:
    """One new `python` per learner process: a second or more for each (torch is imported every time)."""

    def __init__(self):
        self.children = {}

    def start(self, lab: str, requests: int, replies: int, output: int) -> int:
        code = f"from difflab.exercises.child import main; main({requests}, {replies})"
        child = subprocess.Popen(
            [sys.executable, "-c", code],
            pass_fds=[requests, replies],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
        )
        self.children[child.pid] = child
        return child.pid

    def wait(self, pid: int, timeout: float) -> int | None:
        status = wait_for(pid, timeout)
        return None if status == UNKNOWN else status

    def kill(self, pid: int) -> int | None:
        kill_group(pid)
        return self.children.pop(pid).wait()


ZYGOTE = Zygote()  # one per checker process, shared by every check (and thread) in it


def launcher():
    """The zygote on Linux; a fresh interpreter per child elsewhere, or with DIFFLAB_CHECK_ZYGOTE=0."""
    if sys.platform == "linux" and os.environ.get("DIFFLAB_CHECK_ZYGOTE", "1") != "0":
        return ZYGOTE
    return FreshInterpreter()
