"""The checker's ends of the three pipes to a learner's process: requests, replies, and what it prints.

Every read and write has a deadline (TimeoutError when it passes), so nothing the learner's process does or
fails to do can make the checker wait longer than a task's time limit. Whatever the process prints is read
meanwhile, so a chatty process never blocks on a full pipe; the first OUTPUT_KEPT bytes are kept for the report.
"""

import os
import selectors
import time

from . import wire

OUTPUT_KEPT = 4096  # bytes of the learner's printed output kept per check


class Pipes:
    def __init__(self, output: bytearray):
        self.output = output  # shared by every process of one check
        requests, self.requests = os.pipe()  # checker → learner
        self.replies, replies = os.pipe()  # learner → checker
        self.printed, printed = os.pipe()  # the learner's stdout and stderr
        self.child_ends = [requests, replies, printed]  # for the launcher; closed here once it has passed them on
        os.set_blocking(self.requests, False)

    def close_child_ends(self) -> None:
        for fd in self.child_ends:
            os.close(fd)
        self.child_ends = []

    def send(self, payload: bytes, deadline: float) -> None:
        view = memoryview(wire.frame(payload))
        while view:
            self.wait_for(self.requests, selectors.EVENT_WRITE, deadline)
            try:
                view = view[os.write(self.requests, view) :]
            except BlockingIOError:
                pass
            except BrokenPipeError:
                return  # the process has ended: the next receive() returns None

    def receive(self, deadline: float) -> bytes | None:
        """The next frame's payload; None if the process closed its end first; ValueError if it claims too much."""
        header = self.read(wire.HEADER.size, deadline)
        if header is None:
            return None
        size = wire.HEADER.unpack(header)[0]
        if size > wire.MAX_MESSAGE:
            raise ValueError(f"a reply of {size} bytes")
        return self.read(size, deadline)

    def read(self, count: int, deadline: float) -> bytes | None:
        data = bytearray()
        while len(data) < count:
            self.wait_for(self.replies, selectors.EVENT_READ, deadline)
            chunk = os.read(self.replies, min(count - len(data), 1 << 20))
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    def wait_for(self, fd: int, event: int, deadline: float) -> None:
        """Block until fd is ready, keeping what the learner prints meanwhile; TimeoutError at the deadline."""
        with selectors.DefaultSelector() as selector:
            selector.register(fd, event)
            if self.printed is not None:
                selector.register(self.printed, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                ready = [key.fd for key, _ in selector.select(remaining)]
                if self.printed is not None and self.printed in ready:
                    printed = self.printed
                    if not self.keep_printed():
                        selector.unregister(printed)
                if fd in ready:
                    return

    def keep_printed(self) -> bool:
        """Read what the process printed; False once the pipe is closed (by every process holding it)."""
        chunk = os.read(self.printed, 1 << 16)
        self.output += chunk[: max(0, OUTPUT_KEPT - len(self.output))]
        if not chunk:
            os.close(self.printed)
            self.printed = None
        return bool(chunk)

    def close_requests(self) -> None:
        """The process's cue to end by itself."""
        if self.requests is not None:
            os.close(self.requests)
            self.requests = None

    def close(self, drain_for: float = 0.5) -> None:
        """Keep what is left of the printed output, then close everything. Waits at most drain_for seconds:
        something the learner's code started may still hold the output pipe open."""
        end = time.monotonic() + drain_for
        while self.printed is not None and time.monotonic() < end:
            with selectors.DefaultSelector() as selector:
                selector.register(self.printed, selectors.EVENT_READ)
                if not selector.select(end - time.monotonic()) or not self.keep_printed():
                    break
        self.close_requests()
        for fd in (self.replies, self.printed, *self.child_ends):
            if fd is not None:
                os.close(fd)
        self.replies = self.printed = None
        self.child_ends = []
