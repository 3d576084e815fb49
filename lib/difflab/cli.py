"""The `difflab` command.

difflab starters [--check]                       regenerate starters/ from solutions/ (or verify them)
difflab check LAB [--solutions | --file PATH]    run a lab's checks; exit 0 only if every task is done
"""

import argparse
import sys

from .exercises import LABS, run_checks
from .exercises.starters import stale_starters, write_starters
from .paths import course_root


def cmd_starters(args) -> int:
    root = course_root()
    if args.check:
        stale = stale_starters(root)
        if stale:
            print("Stale starters (run `difflab starters` to regenerate): " + ", ".join(stale))
            return 1
        print("Starters are in step with solutions.")
        return 0
    written, kept = write_starters(root, force=args.force)
    print("Wrote " + ", ".join(written) if written else "No starter written.")
    if kept:
        print(
            "Left alone (they differ from their solutions, perhaps with your work in them): "
            + ", ".join(kept)
            + ". Course authors regenerating them: `difflab starters --force`."
        )
    return 0


def cmd_check(args) -> int:
    report = run_checks(args.lab, solutions=args.solutions, file=args.file)
    print(report)
    return 0 if report.passed else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="difflab", description="The difflab course tools.")
    commands = parser.add_subparsers(dest="command", required=True)

    starters = commands.add_parser("starters", help="regenerate starters/ from solutions/")
    starters.add_argument("--check", action="store_true", help="exit 1 if a committed starter is stale")
    starters.add_argument("--force", action="store_true", help="also overwrite starters that were edited")
    starters.set_defaults(run=cmd_starters)

    check = commands.add_parser("check", help="check your implementation of a lab's tasks")
    check.add_argument("lab", help=f"the lab id: {', '.join(LABS)}")
    which = check.add_mutually_exclusive_group()
    which.add_argument("--solutions", action="store_true", help="check the reference solutions instead")
    which.add_argument("--file", help="check this file instead of starters/LAB.py")
    check.set_defaults(run=cmd_check)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
