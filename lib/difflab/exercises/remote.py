"""The checker's side of the process boundary: the learner's file runs in a process of its own.

    process = LearnerProcess(path, "a01", solutions_folder, import_limit=20)   # start it, import the file
    m = LearnerModule(process, deadline, time_limit)                           # what a check receives
    m.alpha_bar(betas)     # runs in the learner's process; the result comes back as a copy

A call sends (name, args, kwargs) to the learner's process, which calls the learner's function and sends back
one pickle of (result, args, kwargs); the arguments it changed in place are copied back into the checker's own
objects (a dict is refilled, a tensor takes the new storage, a model or pipeline takes the new attributes), so
`load_into(model, state_dict)` leaves `model` loaded here as it would in one process. An exception the learner's
code raises comes back by type name and message and is raised here as that type (ValueError stays ValueError).

Every wait has a deadline; when it passes, the process is killed (so a loop the learner wraps in `except
BaseException` still ends). Any ending other than a proper reply — a timeout, an exit, a signal, running out of
memory, garbage on the pipe — raises `Stopped` with the reason the report shows. No signal handler and no
thread is used here, so a check runs the same from a notebook's worker thread.
"""

import builtins
import os
import pickle
import signal
import sys
import time
import types
from pathlib import Path

import torch

from . import launch, wire
from .pipes import Pipes

GIB = 2**30
MEMORY_LIMIT = min(8 * GIB, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2)


class Stopped(BaseException):
    """The learner's process ended, ran out of time or memory, or sent back something the checker refuses.

    A BaseException, so that a check's own `except Exception` around a call cannot swallow it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class LearnerError(Exception):
    """An exception from the learner's process whose type has no built-in counterpart here."""


class LearnerProcess:
    """One process running the learner's file. Raises Stopped if it cannot start or import the file."""

    def __init__(self, path: Path, lab_id: str, solutions: Path | None, import_limit: float, output: bytearray):
        self.path, self.module_name = path, f"difflab_exercise_{lab_id}"
        self.names, self.answered = set(), 0  # answered: calls that came back with a result or an exception
        self.launcher, self.pipes = launch.launcher(), Pipes(output)
        try:
            self.pid = self.launcher.start(lab_id, *self.pipes.child_ends)
        except BaseException as e:
            self.pipes.close(drain_for=0)
            if not isinstance(e, OSError):
                raise
            raise Stopped(f"the checker could not start a process for your file: {e}") from None
        self.pipes.close_child_ends()
        self.alive = True
        try:
            self.exchange(None, {"ready"}, time.monotonic() + launch.START_LIMIT, "while starting", launch.START_LIMIT)
            folder = None if solutions is None else str(solutions)
            message = ("import", str(path), self.module_name, os.getcwd(), list(sys.path), folder, MEMORY_LIMIT)
            deadline = time.monotonic() + import_limit
            reply = self.exchange(message, {"imported", "raised"}, deadline, "at import", import_limit)
        except BaseException:  # Stopped, or Ctrl-C while waiting: never leave the process running
            self.stop()
            raise
        if reply[0] == "raised":
            self.stop()
            error = learner_exception(*reply[1])
            raise Stopped(f"does not import: {type(error).__name__}: {error}{where(path, error)}")
        self.names = set(reply[1])

    def call(self, name: str, args: tuple, kwargs: dict, deadline: float, limit: float):
        """name(*args, **kwargs) in the learner's process; changed arguments are copied back into args, kwargs."""
        blob = wire.dumps((args, kwargs))
        answers = {"returned", "raised", "unsendable"}
        reply = self.exchange(("call", name, blob), answers, deadline, f"while running {name}", limit)
        if reply[0] == "raised":
            self.answered += 1
            raise learner_exception(*reply[1])
        if reply[0] == "unsendable":
            raise Stopped(f"{name} returned {reply[1]}, which cannot be sent back to the checker; {PLAIN}.")
        try:
            result, new_args, new_kwargs = wire.loads(reply[1], self.module_name)
            assert isinstance(new_args, tuple) and len(new_args) == len(args) and isinstance(new_kwargs, dict)
        except wire.LearnerObject as e:
            raise Stopped(f"{name} returned {e.name}, defined in your file; {PLAIN}.") from None
        except wire.Refused as refused:
            raise Stopped(f"{name} returned a {refused}, which the checker does not accept; {PLAIN}.") from None
        except Exception:
            raise self.garbage(f"while running {name}") from None
        for old, new in [*zip(args, new_args), *((kwargs[k], new_kwargs.get(k)) for k in kwargs)]:
            copy_back(old, new)
        self.answered += 1
        return next((old for old, new in zip(args, new_args) if new is result and not is_plain(old)), result)

    def exchange(self, message, answers: set, deadline: float, doing: str, limit: float) -> tuple:
        """Send `message` (None: send nothing) and wait for the reply, one of `answers` (or an ending).

        Returns the reply without its `used` part; raises Stopped for any ending."""
        try:
            if message is not None:
                self.pipes.send(pickle.dumps(message, protocol=5), deadline)
            data = self.pipes.receive(deadline)
        except TimeoutError:
            self.stop(grace=0)
            raise Stopped(f"took longer than {limit:g} s {doing} (a loop that never ends?)") from None
        except ValueError:  # a frame claiming more than wire.MAX_MESSAGE
            raise self.garbage(doing) from None
        if data is None:
            raise Stopped(self.ending(doing))
        try:
            reply = wire.loads(data, self.module_name)
        except Exception:
            reply = None
        if not well_formed(reply) or reply[0] not in answers | {"exit", "memory"}:
            raise self.garbage(doing)
        kind, used = reply[0], reply[-1]
        if used:
            self.stop()
            names = [Path(p).name.split(".")[0] + ".py" if "__pycache__" in p else Path(p).name for p in used]
            shown = ", ".join(f"solutions/{name}" for name in dict.fromkeys(names))
            raise Stopped(f"your file uses {shown} {doing}; the checks are for your own code, so write it yourself.")
        if kind in ("exit", "memory"):
            self.stop()
            if kind == "exit":
                raise Stopped(f"your file ended the process with sys.exit({reply[1]}) {doing}.")
            raise Stopped(f"used more than {MEMORY_LIMIT / GIB:.3g} GiB of memory {doing}.")
        return reply[:-1]

    def ending(self, doing: str) -> str:
        """Why the process closed its pipe, from its exit status."""
        status = self.launcher.wait(self.pid, 2.0)
        self.stop()
        if status == launch.RUNNING:
            return f"your file closed the checker's pipe {doing}."
        if status is None:
            reason = f"the process ended unexpectedly {doing}."
        elif status == wire.CHECKER_FAILED:
            reason = f"your file broke the checker's side of the process {doing} (its pipes, or functions it uses)."
        elif status >= 0:
            reason = f"your file ended the process with os._exit({status}) {doing}."
        elif -status == signal.SIGKILL:
            reason = f"the process was killed (SIGKILL) {doing}: by your code, or by the system when memory ran out."
        else:
            reason = f"the process crashed with {signal.Signals(-status).name} {doing}."
        printed = self.pipes.output.decode(errors="replace").strip()
        return reason + (f" Its output began: {printed[:300]!r}" if printed else "")

    def garbage(self, doing: str) -> Stopped:
        self.stop()
        return Stopped(
            f"the process sent the checker something it cannot read {doing} (did your code write to its pipe?)"
        )

    def stop(self, grace: float = 1.0) -> None:
        """End the process and everything it started; keep what is left of its output. Safe to call twice.

        grace: seconds it may take to end by itself once its request pipe closes (flushing what it printed)."""
        if self.alive:
            self.pipes.close_requests()
            if grace > 0:
                self.launcher.wait(self.pid, grace)
            if self.launcher.kill(self.pid) is None:  # the zygote is gone (the learner's code may have killed it)
                launch.kill_group(self.pid)
            self.alive = False
        self.pipes.close()


