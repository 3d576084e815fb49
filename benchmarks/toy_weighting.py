"""Which noise levels does each loss weighting teach? A controlled experiment on the 2-D toy world.

The cheap half of the control in handbook/diffusion/denoising-objective.md: shapes-sd learnt position only after
its ε loss was multiplied by max(1, 1/SNR), but other things changed too. Here the data are the 8-mode ring of
difflab.toy, whose exact denoiser E[x0 | x_t] is known, and the same MLP (same seed, same batches, same budget)
is trained with five objectives (difflab/train/toy.py). Each network's x̂0 is compared with the exact one on
fresh x_t, per band of SNR = ᾱ/(1-ᾱ) on Stable Diffusion's schedule; then each samples 8,000 points with the same
sampler (DDIM, 50 trailing steps) from the same noise, and the mode it lands in is compared with the mixture.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/toy_weighting.py              # 5 seeds × 3,000 steps, ≈ 2.5 min
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/toy_weighting.py --steps 12000 --seeds 3   # ≈ 10 min
"""

import argparse
import time

import torch

from difflab import noise, toy
from difflab.sampling import sample_loop
from difflab.schedulers import DDIMScheduler
from difflab.train import toy as trainer

MIXTURE = toy.GaussianMixture2D.ring()  # 8 modes on a circle of radius 1.5, std 0.12, weights 1/36 … 8/36
SNR_BANDS = [(0, 0.01), (0.01, 0.1), (0.1, 1), (1, 10), (10, float("inf"))]
SD_SNR = noise.snr(trainer.SD_ALPHA_BAR)  # (1000,)
SAMPLER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False)


def band_name(lo, hi) -> str:
    return f"SNR<{hi:g}" if lo == 0 else (f"SNR>{lo:g}" if hi == float("inf") else f"{lo:g}–{hi:g}")


