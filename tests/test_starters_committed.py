"""The committed starters are exactly what the committed solutions generate (an author check).

It reads what HEAD holds (tests/committed.py), so a learner's edited starters/<lab>.py never fails the suite.
Course authors: after editing solutions/, run `make starters` and commit both.
"""

import pytest

from difflab.exercises.starters import make_starter

from committed import committed_bytes, committed_files

SOLUTIONS = committed_files("solutions/*.py")


@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.split("/")[-1])
def test_committed_starter_is_generated_from_committed_solution(solution):
    name = solution.split("/")[-1]
    expected = make_starter(committed_bytes(solution).decode("utf-8"), name.removesuffix(".py"), solution)
    assert committed_bytes(f"starters/{name}") == expected.encode("utf-8"), (
        f"starters/{name} is stale: run `make starters` and commit it."
    )


def test_every_solution_has_a_starter():
    assert SOLUTIONS and {p.split("/")[-1] for p in SOLUTIONS} <= {
        p.split("/")[-1] for p in committed_files("starters/*.py")
    }
