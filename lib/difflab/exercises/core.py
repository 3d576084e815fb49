"""Running a lab's checks against a learner's file: one line per task, done / not yet / wrong.

A lab declares its tasks with a decorator; each check receives the learner's module as `m`, calls the
learner's functions (`m.alpha_bar(betas)`) and raises `Wrong(reason)` when an answer is off.

The learner's file never runs in this process (the notebook's kernel): it runs in a process of its own, and
`m` only stands for it (see remote.py). The checks, and every expected value they compute with difflab, run
here, where the learner's code cannot reach them. The runner turns everything else into a friendly line:
NotImplementedError → "not yet"; any other exception → "wrong" with the line in the learner's file; a task
that runs too long, exits, crashes or runs out of memory → "wrong" with the reason, and the next task gets a
fresh process.
"""

import html
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .remote import LearnerModule, LearnerProcess, Stopped, where

DONE, NOT_YET, WRONG = "done", "not yet", "wrong"
MARKS = {DONE: "✓", NOT_YET: "·", WRONG: "✗"}


class Wrong(AssertionError):
    """Raised by a check when the learner's answer is incorrect; the message is the reason shown."""


@dataclass
class Task:
    name: str  # the function (or class) the learner implements
    check: Callable[[LearnerModule], None]
    hint: str = ""
    time_limit: float = 20.0  # seconds


@dataclass
class Lab:
    id: str
    title: str
    tasks: list[Task] = field(default_factory=list)
    import_time_limit: float = 20.0  # seconds for the learner's file to import
    preload: tuple = ()  # modules the learner's process needs for what the checks send (imported once, see launch.py)

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
    seconds: float = 0.0


@dataclass
class Report:
    lab: str
    title: str
    path: str
    results: list[TaskResult]
    output: str = ""  # the start of what the learner's code printed

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.status == DONE for r in self.results)

    def __str__(self):
        lines = [f"{self.lab} · {self.title} · checking {self.path}"]
        for r in self.results:
            lines.append(f"  {MARKS[r.status]} {r.status:<8} {r.name}" + (f" — {r.reason}" if r.reason else ""))
        done = sum(r.status == DONE for r in self.results)
        lines.append(f"{done} of {len(self.results)} tasks done." + (" All done!" if self.passed else ""))
        if self.output:
            lines += ["Your file printed:", *("  | " + line for line in self.output.splitlines())]
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
        printed = f"<details><summary>Your file printed</summary><pre>{html.escape(self.output)}</pre></details>"
        return (
            f"<div><b>{html.escape(self.lab)} · {html.escape(self.title)}</b> — checking "
            f"<code>{html.escape(self.path)}</code><table>{rows}</table>{done} of {len(self.results)} tasks done."
            f"{printed if self.output else ''}</div>"
        )


def run_task(task: Task, process: LearnerProcess, path: Path) -> TaskResult:
    start = time.monotonic()

    def result(status: str, reason: str = "") -> TaskResult:
        return TaskResult(task.name, status, reason, round(time.monotonic() - start, 3))

    if task.name not in process.names:
        return result(NOT_YET, f"{path.name} defines no `{task.name}`; copy its def line back from the lab's starter.")
    answered = process.answered
    try:
        task.check(LearnerModule(process, start + task.time_limit, task.time_limit))
    except NotImplementedError as e:
        return result(NOT_YET, f"still raises NotImplementedError: {e}")
    except Wrong as e:
        return result(WRONG, str(e) + (f" Hint: {task.hint}" if task.hint else ""))
    except Stopped as e:  # the process ended, ran out of time or memory, or sent back what the checker refuses
        return result(WRONG, e.reason)
    except Exception as e:  # the learner's code raised: show the error, not a traceback
        return result(WRONG, f"raised {type(e).__name__}: {e}{where(path, e)}")
    if process.answered == answered:  # a check that never heard back from the learner's code proves nothing
        return result(WRONG, f"the check of {task.name} received no answer from your file.")
    return result(DONE)


def run_lab(lab: Lab, path: Path, shown_path: str, solutions: Path | None = None) -> Report:
    """Run every task of `lab` against the file at `path`, in a process of its own.

    solutions: the course's solutions/ folder, when `path` is not a solution itself: reading from it is reported.
    A task that ends the process leaves the next task a fresh one (the file is imported again).
    """
    results, output, process = [], bytearray(), None
    try:
        for task in lab.tasks:
            if process is None:
                process = LearnerProcess(path, lab.id, solutions, lab.import_time_limit, output)
            results.append(run_task(task, process, path))
            if not process.alive:
                process = None
    except Stopped as e:  # the file did not import (or the process could not start): every task left says why
        reason = f"{shown_path} {e.reason}" if e.reason.startswith("does not import") else e.reason
        results += [TaskResult(task.name, WRONG, reason) for task in lab.tasks[len(results) :]]
    except KeyboardInterrupt:  # Ctrl-C, or the notebook's interrupt button
        reason = "interrupted before this task was checked; run the check again."
        results += [TaskResult(task.name, NOT_YET, reason) for task in lab.tasks[len(results) :]]
    finally:
        if process is not None:
            process.stop()
    return Report(lab.id, lab.title, shown_path, results, printable(output.decode("utf-8", errors="replace")))


def printable(text: str) -> str:
    """The learner's output, safe to print in a terminal: control characters (escape codes too) become �."""
    return "".join(c if c.isprintable() or c in "\n\t" else "\ufffd" for c in text)
