"""Starter files are generated from solutions: each marked region becomes a NotImplementedError.

In solutions/<lab>.py a region looks like

    def alpha_bar(betas):
        # BEGIN SOLUTION: return ᾱ_t, the running product of (1 - β_t)
        return torch.cumprod(1 - betas, dim=0)
        # END SOLUTION

and in starters/<lab>.py it becomes

    def alpha_bar(betas):
        raise NotImplementedError("a01: return ᾱ_t, the running product of (1 - β_t)")

Everything outside the regions is kept byte for byte (files are read and written as bytes, so line
endings survive too).
"""

import re
import unicodedata
from pathlib import Path

LINE_LENGTH = 120  # pyproject.toml's [tool.ruff] line-length
BEGIN = re.compile(r"^(?P<indent>[ \t]*)# BEGIN SOLUTION(?::[ \t]*(?P<what>.*?))?[ \t]*$")
END = re.compile(r"^[ \t]*# END SOLUTION[ \t]*$")


def width(text: str) -> int:
    """Columns as ruff counts them: a combining mark (the hat of x̂) takes none."""
    return sum(not unicodedata.combining(c) for c in text)


def make_starter(source: str, lab: str, filename: str = "<solution>") -> str:
    """The starter text for one solution file's text."""
    out, region_start = [], None
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        begin, end = BEGIN.match(line.rstrip("\r\n")), END.match(line.rstrip("\r\n"))
        if begin:
            if region_start is not None:
                raise ValueError(f"{filename}:{number}: BEGIN SOLUTION inside the region opened on line {region_start}")
            if not begin["what"]:
                raise ValueError(
                    f"{filename}:{number}: say what to implement: '# BEGIN SOLUTION: <what the learner writes>'"
                )
            region_start = number
            message = f"{lab}: {begin['what']}".replace("\\", "\\\\").replace('"', '\\"')
            indent = begin["indent"]
            line = f'{indent}raise NotImplementedError("{message}")\n'
            if width(line.rstrip()) > LINE_LENGTH:  # laid out as ruff format would, so starters pass `make lint`
                line = f'{indent}raise NotImplementedError(\n{indent}    "{message}"\n{indent})\n'
            out.append(line)
        elif end:
            if region_start is None:
                raise ValueError(f"{filename}:{number}: END SOLUTION without a BEGIN SOLUTION")
            region_start = None
        elif region_start is None:
            out.append(line)
    if region_start is not None:
        raise ValueError(f"{filename}:{region_start}: BEGIN SOLUTION is never closed by '# END SOLUTION'")
    return "".join(out)


def stale_starters(root: Path) -> list[str]:
    """Names of starters that differ from what their solutions generate (or are missing)."""
    stale = []
    for solution in sorted((root / "solutions").glob("*.py")):
        starter = root / "starters" / solution.name
        expected = make_starter(solution.read_bytes().decode("utf-8"), solution.stem, str(solution))
        if not starter.exists() or starter.read_bytes() != expected.encode("utf-8"):
            stale.append(f"starters/{solution.name}")
    return stale


def write_starters(root: Path, force: bool = False) -> tuple[list[str], list[str]]:
    """Regenerate starters from solutions; return (files written, files left alone).

    A starter that exists and differs is where a learner's work lives, so it is only replaced with force=True.
    """
    written, kept = [], []
    for solution in sorted((root / "solutions").glob("*.py")):
        starter = root / "starters" / solution.name
        text = make_starter(solution.read_bytes().decode("utf-8"), solution.stem, str(solution))
        if starter.exists() and starter.read_bytes() == text.encode("utf-8"):
            continue
        if starter.exists() and not force:
            kept.append(f"starters/{solution.name}")
            continue
        starter.write_bytes(text.encode("utf-8"))
        written.append(f"starters/{solution.name}")
    return written, kept
