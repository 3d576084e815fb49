"""Train a small MLP denoiser on the 2-D toy world, with any of five objectives, in EDM's common form.

Karras et al. (2022) write every denoiser as D(y; σ) = c_skip(σ)·y + c_out(σ)·F(c_in(σ)·y; c_noise(σ)), where
y = x0 + σ·ε is the noisy sample in "variance exploding" form (y = x_t/√ᾱ_t, σ = √((1-ᾱ_t)/ᾱ_t)) and F is the
network. A prediction target is a choice of (c_skip, c_out, c_in); a weighting is a factor on the MSE of F:

    objective       F     c_skip          c_out             c_in            factor on ‖F - F*‖²   σ drawn
    epsilon         ε     1               -σ                1/√(σ²+1)       1                     SD's t ~ U{0…999}
    v               v     1/(σ²+1)        -σ/√(σ²+1)        1/√(σ²+1)       1                     SD's t
    truncated_snr   ε     as epsilon                                        max(1, 1/SNR)         SD's t
    min_snr_5       ε     as epsilon                                        min(SNR, 5)/SNR       SD's t
    edm             F     σd²/(σ²+σd²)    σ·σd/√(σ²+σd²)    1/√(σ²+σd²)     1                     ln σ ~ N(-1.2, 1.2²)

with SNR = 1/σ² and σd = σ_data (EDM with σd = 1 is v-prediction with F = -v). Since D - x0 = c_out·(F - F*),
each loss is also ‖D - x0‖² times the weight factor/c_out²: SNR, SNR + 1, max(SNR, 1), min(SNR, 5) and EDM's
λ(σ) = (σ² + σd²)/(σ·σd)² = SNR + 1/σd². Every network reads c_noise = ¼·ln σ, so only the objective differs.
"""

import torch
from torch import nn

from .. import noise
from .common import cosine_lr, seed_everything

OBJECTIVES = ("epsilon", "v", "truncated_snr", "min_snr_5", "edm")
SD_ALPHA_BAR = noise.alpha_bar(noise.beta_schedule("scaled_linear", 1000, 0.00085, 0.012)).double()  # (1000,)
SD_SIGMAS = noise.sigmas_from_alpha_bar(SD_ALPHA_BAR)  # (1000,) from 0.0292 (t = 0) to 14.61 (t = 999)
P_MEAN, P_STD = -1.2, 1.2  # EDM's log-normal training σ


def preconditioning(sigma: torch.Tensor, parameterisation: str, sigma_data: float = 0.5):
    """(c_skip, c_out, c_in, c_noise) at each σ (shape (N,) each) for 'epsilon', 'sample', 'v', 'flow' or 'edm'."""
    one = torch.ones_like(sigma)
    vp_in = 1 / (sigma**2 + 1).sqrt()  # √ᾱ: a VP network reads x_t = √ᾱ·y
    c_skip, c_out, c_in = {
        "epsilon": (one, -sigma, vp_in),  # x̂0 = y - σ·ε̂
        "sample": (0 * one, one, vp_in),  # x̂0 = F
        "v": (vp_in**2, -sigma * vp_in, vp_in),  # x̂0 = √ᾱ·x_t - √(1-ᾱ)·v̂ = ᾱ·y - √(1-ᾱ)·v̂
        "flow": (1 / (1 + sigma), -sigma / (1 + sigma), 1 / (1 + sigma)),  # x_s = y/(1+σ), s = σ/(1+σ), x̂0 = x_s - s·û
        "edm": (
            sigma_data**2 / (sigma**2 + sigma_data**2),
            sigma * sigma_data / (sigma**2 + sigma_data**2).sqrt(),
            1 / (sigma**2 + sigma_data**2).sqrt(),
        ),
    }[parameterisation]
    return c_skip, c_out, c_in, sigma.log() / 4  # c_noise = ¼·ln σ for all, so every network sees the same input


def loss_factor(sigma: torch.Tensor, objective: str) -> torch.Tensor:
    """The per-sample factor on the network-output MSE ‖F - F*‖² (the table above), shape (N,)."""
    snr = 1 / sigma**2
    if objective == "truncated_snr":
        return (1 / snr).clamp(min=1.0)  # max(1, 1/SNR): 1 wherever SNR ≥ 1
    if objective == "min_snr_5":
        return snr.clamp(max=5.0) / snr  # min(SNR, 5)/SNR: 1 wherever SNR ≤ 5
    if objective in OBJECTIVES:
        return torch.ones_like(sigma)
    raise ValueError(f"objective: got {objective!r}; valid values are {', '.join(OBJECTIVES)}.")


