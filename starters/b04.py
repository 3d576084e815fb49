"""Lab b04 · Scheduler loop reading (flow matching) — your implementations.

Replace each `raise NotImplementedError(...)` with your code, then run `difflab check b04` (or
`difflab.check("b04")` in the notebook). Compare with lib/difflab/schedulers/flow_match.py and
lib/difflab/noise.py once yours pass.

Notation: x_σ = (1-σ)·x0 + σ·ε on the straight path from the data (σ = 0) to pure noise (σ = 1); the model
predicts the velocity v = dx_σ/dσ = ε - x0; the timestep the model is told is t = 1000·σ.
"""

import torch


def shift_sigmas(sigmas: torch.Tensor, shift: float) -> torch.Tensor:
    """The timestep shift (Esser et al. 2024, SD3): σ' = s·σ / (1 + (s-1)·σ).

    sigmas: a tensor of σ in [0, 1], any shape; shift: s > 0 (1 leaves σ alone). Returns σ', same shape and dtype.
    """
    raise NotImplementedError("b04: apply the formula elementwise")


def flow_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The flow-matching training target: the velocity v = dx_σ/dσ of x_σ = (1-σ)·x0 + σ·ε.

    x0, noise: (B, ...), e.g. video latents (B, C, F, H, W). Returns v, same shape.
    """
    raise NotImplementedError("b04: differentiate x_σ with respect to σ")


def add_flow_noise(x0: torch.Tensor, noise: torch.Tensor, sigma) -> torch.Tensor:
    """x_σ = (1-σ)·x0 + σ·ε, with one σ for the whole batch or one per sample.

    x0, noise: (B, ...), e.g. (B, C, F, H, W). sigma: a float, a 0-d tensor, or a (B,) tensor (one σ per sample,
    as in training, where every clip of the batch draws its own σ). Returns x_σ, shape and dtype of x0.
    """
    raise NotImplementedError(
        "b04: make σ a tensor of x0's dtype; a (B,) σ becomes (B, 1, 1, …) so it scales whole samples"
    )


def flow_step(sample: torch.Tensor, velocity: torch.Tensor, sigma, sigma_next) -> torch.Tensor:
    """One Euler step of dx/dσ = v̂ from σ down to σ_next (< σ): the flow-matching sampler's update.

    sample, velocity: (B, ...), the current x_σ and the model's v̂ at it. sigma, sigma_next: 0-d tensors.
    Returns x at σ_next, a new tensor shaped like sample.
    """
    raise NotImplementedError("b04: move along v̂ by the (negative) change in σ")


def flow_sample(model, noise: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """The whole flow-matching Euler loop: from x = noise at sigmas[0] down the list to sigmas[-1] (usually 0).

    model(x, t) returns the velocity v̂ at x; it expects the timestep t = 1000·σ, not σ itself.
    noise: (B, ...). sigmas: (N+1,), descending, e.g. a scheduler's `sigmas` after set_timesteps(N).
    Returns the final sample, shaped like noise. Write the loop out; do not call flow_step.
    """
    raise NotImplementedError(
        "b04: for each pair (σ, σ_next): ask the model at t = 1000·σ, then step x along v̂ to σ_next"
    )
