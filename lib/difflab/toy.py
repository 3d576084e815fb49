"""A toy world with exact answers: 2-D Gaussian mixtures and their Bayes-optimal denoisers.

For data x0 ~ Σ_k w_k·N(μ_k, s_k²·I) noised as x_t = a·x0 + b·ε (VP: a = √ᾱ_t, b = √(1-ᾱ_t);
flow matching: a = 1-σ, b = σ), every quantity a denoiser is trained to predict has a closed form:

    x_t | k       ~ N(a·μ_k, (a²s_k² + b²)·I)                       the noised component k
    r_k(x_t)      = w_k·N(x_t; a·μ_k, …) / Σ_j w_j·N(x_t; a·μ_j, …)  posterior responsibility of k
    E[x0 | x_t]   = Σ_k r_k·(μ_k + a·s_k²/(a²s_k² + b²)·(x_t - a·μ_k))
    ε*(x_t)       = (x_t - a·E[x0 | x_t]) / b                        the optimal noise prediction
    v*(x_t)       = ε* - E[x0 | x_t]                                 the optimal flow-matching velocity

A network trained to convergence with the MSE loss outputs exactly these, so samplers can be compared and
their errors measured with no training at all.
"""

import math
from dataclasses import dataclass

import torch

from . import noise


@dataclass(frozen=True)
class GaussianMixture2D:
    means: torch.Tensor  # (K, 2)
    stds: torch.Tensor  # (K,)   isotropic standard deviation of each component
    weights: torch.Tensor  # (K,)  mixing weights, summing to 1

    @classmethod
    def ring(cls, k: int = 8, radius: float = 1.5, std: float = 0.12, uneven: bool = True):
        """k components on a circle; with `uneven`, their weights differ so mode coverage can be judged."""
        angles = torch.arange(k, dtype=torch.float64) * 2 * math.pi / k
        means = radius * torch.stack([angles.cos(), angles.sin()], dim=1)
        weights = torch.arange(1, k + 1, dtype=torch.float64) if uneven else torch.ones(k, dtype=torch.float64)
        return cls(means, torch.full((k,), std, dtype=torch.float64), weights / weights.sum())

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws from the mixture, shape (n, 2), float32."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,)
        eps = torch.randn(n, 2, generator=generator, dtype=torch.float64)
        return (self.means[k] + self.stds[k, None] * eps).float()

    def posterior_mean(self, x_t: torch.Tensor, a, b) -> torch.Tensor:
        """E[x0 | x_t] for x_t = a·x0 + b·ε; a and b are scalars or per-sample tensors (N,)."""
        x = x_t.double()  # (N, 2)
        a = torch.as_tensor(a, dtype=torch.float64).reshape(-1, 1, 1)  # (N or 1, 1, 1)
        b = torch.as_tensor(b, dtype=torch.float64).reshape(-1, 1, 1)
        var = a**2 * self.stds[None, :, None] ** 2 + b**2  # (N, K, 1) variance of x_t given k
        diff = x[:, None, :] - a * self.means[None]  # (N, K, 2)
        log_r = self.weights.log()[None] - (diff**2).sum(-1) / (2 * var[..., 0]) - var[..., 0].log()  # (N, K)
        r = torch.softmax(log_r, dim=1)  # responsibilities (the 2π and the d/2 exponent cancel for d = 2)
        x0_k = self.means[None] + a * self.stds[None, :, None] ** 2 / var * diff  # (N, K, 2)
        return (r[..., None] * x0_k).sum(1).to(x_t.dtype)

    def eps_star(self, x_t: torch.Tensor, alpha_bar_t) -> torch.Tensor:
        """The optimal ε-prediction at noise level ᾱ_t (VP forward process)."""
        ab = torch.as_tensor(alpha_bar_t, dtype=torch.float64)
        x0 = self.posterior_mean(x_t, ab.sqrt(), (1 - ab).sqrt())
        return noise.eps_from_x0(x_t, x0, ab.reshape(-1, 1).to(x_t.dtype))

    def velocity_star(self, x_t: torch.Tensor, sigma) -> torch.Tensor:
        """The optimal flow-matching velocity E[ε - x0 | x_σ] at σ ∈ (0, 1]."""
        s = torch.as_tensor(sigma, dtype=torch.float64)
        x0 = self.posterior_mean(x_t, 1 - s, s)
        eps = (x_t - (1 - s).reshape(-1, 1).to(x_t.dtype) * x0) / s.reshape(-1, 1).to(x_t.dtype)
        return eps - x0