def evaluation_set(per_t: int = 200, seed: int = 12345):
    """Fresh (t, y, σ, exact x̂0) at every other timestep of SD's schedule: 500 × per_t points."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(0, 1000, 2).repeat_interleave(per_t)  # (N,)
    x0 = MIXTURE.sample(len(t), g).double()  # (N, 2)
    a, b = trainer.SD_ALPHA_BAR[t].sqrt(), (1 - trainer.SD_ALPHA_BAR[t]).sqrt()  # (N,) each
    x_t = a[:, None] * x0 + b[:, None] * torch.randn(len(t), 2, generator=g, dtype=torch.float64)
    return t, (x_t / a[:, None]).float(), trainer.SD_SIGMAS[t], MIXTURE.posterior_mean(x_t, a, b)


def mode_certainty(evaluation) -> list[float]:
    """Mean over x_t of max_k r_k(x_t), the exact posterior probability of the likeliest mode, per SNR band.

    It rises from ≈ the largest weight (8/36 = 0.22, nothing decided) to 1 (the mode is settled).
    """
    t, y, sigma, _ = evaluation
    var = (MIXTURE.stds[None] ** 2 + sigma[:, None] ** 2).double()  # (N, K): y | k ~ N(μ_k, (s_k² + σ²)·I)
    log_r = MIXTURE.weights.log() - torch.cdist(y.double(), MIXTURE.means) ** 2 / (2 * var) - var.log()
    certainty = log_r.softmax(1).max(1).values  # (N,)
    return [certainty[(SD_SNR[t] >= lo) & (SD_SNR[t] < hi)].mean().item() for lo, hi in SNR_BANDS]


@torch.no_grad()
def band_errors(model, evaluation) -> list[float]:
    """RMS of ‖x̂0_network - E[x0 | x_t]‖ in each SNR band."""
    t, y, sigma, exact = evaluation
    squared = ((model(y, sigma).double() - exact) ** 2).sum(1)  # (N,)
    return [squared[(SD_SNR[t] >= lo) & (SD_SNR[t] < hi)].mean().sqrt().item() for lo, hi in SNR_BANDS]


def as_epsilon_model(model):
    """Wrap D(y; σ) as a VP ε-model (x_t, t) → ε̂ for the scheduler: y = x_t/√ᾱ_t, ε̂ = (y - D(y; σ))/σ."""

    @torch.no_grad()
    def epsilon(x_t, t):
        t = int(t)
        y = x_t / trainer.SD_ALPHA_BAR[t].sqrt().float()
        sigma = trainer.SD_SIGMAS[t].expand(len(y))
        return (y - model(y, sigma)) / sigma[:, None].float()

    return epsilon


def mode_statistics(samples: torch.Tensor) -> tuple[float, float]:
    """(total-variation distance between the modes' sample shares and the mixture weights, share off every mode).

    A sample belongs to its nearest mean; it is "off" when it lies more than 3 stds from it (1.1 % for the data).
    """
    distances = torch.cdist(samples.double(), MIXTURE.means)  # (N, K)
    nearest, mode = distances.min(1)
    shares = torch.bincount(mode, minlength=len(MIXTURE.weights)).double() / len(samples)
    off_mode = (nearest > 3 * MIXTURE.stds[mode]).double().mean().item()
    return 0.5 * (shares - MIXTURE.weights).abs().sum().item(), off_mode


def sample(model_eps, n: int = 8000, steps: int = 50) -> torch.Tensor:
    scheduler = DDIMScheduler(**SAMPLER, timestep_spacing="trailing")
    start = torch.randn(n, 2, generator=torch.Generator().manual_seed(777))  # the same noise for every model
    return sample_loop(model_eps, scheduler, start, steps)


def training_share(objective: str) -> list[float]:
    """Share of training noise levels that fall in each SNR band (outside SD's range counted at its ends)."""
    sigma = trainer.draw_sigma(1_000_000, objective, torch.Generator().manual_seed(0))
    snr = 1 / sigma**2
    return [((snr >= lo) & (snr < hi)).double().mean().item() for lo, hi in SNR_BANDS]


def mean_spread(values: torch.Tensor) -> str:
    return f"{values.mean():.3f}±{values.std():.3f}" if len(values) > 1 else f"{values.item():.3f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    evaluation = evaluation_set()
    exact_eps = toy.ExactDenoiser(MIXTURE, trainer.SD_ALPHA_BAR.float(), "epsilon")
    exact_tv, exact_off = mode_statistics(sample(exact_eps))
    names = [band_name(*band) for band in SNR_BANDS]
    seconds, errors, modes = {}, {}, {}
    for objective in trainer.OBJECTIVES:
        rows, stats, seconds[objective] = [], [], 0.0
        for seed in range(args.seeds):
            clock = time.perf_counter()
            model, _ = trainer.train(MIXTURE, objective, seed=seed, steps=args.steps)
            seconds[objective] += (time.perf_counter() - clock) / args.seeds
            rows.append(band_errors(model, evaluation))
            stats.append(mode_statistics(sample(as_epsilon_model(model))))
        errors[objective], modes[objective] = torch.tensor(rows), torch.tensor(stats)

    print(f"2-D ring, MLP of {sum(p.numel() for p in model.parameters())} parameters, {args.steps} Adam steps at")
    print(f"batch 512, {args.seeds} seeds (mean ± sd over seeds); SD's scaled_linear schedule, T = 1000;")
    print(f"EDM's σ_data = {model.sigma_data:.3f}, the data's RMS per coordinate.")
    print("\nShare of training draws per SNR band (SD's t ~ U{0…999}; EDM's ln σ ~ N(-1.2, 1.2²)):")
    print(f"  {'':14}" + "".join(f"{n:>13}" for n in names))
    for objective in ("epsilon", "edm"):
        label = "uniform t" if objective == "epsilon" else "edm"
        print(f"  {label:14}" + "".join(f"{s:13.3f}" for s in training_share(objective)))
    print("\nExact P(likeliest mode | x_t), mean per band (0.22 = undecided, 1 = settled):")
    print(f"  {'':14}" + "".join(f"{c:13.3f}" for c in mode_certainty(evaluation)))
    print("\nRMS error of x̂0 against the exact denoiser E[x0 | x_t], per SNR band:")
    print(f"  {'objective':14}" + "".join(f"{n:>13}" for n in names))
    for objective, e in errors.items():
        print(f"  {objective:14}" + "".join(f"{mean_spread(e[:, i]):>13}" for i in range(len(names))))
    print("\nSamples (DDIM, 50 trailing steps, 8,000 points, same noise): mode-weight TV distance, share off-mode:")
    print(f"  {'exact':14}{exact_tv:13.3f}{exact_off:13.3f}")
    for objective, m in modes.items():
        print(f"  {objective:14}{mean_spread(m[:, 0]):>13}{mean_spread(m[:, 1]):>13}")
    print("\nSeparated pairs (every seed of one below every seed of the other), x̂0 error per band:")
    for band, name in enumerate(names):
        wins = [
            f"{a}<{b}"
            for a in trainer.OBJECTIVES
            for b in trainer.OBJECTIVES
            if a != b and errors[a][:, band].max() < errors[b][:, band].min()
        ]
        print(f"  {name:>9}: {', '.join(wins) or '-'}")
    print("\nSeconds per training run (one thread): " + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items()))
    print(f"Whole benchmark: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
