"""How much does tracing slow a run down? Prints overhead ratios (traced time / untraced time).

    .venv/bin/python benchmarks/trace_overhead.py

Two workloads: the toy sampler loop (exact 2-D denoiser, DDIM, 50 steps) and a small conv net used as the
denoiser of a 20-step loop on (4, 4, 32, 32) latents. Each configuration runs interleaved with the others,
11 times; the figure is the ratio of the fastest runs (the least disturbed by other work on the
machine). Targets: stages + timings ≤ 1.05×, + shapes ≤ 1.25×,
full memory ledger ≤ 2×, and the same with detail="bounded" (per-step summaries from the start) ≤ 2×.
"""

import time

import torch

import difflab
from difflab import schedulers, toy

CONFIGS = {
    "stages + timings": dict(shapes=False, memory=False, check_finite=False),
    "+ shapes (and finite check)": dict(shapes=True, memory=False, check_finite=True),
    "full memory ledger": dict(shapes=True, memory=True, check_finite=True, detail="full"),
    "full ledger, detail='bounded'": dict(shapes=True, memory=True, check_finite=True, detail="bounded"),
}
TARGETS = {
    "stages + timings": 1.05,
    "+ shapes (and finite check)": 1.25,
    "full memory ledger": 2.0,
    "full ledger, detail='bounded'": 2.0,
}


def toy_workload():
    ddim = schedulers.DDIMScheduler(clip_sample=False, timestep_spacing="trailing")
    model = toy.ExactDenoiser(toy.GaussianMixture2D.ring(), ddim.alphas_cumprod)
    noise = torch.randn(2000, 2, generator=torch.Generator().manual_seed(0))
    return None, lambda: difflab.sample_loop(model, ddim, noise, 50)


def conv_workload():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(4, 32, 3, padding=1),
        torch.nn.GroupNorm(8, 32),
        torch.nn.SiLU(),
        torch.nn.Conv2d(32, 32, 3, padding=1),
        torch.nn.GroupNorm(8, 32),
        torch.nn.SiLU(),
        torch.nn.Conv2d(32, 4, 3, padding=1),
    ).eval()
    ddim = schedulers.DDIMScheduler(clip_sample=False, timestep_spacing="trailing")
    noise = torch.randn(4, 4, 32, 32, generator=torch.Generator().manual_seed(0))

    def run():
        with torch.no_grad():
            difflab.sample_loop(lambda x, t: net(x), ddim, noise, 20)

    return net, run


def measure(model, run, repeats: int) -> dict:
    times = {name: [] for name in ["untraced", *CONFIGS]}
    for _ in range(repeats):
        for name in times:
            start = time.perf_counter()
            if name == "untraced":
                run()
            else:
                with difflab.trace(model, **CONFIGS[name]):
                    run()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}  # the least-disturbed run of each


def main():
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with difflab.trace(torch.nn.Linear(1, 1)):  # pay one-time imports before timing
        torch.ones(1) * 1
    for workload, (model, run) in {
        "toy sampler, 50 steps": toy_workload(),
        "conv net, 20 steps": conv_workload(),
    }.items():
        run()  # warm up
        medians = measure(model, run, repeats=11)
        base = medians["untraced"]
        print(f"\n{workload}: untraced {base * 1e3:.1f} ms")
        for name in CONFIGS:
            ratio = medians[name] / base
            verdict = "ok" if ratio <= TARGETS[name] else "OVER TARGET"
            print(f"  {name:<30} {ratio:5.2f}×   (target ≤ {TARGETS[name]}×, {verdict})")


if __name__ == "__main__":
    main()
