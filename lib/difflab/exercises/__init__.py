"""The exercise system: each lab's checks, and `check()` for notebooks.

difflab.check("a01")                   # your starters/a01.py
difflab.check("a01", solutions=True)   # the reference solutions
difflab.check("a01", file="my.py")     # any file

Your file runs in a process of its own, never in the notebook's kernel (see core.py and remote.py); each
result is also recorded in a small progress file (see progress.py).
"""

import importlib
import os
from pathlib import Path

from ..paths import course_root
from .core import DONE, NOT_YET, WRONG, Lab, Report, TaskResult, Wrong, run_lab
from .progress import read_progress, record

# every lab with checks: the modules named like a lab id in this folder (a01.py, b02.py, …), in course order
LAB_IDS = tuple(sorted(p.stem for p in Path(__file__).parent.glob("[ab][0-9][0-9].py")))


def load_lab(lab: str) -> Lab:
    """A lab's checks, imported on first use (some need transformers; `import difflab.exercises` stays light)."""
    return importlib.import_module(f"{__name__}.{lab}").lab


def __getattr__(name: str):
    if name == "LABS":  # every lab's checks, by id
        return {lab: load_lab(lab) for lab in LAB_IDS}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def lab_file(lab: str, solutions: bool = False, file=None) -> tuple[Path, str]:
    """The file to check and how to show its name (a symlink is kept as given: its target is not the file)."""
    if file is not None:
        return Path(os.path.abspath(file)), str(file)
    folder = "solutions" if solutions else "starters"
    return course_root() / folder / f"{lab}.py", f"{folder}/{lab}.py"


def solutions_to_watch(path: Path) -> Path | None:
    """The course's solutions/ folder, which the checked file must not read from; None when it is a solution."""
    try:
        folder = (course_root() / "solutions").resolve()
    except FileNotFoundError:
        return None
    inside = path.parent.resolve() == folder or folder in path.parent.resolve().parents
    return None if inside or not folder.is_dir() else folder


def run_checks(lab: str, solutions: bool = False, file=None) -> Report:
    """Run every task of `lab`; unknown labs and missing files become a report line, never an exception."""
    if lab not in LAB_IDS:
        reason = f"no lab {lab!r}; labs with checks: {', '.join(LAB_IDS)}."
        return Report(lab, "unknown lab", "-", [TaskResult("-", WRONG, reason)])
    checks = load_lab(lab)
    try:
        path, shown = lab_file(lab, solutions, file)
    except FileNotFoundError as e:
        return Report(lab, checks.title, "-", [TaskResult("-", WRONG, str(e))])
    if not path.is_file():
        return Report(lab, checks.title, shown, [TaskResult("-", WRONG, f"{path} does not exist.")])
    report = run_lab(checks, path, shown, solutions_to_watch(path))
    record(report, "file" if file is not None else "solutions" if solutions else "starter")
    return report


def check(lab: str, solutions: bool = False, file=None) -> Report:
    """Check a lab from a notebook: the report displays itself (HTML in Jupyter); nothing is ever raised."""
    try:
        return run_checks(lab, solutions, file)
    except KeyboardInterrupt:
        reason = "interrupted before the check finished; run it again."
        return Report(lab, "interrupted", str(file or lab), [TaskResult("-", NOT_YET, reason)])
    except BaseException as e:  # a bug in a check (even a SystemExit) must not break the learner's notebook
        return Report(lab, "check failed", str(file or lab), [TaskResult("-", WRONG, f"{type(e).__name__}: {e}")])


__all__ = [
    "LABS",
    "LAB_IDS",
    "Lab",
    "Report",
    "TaskResult",
    "Wrong",
    "DONE",
    "NOT_YET",
    "WRONG",
    "check",
    "run_checks",
    "lab_file",
    "read_progress",
]
