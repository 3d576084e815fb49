"""Running a lab's checks against a learner's file: one line per task, done / not yet / wrong.

A lab declares its tasks with a decorator; each check receives the learner's module and raises
`Wrong(reason)` when the answer is off. The runner turns everything else into a friendly line:
NotImplementedError → "not yet", any other exception → "wrong" with the line in the learner's file,
a task that runs too long → "wrong" with a note about loops.
"""

import html
import importlib.util
import signal
import threading
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

DONE, NOT_YET, WRONG = "done", "not yet", "wrong"
MARKS = {DONE: "✓", NOT_YET: "·", WRONG: "✗"}


class Wrong(AssertionError):
    """Raised by a check when the learner's answer is incorrect; the message is the reason shown."""


class TaskTimeout(Exception):
    pass


@dataclass
class Task:
    name: str  # the function (or class) the learner implements
    check: Callable[[ModuleType], None]
    hint: str = ""
    time_limit: float = 20.0  # seconds


@dataclass
class Lab:
    id: str
    title: str
    tasks: list[Task] = field(default_factory=list)

    def task(self, name: str, hint: str = "", time_limit: float = 20.0):
        """Decorator: register `check(module)` as the check of task `name`."""

        def register(check):
            self.tasks.append(Task(name, check, hint, time_limit))
            return check

        return register


@dataclass
class TaskResult:
    name: str
    status: str
    reason: str = ""


@dataclass
class Report:
    lab: str
    title: str
    path: str
    results: list[TaskResult]

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.status == DONE for r in self.results)

    def __str__(self):
        lines = [f"{self.lab} · {self.title} · checking {self.path}"]
        for r in self.results:
            lines.append(f"  {MARKS[r.status]} {r.status:<8} {r.name}" + (f" — {r.reason}" if r.reason else ""))
        done = sum(r.status == DONE for r in self.results)
        lines.append(f"{done} of {len(self.results)} tasks done." + (" All done!" if self.passed else ""))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self):
        colours = {DONE: "#1a7f37", NOT_YET: "#6e7781", WRONG: "#cf222e"}
        rows = "".join(
            f"<tr><td style='color:{colours[r.status]};font-weight:bold'>{MARKS[r.status]} {r.status}</td>"
            f"<td><code>{html.escape(r.name)}</code></td><td style='text-align:left'>{html.escape(r.reason)}</td></tr>"
            for r in self.results
        )
        done = sum(r.status == DONE for r in self.results)
        return (
            f"<div><b>{html.escape(self.lab)} · {html.escape(self.title)}</b> — checking "
            f"<code>{html.escape(self.path)}</code><table>{rows}</table>{done} of {len(self.results)} tasks done.</div>"
        )


@contextmanager
def time_limit(seconds: float):
    """Interrupt the block after `seconds` (main thread on Unix; elsewhere no limit is applied)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def interrupt(signum, frame):
        raise TaskTimeout

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def load_module(path: Path, lab: str) -> ModuleType:
    """Import the learner's file afresh (so edits are picked up without restarting the kernel)."""
    spec = importlib.util.spec_from_file_location(f"difflab_exercise_{lab}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def where_in(path: Path, error: BaseException) -> str:
    """' (starters/a01.py, line 12)' for the deepest frame of the traceback inside the learner's file."""
    lines = [f.lineno for f in traceback.extract_tb(error.__traceback__) if Path(f.filename) == path]
    return f" ({path.name}, line {lines[-1]})" if lines else ""


def run_task(task: Task, module: ModuleType, path: Path) -> TaskResult:
    if not hasattr(module, task.name):
        return TaskResult(task.name, NOT_YET, f"{path.name} defines no `{task.name}`; restore it from solutions/")
    try:
        with time_limit(task.time_limit):
            task.check(module)
    except NotImplementedError as e:
        return TaskResult(task.name, NOT_YET, f"still raises NotImplementedError: {e}")
    except Wrong as e:
        return TaskResult(task.name, WRONG, str(e) + (f" Hint: {task.hint}" if task.hint else ""))
    except TaskTimeout:
        return TaskResult(task.name, WRONG, f"took longer than {task.time_limit:g} s; look for a loop that never ends.")
    except Exception as e:  # the learner's code raised: show the error, not a traceback
        return TaskResult(task.name, WRONG, f"raised {type(e).__name__}: {e}{where_in(path, e)}")
    return TaskResult(task.name, DONE)


def run_lab(lab: Lab, path: Path, shown_path: str) -> Report:
    """Import `path` and run every task of `lab` against it."""
    try:
        module = load_module(path, lab.id)
    except Exception as e:
        reason = f"{shown_path} does not import: {type(e).__name__}: {e}{where_in(path, e)}"
        return Report(lab.id, lab.title, shown_path, [TaskResult(t.name, WRONG, reason) for t in lab.tasks])
    return Report(lab.id, lab.title, shown_path, [run_task(t, module, path) for t in lab.tasks])