REPLIES = {  # kind → the types of what follows it (and then `used`, the list of solutions files read)
    "ready": (),
    "imported": (list,),  # the names the module defines
    "raised": (tuple,),  # (type name, built-in base, message, line)
    "returned": (bytes,),  # pickle of (result, args, kwargs)
    "unsendable": (str,),  # what could not be pickled
    "exit": (str,),  # sys.exit's argument
    "memory": (),
}


def well_formed(reply) -> bool:
    if not (isinstance(reply, tuple) and reply and reply[0] in REPLIES and isinstance(reply[-1], list)):
        return False
    shape = REPLIES[reply[0]]
    if len(reply) != len(shape) + 2 or not all(isinstance(v, t) for v, t in zip(reply[1:], shape)):
        return False
    return reply[0] != "raised" or len(reply[1]) == 4


PLAIN = "return a tensor, a number, a string, a tuple, a list or a dict (or the library object the task asks for)"


class LearnerModule:
    """Stands for the learner's module in a check: `hasattr(m, name)` answers from the names its import defined,
    and `m.f(...)` runs f in the learner's process under the task's deadline."""

    def __init__(self, process: LearnerProcess, deadline: float, limit: float):
        self.__process, self.__deadline, self.__limit = process, deadline, limit

    def __getattr__(self, name: str):
        if name.startswith("__") or name not in self.__process.names:
            raise AttributeError(f"{self.__process.path.name} defines no {name!r}")
        process, deadline, limit = self.__process, self.__deadline, self.__limit

        def remote(*args, **kwargs):
            return process.call(name, args, kwargs, deadline, limit)

        remote.__name__ = name
        return remote


def learner_exception(type_name: str, base_name: str, message: str, line) -> Exception:
    """The learner's exception, rebuilt here: its type name, and built-in base (so `except ValueError` works)."""
    base = getattr(builtins, str(base_name), None)
    if not (isinstance(base, type) and issubclass(base, Exception)):
        base = LearnerError  # KeyboardInterrupt, SystemExit and the like must not act here
    kind = base if base.__name__ == type_name else type(str(type_name), (base,), {})
    try:
        error = kind(str(message))
    except Exception:
        error = type(str(type_name), (LearnerError,), {})(str(message))
    error.learner_line = line if isinstance(line, int) else None
    return error


def where(path: Path, error: BaseException) -> str:
    """' (a01.py, line 12)' when the error came from a line of the learner's file."""
    line = getattr(error, "learner_line", None)
    return f" ({path.name}, line {line})" if line else ""


def is_plain(value) -> bool:
    return isinstance(value, (int, float, complex, str, bytes, tuple, type(None)))


def copy_back(old, new) -> None:
    """Make the checker's argument `old` look as the learner's code left its copy, `new` (in place)."""
    if isinstance(old, torch.Tensor) and isinstance(new, torch.Tensor):
        try:
            with torch.no_grad():
                old.set_(new)  # old now shares new's storage: in-place changes show
        except RuntimeError:
            pass
    elif type(old) is not type(new) or isinstance(old, (type, types.FunctionType, types.ModuleType)) or is_plain(old):
        return
    elif isinstance(old, dict):
        old.clear()
        old.update(new)
    elif isinstance(old, (list, bytearray)):
        old[:] = new
    elif isinstance(old, set):
        old.clear()
        old.update(new)
    elif hasattr(old, "__dict__"):  # a model, a pipeline, a scheduler
        vars(old).clear()
        vars(old).update(vars(new))
