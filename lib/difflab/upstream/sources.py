"""The upstream projects we read, each pinned to one version, found on disk without importing them.

difflab shows diffusers and DiffSynth-Studio side by side with its own code. It reads their files as text from the
installed distributions (importlib.metadata knows where pip put every file); it never imports them: DiffSynth's own
dependencies are deliberately not installed, and a course should not run code it only wants to show.
"""

import importlib.metadata
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class Source:
    """One upstream project: its pip distribution, the version the labs are written against, where it lives."""

    name: str  # how a reference starts: "diffusers.schedulers.scheduling_ddim.DDIMScheduler.step"
    title: str  # how a header names it: "diffusers 0.42.1 · src/diffusers/…"
    distribution: str  # the pip name
    version: str  # the pin; `make install` installs exactly this
    repo_prefix: str  # the folder above the package in the upstream repository ("src/" for diffusers)


SOURCES = {
    "diffusers": Source("diffusers", "diffusers", "diffusers", "0.42.1", "src/"),
    "diffsynth": Source("diffsynth", "DiffSynth-Studio", "diffsynth", "2.1.12", ""),
}


def get_source(name: str) -> Source:
    """The pinned Source called `name`, after checking that exactly its pinned version is installed."""
    if name not in SOURCES:
        raise ValueError(f"source: {name!r} is not an upstream source difflab reads; valid: {sorted(SOURCES)}")
    source = SOURCES[name]
    try:
        installed = importlib.metadata.version(source.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise LookupError(
            f"source: {name!r} is not installed (difflab reads {source.distribution}=={source.version}); "
            "fix: run `make install`"
        ) from None
    if installed != source.version:
        raise LookupError(
            f"source: {name!r} is pinned to {source.version} but {installed} is installed; the labs' references and "
            f"line maps are written against {source.version}; fix: run `make install`"
        )
    return source


@cache
def module_files(distribution: str) -> dict[str, str]:
    """Every module of a distribution by dotted name → its path inside site-packages.

    {"diffusers.schedulers.scheduling_ddim": "diffusers/schedulers/scheduling_ddim.py",
     "diffusers": "diffusers/__init__.py", …}
    """
    modules = {}
    for file in importlib.metadata.distribution(distribution).files or []:
        path = file.as_posix()
        if not path.endswith(".py") or "__pycache__" in path or path.startswith("../"):
            continue
        dotted = path[: -len(".py")].replace("/", ".")
        modules[dotted.removesuffix(".__init__")] = path
    return modules


@cache
def read_lines(distribution: str, path: str) -> tuple[str, ...]:
    """The lines of one file of a distribution (no trailing newlines); read once, kept for the session."""
    file = Path(importlib.metadata.distribution(distribution).locate_file(path))
    return tuple(file.read_text(encoding="utf-8").splitlines())