def edm_lambda(sigma: torch.Tensor, sigma_data: float) -> torch.Tensor:
    """EDM's loss weight on ‖D - x0‖²: λ(σ) = (σ² + σ_data²)/(σ·σ_data)² = 1/c_out²."""
    return (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2


def parameterisation(objective: str) -> str:
    """The coefficients an objective trains with: the three ε weightings all use "epsilon"."""
    return {"v": "v", "edm": "edm"}.get(objective, "epsilon")


def draw_sigma(n: int, objective: str, generator: torch.Generator) -> torch.Tensor:
    """Training noise levels, (n,): SD's σ_t at t ~ U{0…999}, or EDM's log-normal σ."""
    if objective == "edm":
        return (P_MEAN + P_STD * torch.randn(n, generator=generator, dtype=torch.float64)).exp()
    return SD_SIGMAS[torch.randint(0, len(SD_SIGMAS), (n,), generator=generator)]


class MLPDenoiser(nn.Module):
    """D(y; σ) = c_skip·y + c_out·F(c_in·y; c_noise), F a 3-hidden-layer MLP on [c_in·y, Fourier(c_noise)]."""

    def __init__(self, objective: str = "epsilon", sigma_data: float = 0.5, width: int = 64, frequencies: int = 8):
        super().__init__()
        self.objective, self.sigma_data = objective, sigma_data
        self.register_buffer("freqs", 2.0 ** torch.arange(frequencies))  # (F,) angular frequencies 1 … 128
        self.net = nn.Sequential(
            nn.Linear(2 + 2 * frequencies, width),
            nn.SiLU(),
            nn.Linear(width, width),
            nn.SiLU(),
            nn.Linear(width, width),
            nn.SiLU(),
            nn.Linear(width, 2),
        )

    def forward_F(self, y: torch.Tensor, sigma: torch.Tensor):
        """The raw network output F and the coefficients, for y (N, 2) at σ (N,)."""
        c_skip, c_out, c_in, c_noise = (
            c.float()[:, None] for c in preconditioning(sigma, parameterisation(self.objective), self.sigma_data)
        )
        angles = c_noise * self.freqs  # (N, F)
        features = torch.cat([c_in * y, angles.sin(), angles.cos()], dim=1)  # (N, 2 + 2F)
        return self.net(features), c_skip, c_out

    def forward(self, y: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """x̂0 = D(y; σ), shape (N, 2)."""
        F, c_skip, c_out = self.forward_F(y, sigma)
        return c_skip * y + c_out * F


def loss(model: MLPDenoiser, x0: torch.Tensor, sigma: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The objective's training loss on one batch: mean of factor(σ)·‖F - F*‖² over samples (mean over the 2 dims)."""
    y = x0 + sigma.float()[:, None] * eps  # (N, 2) = x_t/√ᾱ_t
    F, c_skip, c_out = model.forward_F(y, sigma)
    target = (x0 - c_skip * y) / c_out  # F* = ε, v or EDM's target, so that c_skip·y + c_out·F* = x0
    return (loss_factor(sigma, model.objective).float() * ((F - target) ** 2).mean(1)).mean()


def train(
    mixture, objective: str, seed: int = 0, steps: int = 3000, batch: int = 512, lr: float = 2e-3, width: int = 64
) -> tuple[MLPDenoiser, list[float]]:
    """Train one network. The seed fixes the initial weights and every batch: the VP objectives see identical data."""
    seed_everything(seed)
    sigma_data = float(mixture.sample(100_000, torch.Generator().manual_seed(0)).pow(2).mean().sqrt())
    model = MLPDenoiser(objective, sigma_data, width)  # σ_data is used by "edm" only
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator, losses = torch.Generator().manual_seed(seed), []
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, steps, lr)
        x0 = mixture.sample(batch, generator)  # (B, 2)
        sigma = draw_sigma(batch, objective, generator)  # (B,) float64
        eps = torch.randn(batch, 2, generator=generator)  # (B, 2)
        value = loss(model, x0, sigma, eps)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
        losses.append(value.item())
    return model, losses
