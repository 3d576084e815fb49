"""Install PyTorch into the running Python (the course's .venv): a CPU build unless there is a CUDA GPU.

Why a script: on Linux, `pip install torch` takes the CUDA build (several GB of nvidia-* packages) whether
or not the machine has a GPU. So the Makefile runs this first, and `pip install -e .` then finds torch
already there and keeps it.

    no torch yet, a CUDA GPU (nvidia-smi lists one)  →  pip install "torch>=2.4"            (the CUDA build)
    no torch yet, no GPU                             →  the first CPU build found among:
        1. PyTorch's CPU index (download.pytorch.org/whl/cpu): what an ordinary laptop gets
        2. wheels already on this disk (pip's --find-links, no index): machines without internet
        3. plain PyPI, where it is a CPU build (macOS, Windows)
    torch already installed                          →  nothing

A candidate counts as a CPU build when pip's dry run would install no nvidia-*, cuda-* or triton package.
Set DIFFLAB_TORCH=cpu or DIFFLAB_TORCH=cuda to choose instead of detecting.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

REQUIREMENT = "torch>=2.4"  # the range pyproject.toml asks for
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CPU_CANDIDATES = [
    (
        "PyTorch's CPU index and pip's own configured sources",
        ["--index-url", CPU_INDEX, "--timeout", "15", "--retries", "1"],
    ),
    ("wheels on this disk", ["--no-index"]),
    ("PyPI", []),
]
GPU_ONLY_PACKAGES = ("nvidia-", "cuda-", "triton")


def has_cuda_gpu() -> bool:
    """True when the NVIDIA driver lists at least one GPU."""
    if shutil.which("nvidia-smi") is None:
        return False
    listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return listed.returncode == 0 and "GPU" in listed.stdout


def pip(*args: str, capture: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=capture, text=True)


def would_install(source_args: list[str]) -> dict[str, str] | None:
    """{package: version} pip would install for torch with these sources (a dry run), or None if it finds none."""
    report = pip("install", "--dry-run", "--quiet", "--report", "-", REQUIREMENT, *source_args, capture=True)
    if report.returncode != 0:
        return None
    return {
        item["metadata"]["name"].lower(): item["metadata"]["version"] for item in json.loads(report.stdout)["install"]
    }


def install_cpu_build() -> int:
    for where, source_args in CPU_CANDIDATES:
        packages = would_install(source_args)
        if packages is None:
            print(f"install_torch: {where}: no torch found there.")
            continue
        gpu_only = [p for p in packages if p.startswith(GPU_ONLY_PACKAGES)]
        if gpu_only:
            print(f"install_torch: {where}: only a CUDA build ({len(gpu_only)} GPU packages such as {gpu_only[0]}).")
            continue
        print(f"install_torch: installing torch {packages.get('torch', '')} (a CPU build), found via {where}.")
        return pip("install", REQUIREMENT, *source_args).returncode
    print(
        "install_torch: error: found no CPU build of torch. Install one into .venv yourself, e.g.\n"
        f"    .venv/bin/pip install torch --index-url {CPU_INDEX}\n"
        "or set DIFFLAB_TORCH=cuda to accept the CUDA build (several GB).",
        file=sys.stderr,
    )
    return 1


def main() -> int:
    if importlib.util.find_spec("torch") is not None:
        return 0
    choice = os.environ.get("DIFFLAB_TORCH", "").lower()
    if choice not in ("", "cpu", "cuda"):
        print(f"install_torch: error: DIFFLAB_TORCH: got {choice!r}; valid values are cpu, cuda.", file=sys.stderr)
        return 2
    if choice == "cuda" or (choice == "" and has_cuda_gpu()):
        print("install_torch: a CUDA GPU is present; installing the default (CUDA) build of torch.")
        return pip("install", REQUIREMENT).returncode
    return install_cpu_build()


if __name__ == "__main__":
    sys.exit(main())
