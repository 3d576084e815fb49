"""The exercise system: each lab's checks, and `check()` for notebooks.

difflab.check("a01")                   # your starters/a01.py
difflab.check("a01", solutions=True)   # the reference solutions
difflab.check("a01", file="my.py")     # any file
"""

from pathlib import Path

from ..paths import course_root
from . import a01, a02, a03, a04, a05, a06, b01, b02
from .core import DONE, NOT_YET, WRONG, Lab, Report, TaskResult, Wrong, run_lab

LABS: dict[str, Lab] = {lab.id: lab for lab in (a01.lab, a02.lab, a03.lab, a04.lab, a05.lab, a06.lab, b01.lab, b02.lab)}


def lab_file(lab: str, solutions: bool = False, file=None) -> tuple[Path, str]:
    """The file to check and how to show its name."""
    if file is not None:
        return Path(file).resolve(), str(file)
    folder = "solutions" if solutions else "starters"
    return course_root() / folder / f"{lab}.py", f"{folder}/{lab}.py"


def run_checks(lab: str, solutions: bool = False, file=None) -> Report:
    """Run every task of `lab`; unknown labs and missing files become a report line, never an exception."""
    if lab not in LABS:
        reason = f"no lab {lab!r}; labs with checks: {', '.join(LABS)}."
        return Report(lab, "unknown lab", "-", [TaskResult("-", WRONG, reason)])
    try:
        path, shown = lab_file(lab, solutions, file)
    except FileNotFoundError as e:
        return Report(lab, LABS[lab].title, "-", [TaskResult("-", WRONG, str(e))])
    if not path.is_file():
        return Report(lab, LABS[lab].title, shown, [TaskResult("-", WRONG, f"{path} does not exist.")])
    return run_lab(LABS[lab], path, shown)


def check(lab: str, solutions: bool = False, file=None) -> Report:
    """Check a lab from a notebook: the report displays itself (HTML in Jupyter) and nothing is raised."""
    try:
        return run_checks(lab, solutions, file)
    except Exception as e:  # a bug in a check must not break the learner's notebook
        return Report(lab, "check failed", str(file or lab), [TaskResult("-", WRONG, f"{type(e).__name__}: {e}")])


__all__ = ["LABS", "Lab", "Report", "Wrong", "DONE", "NOT_YET", "WRONG", "check", "run_checks", "lab_file"]
