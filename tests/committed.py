"""Files as git has them committed, for the author checks that need pristine files.

A learner edits starters/ and saves labs with their outputs; that is their work, and the test suite must not
fail on it. So the checks that need pristine files (starters generated from solutions, notebooks stored
without outputs) read what HEAD holds, not the working tree. Outside a git checkout (an unpacked archive)
there is nothing committed to compare, and they read the files on disk.
"""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True)


def in_git_checkout() -> bool:
    return git("rev-parse", "--verify", "HEAD").returncode == 0


def committed_files(pattern: str) -> list[str]:
    """Paths (relative to the repository root) of the committed files matching a git pathspec glob."""
    if not in_git_checkout():
        return sorted(str(p.relative_to(ROOT)) for p in ROOT.glob(pattern))
    listed = git("ls-tree", "-r", "--name-only", "HEAD", "--", pattern.split("*")[0])
    names = listed.stdout.decode().split()
    return sorted(n for n in names if Path(n).match(pattern))


def committed_bytes(path: str) -> bytes:
    """The file's content at HEAD (or on disk outside a git checkout)."""
    if not in_git_checkout():
        return (ROOT / path).read_bytes()
    shown = git("show", f"HEAD:{path}")
    assert shown.returncode == 0, f"{path} is not committed: {shown.stderr.decode().strip()}"
    return shown.stdout
