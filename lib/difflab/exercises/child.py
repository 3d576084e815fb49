"""The learner's side of the process boundary: import their file, then call their functions on request.

This code runs in a process of its own (forked from the zygote, or a fresh interpreter: see launch.py), and so
does the learner's file. It talks to the checker over two pipes of its own, never stdout, which belongs to
the learner: whatever their code prints is captured by the checker and shown briefly in the report.

Requests and replies, one frame each (see wire.py):

    ← ("ready", [])                                 this process is up
    → ("import", path, module_name, cwd, sys_path, solutions_folder, memory_bytes)
    ← ("imported", names, used) | an ending
    → ("call", name, pickle of (args, kwargs))
    ← ("returned", pickle of (result, args, kwargs), used) | ("raised", error, used)
      | ("unsendable", what could not be pickled, used) | an ending
    endings: ("exit", code, used) for sys.exit, ("memory", used); any other ending closes the pipe

`used` lists the files under solutions/ this process has read so far. Nothing here is trusted by the checker:
the learner's code runs in this process and could change any of it. The checker holds the clock (it kills
this process when a limit passes) and computes every expected value itself.
"""

import builtins
import importlib.util
import os
import pickle
import resource
import shlex
import sys
import traceback

from . import wire

BUILTINS = builtins.__dict__
SAVED_BUILTINS = dict(BUILTINS)  # put back after the learner's code runs: `del builtins.len` must not break us


def main(requests: int, replies: int) -> None:
    """Serve the checker until it closes the request pipe; then end without running any exit handlers."""
    sys.stdout.reconfigure(line_buffering=True)
    channel = Channel(requests, replies)
    channel.send(("ready", []))
    _, path, module_name, cwd, sys_path, solutions, memory_bytes = channel.receive()
    try:
        os.chdir(cwd)  # relative paths in the learner's code mean what they mean in the notebook
    except OSError:
        pass
    sys.path[:] = sys_path
    resource.setrlimit(resource.RLIMIT_DATA, (memory_bytes, memory_bytes))  # soft and hard: it cannot be raised
    watch = SolutionsWatch(solutions)
    module, ending = run_learner_code(path, import_file, path, module_name)
    channel.send((ending or ("imported", [str(name) for name in vars(module)])) + (watch.used(),))
    try:
        if ending is None:
            serve_calls(channel, module, module_name, path, watch)
        sys.stdout.flush()
    except BaseException:  # this side of the checker broke (perhaps the learner's code broke it): say how
        traceback.print_exc()
        os._exit(wire.CHECKER_FAILED)
    os._exit(0)


def serve_calls(channel, module, module_name: str, path: str, watch) -> None:
    """Call the learner's functions as asked until the checker is done, or the learner's code ends the process."""
    while (request := channel.receive()) is not None:
        _, name, blob = request
        args, kwargs = pickle.loads(blob)
        result, ending = run_learner_code(path, call, module, name, args, kwargs)
        channel.send((ending or send_back(result, args, kwargs, module_name)) + (watch.used(),))
        if ending and ending[0] != "raised":
            return


class Channel:
    def __init__(self, requests: int, replies: int):
        self.requests, self.replies = requests, replies

    def send(self, message: tuple) -> None:
        wire.write_all(self.replies, wire.frame(pickle.dumps(message, protocol=5)))

    def receive(self):
        data = wire.read_frame(self.requests)
        return None if data is None else pickle.loads(data)


def import_file(path: str, module_name: str):
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # so that pickle can name (and refuse) the classes it defines
    spec.loader.exec_module(module)
    return module


def call(module, name: str, args: tuple, kwargs: dict):
    return getattr(module, name)(*args, **kwargs)


def run_learner_code(path: str, function, *args):
    """(value, None) when function(*args) returns; (None, ending) when it raises or exits."""
    try:
        value = function(*args)
    except BaseException as e:  # KeyboardInterrupt too: the learner's code raised it, the checker did not
        BUILTINS.update(SAVED_BUILTINS)
        return None, ending_for(e, path)
    BUILTINS.update(SAVED_BUILTINS)
    return value, None


def ending_for(error: BaseException, path: str) -> tuple:
    if isinstance(error, SystemExit):
        return ("exit", exit_code(error.code))
    if isinstance(error, MemoryError) or "can't allocate memory" in safe_str(error):  # torch's allocator too
        return ("memory",)
    return ("raised", describe(error, path))


def safe_str(error: BaseException) -> str:
    try:
        return str(error)[:1000]
    except BaseException:
        return "(its message could not be shown)"


def exit_code(code) -> str:
    """sys.exit's argument as the report shows it: 0, 3, 'bye'."""
    if code is None:
        return "0"
    return str(code) if isinstance(code, int) else repr(str(code))[:60]


def describe(error: BaseException, path: str) -> tuple:
    """(type name, nearest built-in exception class, message, line in the learner's file or None)."""
    kind, real = type(error), os.path.realpath(path)
    base = next((c.__name__ for c in kind.__mro__ if getattr(builtins, c.__name__, None) is c), "Exception")
    lines = [f.lineno for f in traceback.extract_tb(error.__traceback__) if os.path.realpath(f.filename) == real]
    return (str(kind.__name__), base, safe_str(error), lines[-1] if lines else None)


def send_back(result, args, kwargs, module_name: str) -> tuple:
    """One pickle of (result, args, kwargs): tensors the result shares with the arguments stay shared."""
    try:
        return ("returned", wire.dumps((result, args, kwargs), learner_module=module_name))
    except wire.Unsendable as e:
        return ("unsendable", str(e))
    except MemoryError:
        return ("memory",)
    except BaseException as e:  # a generator, an open file, a lock…
        return ("unsendable", f"something that cannot be pickled ({e})"[:300])


class SolutionsWatch:
    """Notes every file under the course's solutions/ that this process opens, imports or runs.

    An audit hook sees `open` (import, importlib, runpy, exec(open(…).read()) all open the file) and
    `subprocess.Popen` / `os.system` (`cat solutions/a01.py`); sys.modules catches what a hook can miss.
    folder is None when the file being checked is itself a solution.
    """

    def __init__(self, folder):
        self.folder = os.path.realpath(folder) + os.sep if folder else None
        self.seen = []
        self.known_modules = set(sys.modules)
        if self.folder:
            sys.addaudithook(self.hook)

    def hook(self, event: str, args: tuple) -> None:
        try:
            if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
                self.note(os.fsdecode(args[0]))
            elif event == "subprocess.Popen":
                for word in args[1] if isinstance(args[1], (list, tuple)) else [args[1]]:
                    self.note(os.path.join(args[2] or os.getcwd(), os.fsdecode(word)))
            elif event == "os.system":
                for word in shlex.split(os.fsdecode(args[0])):
                    self.note(os.path.join(os.getcwd(), word))
        except Exception:  # an audit hook must never break the operation it watches
            pass

    def note(self, path: str) -> None:
        real = os.path.realpath(path)
        if real.startswith(self.folder) and real not in self.seen:
            self.seen.append(real)

    def used(self) -> list:
        if not self.folder:
            return []
        for name in set(sys.modules) - self.known_modules:
            self.note(getattr(sys.modules.get(name), "__file__", None) or "/")
        return list(self.seen)