class ExactDenoiser:
    """What a perfectly trained network would output for the mixture, called like a model: `(x, t) → output`.

    `t` is a scheduler timestep. For VP schedulers it indexes `alphas_cumprod` (float timesteps, as Euler
    uses with linspace spacing, are interpolated linearly in σ, as diffusers does); for flow matching
    σ = t / num_train_timesteps.
    """

    TARGETS = ("epsilon", "v_prediction", "sample", "flow")

    def __init__(self, mixture: GaussianMixture2D, alphas_cumprod=None, prediction_type: str = "epsilon"):
        if prediction_type not in self.TARGETS:
            raise ValueError(f"prediction_type: got {prediction_type!r}; valid values are {', '.join(self.TARGETS)}.")
        if prediction_type != "flow" and alphas_cumprod is None:
            raise ValueError("alphas_cumprod: needed for VP targets; pass scheduler.alphas_cumprod.")
        self.mixture = mixture
        self.prediction_type = prediction_type
        self.alphas_cumprod = alphas_cumprod
        self.num_train_timesteps = 1000 if alphas_cumprod is None else len(alphas_cumprod)

    def alpha_bar_at(self, t) -> torch.Tensor:
        sigmas = noise.sigmas_from_alpha_bar(self.alphas_cumprod.double())  # (T,); ∞ where ᾱ = 0 (zero terminal SNR)
        t = torch.as_tensor(t, dtype=torch.float64).clamp(0, len(sigmas) - 1)
        lo = t.floor().long()
        hi = (lo + 1).clamp(max=len(sigmas) - 1)
        between = sigmas[lo] + (t - lo) * (sigmas[hi] - sigmas[lo])
        sigma = torch.where(t == lo, sigmas[lo], between)  # an integer t reads its own σ, even σ = ∞
        return 1 / (1 + sigma**2)

    def __call__(self, x: torch.Tensor, t) -> torch.Tensor:
        if self.prediction_type == "flow":
            return self.mixture.velocity_star(x, torch.as_tensor(t, dtype=torch.float64) / self.num_train_timesteps)
        ab = self.alpha_bar_at(t)  # float64, 0-d or (N,)
        x0 = self.mixture.posterior_mean(x, ab.sqrt(), (1 - ab).sqrt())  # E[x0 | x_t], (N, 2)
        if self.prediction_type == "sample":
            return x0
        ab = ab.reshape(-1, 1).to(x.dtype)  # (1 or N, 1)
        eps = noise.eps_from_x0(x, x0, ab)  # ε* = (x_t - √ᾱ·x̂0)/√(1-ᾱ): at ᾱ = 0 it is x_t itself
        # v from x̂0 and ε*, not from ε alone: at ᾱ = 0, x̂0 = (x_t - ε*)/√ᾱ would be 0/0, while v* = -E[x0]
        return eps if self.prediction_type == "epsilon" else noise.v_target(x0, eps, ab)


def picture(size: int = 64) -> torch.Tensor:
    """A small deterministic test image: a red disc, a blue square and a green triangle on a light background.

    Returns (3, size, size) in [-1, 1], the range diffusion models work in (pixel = (value + 1) / 2).
    """
    y, x = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")  # (H, W) each
    image = torch.empty(3, size, size)
    image[:] = torch.tensor([0.93, 0.91, 0.86])[:, None, None]  # warm light grey
    shapes = [
        (((x - 0.3) ** 2 + (y - 0.32) ** 2) < 0.18**2, (0.85, 0.15, 0.15)),  # disc
        (((x - 0.72).abs() < 0.16) & ((y - 0.35).abs() < 0.16), (0.15, 0.3, 0.85)),  # square
        ((y > 0.58) & (y < 0.92) & ((x - 0.5).abs() < (y - 0.58) * 0.7), (0.15, 0.65, 0.25)),  # triangle
    ]
    for mask, colour in shapes:
        image[:, mask] = torch.tensor(colour)[:, None]
    return image * 2 - 1
