"""Where tensors go: CUDA when it is there, the CPU otherwise; fp32 unless asked. And how many CPU threads to use."""

import os

import torch


def default_device() -> torch.device:
    """cuda:0 if a GPU is visible, else cpu (override with the DIFFLAB_DEVICE environment variable)."""
    if os.environ.get("DIFFLAB_DEVICE"):
        return torch.device(os.environ["DIFFLAB_DEVICE"])
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def idle_cores(loadavg: str = "/proc/loadavg") -> int:
    """The cores this process may run on (os.sched_getaffinity: a container or taskset may allow fewer than the
    machine has) less those other processes keep busy at this instant, at least 1.

    The busy ones are read from /proc/loadavg, whose fourth field counts the threads runnable now, this one
    included ("2/103": this process and one other). Without that file (not Linux), every allowed core counts.
    """
    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        with open(loadavg) as f:
            runnable = int(f.read().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        runnable = 1
    return max(1, allowed - (runnable - 1))


def use_idle_cores() -> int:
    """Give torch one intra-op thread per idle core, unless OMP_NUM_THREADS says how many; returns the count.

    torch starts one OpenMP thread per core, and every parallel operation waits for its slowest thread. When another
    process keeps a core busy, the thread that shares it runs only part of the time, and each of the thousands of
    small operations of a generation waits for it: with one of two cores busy, `difflab generate` took 15–33 s
    instead of 4 s. A thread too few costs a little; a thread too many costs that. (The labs set 1 thread: their
    tensors are tiny.)
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return torch.get_num_threads()
    threads = idle_cores()
    torch.set_num_threads(threads)
    return threads
