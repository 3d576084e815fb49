import pytest
import torch

from difflab import noise, schedulers, toy
from difflab.sampling import sample_loop

MIX = toy.GaussianMixture2D.ring(std=0.3)
SD = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")


def log_density(mixture, x, a, b):
    """log p(x_t) for x_t = a·x0 + b·ε, written directly so autograd can give the score."""
    var = a**2 * mixture.stds**2 + b**2  # (K,)
    diff = x[:, None, :] - a * mixture.means[None]  # (N, K, 2)
    log_n = -(diff**2).sum(-1) / (2 * var) - torch.log(2 * torch.pi * var)  # 2-D isotropic normal
    return torch.logsumexp(mixture.weights.log() + log_n, dim=1)


@pytest.mark.parametrize("ab", [0.99, 0.5, 0.02])
def test_eps_star_is_minus_sigma_times_the_score_of_the_noised_mixture(ab):
    # Tweedie: E[ε | x_t] = -√(1-ᾱ)·∇ log p_t(x_t).
    x = torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_()
    a, b = ab**0.5, (1 - ab) ** 0.5
    (score,) = torch.autograd.grad(log_density(MIX, x, a, b).sum(), x)
    torch.testing.assert_close(MIX.eps_star(x.detach(), ab), -b * score, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("sigma", [0.1, 0.5, 0.95])
def test_velocity_star_follows_from_the_score_of_the_flow_marginal(sigma):
    x = torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).requires_grad_()
    (score,) = torch.autograd.grad(log_density(MIX, x, 1 - sigma, sigma).sum(), x)
    eps = -sigma * score
    x0 = (x.detach() - sigma * eps) / (1 - sigma)
    torch.testing.assert_close(MIX.velocity_star(x.detach(), sigma), eps - x0, rtol=1e-8, atol=1e-8)


def test_eps_star_beats_nearby_predictors_on_the_training_loss():
    g = torch.Generator().manual_seed(2)
    x0 = MIX.sample(50000, g).double()
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    x_t = 0.6**0.5 * x0 + 0.4**0.5 * eps
    best = ((MIX.eps_star(x_t, 0.6) - eps) ** 2).mean()
    for wrong in (MIX.eps_star(x_t, 0.5), 1.05 * MIX.eps_star(x_t, 0.6), torch.zeros_like(eps)):
        assert best < ((wrong - eps) ** 2).mean()


def test_exact_denoiser_targets_are_consistent():
    ddim = schedulers.DDIMScheduler(**SD)
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(3))
    eps = toy.ExactDenoiser(MIX, ddim.alphas_cumprod, "epsilon")(x, 400)
    x0 = toy.ExactDenoiser(MIX, ddim.alphas_cumprod, "sample")(x, 400)
    v = toy.ExactDenoiser(MIX, ddim.alphas_cumprod, "v_prediction")(x, 400)
    ab = ddim.alphas_cumprod[400]
    torch.testing.assert_close(noise.x0_from_eps(x, eps, ab), x0, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(noise.x0_from_v(x, v, ab), x0, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="prediction_type: got 'score'"):
        toy.ExactDenoiser(MIX, ddim.alphas_cumprod, "score")


def test_sampling_with_the_exact_denoiser_recovers_the_mixture():
    ring = toy.GaussianMixture2D.ring(std=0.1)
    ddim = schedulers.DDIMScheduler(**SD, clip_sample=False, timestep_spacing="trailing")
    z = torch.randn(4000, 2, generator=torch.Generator().manual_seed(4))
    samples = sample_loop(toy.ExactDenoiser(ring, ddim.alphas_cumprod), ddim, z, 50)
    distance, mode = torch.cdist(samples.double(), ring.means).min(dim=1)
    assert distance.median() < 0.2  # samples land on the modes …
    share = torch.bincount(mode, minlength=8) / len(mode)
    assert (share - ring.weights).abs().max() < 0.03  # … in the proportions of the mixing weights


def test_picture_is_a_deterministic_image_in_model_range():
    image = toy.picture(32)
    assert image.shape == (3, 32, 32) and image.min() >= -1 and image.max() <= 1
    assert torch.equal(image, toy.picture(32))
