"""The mutant test's cases, one module per lab: each plausible wrong implementation the lab's checks must call
wrong, with a reason. tests/test_exercises.py runs them all; every lab needs at least five."""

import importlib

from difflab.exercises import LABS


def all_labs() -> list[tuple]:
    """(lab, task, old, new, reason) for every lab in LABS that has a module here."""
    rows = []
    for lab in LABS:
        try:
            module = importlib.import_module(f"wrong.{lab}")
        except ModuleNotFoundError:
            continue
        rows += [(lab, *row) for row in module.WRONG]
    return rows
