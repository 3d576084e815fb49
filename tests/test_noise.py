import diffusers
import pytest
import torch

from difflab import noise

SCHEDULES = [("linear", 0.0001, 0.02), ("scaled_linear", 0.00085, 0.012), ("squaredcos_cap_v2", 0.0001, 0.02)]


@pytest.mark.parametrize("name, start, end", SCHEDULES)
def test_beta_schedules_and_alpha_bar_match_diffusers(name, start, end):
    theirs = diffusers.DDPMScheduler(beta_schedule=name, beta_start=start, beta_end=end)
    betas = noise.beta_schedule(name, 1000, start, end)
    torch.testing.assert_close(betas, theirs.betas, rtol=0, atol=1e-7)
    torch.testing.assert_close(noise.alpha_bar(betas), theirs.alphas_cumprod, rtol=1e-6, atol=1e-7)


def test_stable_diffusion_schedule_keeps_a_little_signal_at_the_last_step():
    ab = noise.alpha_bar(noise.beta_schedule("scaled_linear", 1000, 0.00085, 0.012))
    assert 0.0046 < ab[-1] < 0.0048  # ᾱ_999 ≈ 0.0047: x_999 still holds √0.0047 ≈ 7% of the image
    snr = noise.snr(ab)
    assert (snr[1:] < snr[:-1]).all()  # SNR falls monotonically with t


def test_rescale_zero_terminal_snr_matches_diffusers_and_ends_at_pure_noise():
    betas = noise.beta_schedule("scaled_linear", 1000, 0.00085, 0.012)
    rescaled = noise.rescale_zero_terminal_snr(betas)
    theirs = diffusers.DDIMScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, rescale_betas_zero_snr=True
    )
    torch.testing.assert_close(rescaled, theirs.betas, rtol=1e-6, atol=1e-7)
    ab = noise.alpha_bar(rescaled)
    assert ab[-1] == 0 and torch.isclose(ab[0], noise.alpha_bar(betas)[0])


def test_add_noise_matches_diffusers_per_sample_timesteps():
    theirs = diffusers.DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(4, 3, 8, 8, generator=g), torch.randn(4, 3, 8, 8, generator=g)
    t = torch.tensor([0, 10, 500, 999])
    ours = noise.add_noise(x0, eps, t, theirs.alphas_cumprod)
    torch.testing.assert_close(ours, theirs.add_noise(x0, eps, t), rtol=0, atol=1e-6)
    torch.testing.assert_close(
        noise.v_target(x0, eps, noise.expand_to(theirs.alphas_cumprod[t], x0)),
        theirs.get_velocity(x0, eps, t),
        rtol=0,
        atol=1e-6,
    )


def test_add_noise_names_the_argument_on_a_shape_mismatch():
    ab = noise.alpha_bar(noise.beta_schedule())
    with pytest.raises(ValueError, match=r"noise: got shape \(2, 3\) but x0 has shape \(2, 4\)"):
        noise.add_noise(torch.zeros(2, 4), torch.zeros(2, 3), torch.tensor([1, 2]), ab)


def test_unknown_beta_schedule_and_prediction_type_name_the_valid_values():
    with pytest.raises(ValueError, match="beta_schedule: got 'cosine'; valid values are linear, scaled_linear"):
        noise.beta_schedule("cosine")
    with pytest.raises(ValueError, match="prediction_type: got 'v'; valid values are epsilon, sample, v_prediction"):
        noise.predict_x0(torch.zeros(1), torch.zeros(1), 0.5, "v")


@pytest.mark.parametrize("ab", [0.999, 0.5, 0.01])
def test_prediction_targets_convert_into_each_other_exactly(ab):
    g = torch.Generator().manual_seed(1)
    x0, eps = (
        torch.randn(2, 4, 4, 4, generator=g, dtype=torch.float64),
        torch.randn(2, 4, 4, 4, generator=g, dtype=torch.float64),
    )
    ab = torch.tensor(ab, dtype=torch.float64)
    x_t = ab.sqrt() * x0 + (1 - ab).sqrt() * eps
    v = noise.v_target(x0, eps, ab)
    for got, want in [
        (noise.x0_from_eps(x_t, eps, ab), x0),
        (noise.eps_from_x0(x_t, x0, ab), eps),
        (noise.x0_from_v(x_t, v, ab), x0),
        (noise.eps_from_v(x_t, v, ab), eps),
        (noise.predict_x0(v, x_t, ab, "v_prediction"), x0),
        (noise.predict_eps(x0, x_t, ab, "sample"), eps),
    ]:
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_closed_form_forward_process_agrees_in_distribution_with_stepping_the_chain():
    # q(x_t | x0) from t single steps x_s = √(1-β_s)·x_{s-1} + √β_s·z must equal N(√ᾱ_t·x0, (1-ᾱ_t)·I).
    betas = noise.beta_schedule("linear", 1000)
    g = torch.Generator().manual_seed(2)
    x0 = torch.full((20000,), 0.8, dtype=torch.float64)
    x = x0.clone()
    for s in range(300):
        x = (1 - betas[s]).sqrt() * x + betas[s].sqrt() * torch.randn(x.shape, generator=g, dtype=torch.float64)
    ab = noise.alpha_bar(betas)[299].double()
    assert abs(x.mean() - ab.sqrt() * 0.8) < 0.02
    assert abs(x.var() - (1 - ab)) < 0.02


def test_flow_velocity_is_the_derivative_of_the_interpolation():
    g = torch.Generator().manual_seed(3)
    x0, eps = (
        torch.randn(3, 5, generator=g, dtype=torch.float64),
        torch.randn(3, 5, generator=g, dtype=torch.float64),
    )
    h = 1e-6
    derivative = (noise.flow_interpolate(x0, eps, 0.4 + h) - noise.flow_interpolate(x0, eps, 0.4 - h)) / (2 * h)
    torch.testing.assert_close(derivative, noise.flow_velocity(x0, eps), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(noise.flow_interpolate(x0, eps, 1.0), eps)


def test_randn_tensor_draws_one_sample_per_generator_where_the_generator_lives():
    g = lambda seed: torch.Generator().manual_seed(seed)
    torch.testing.assert_close(noise.randn_tensor((2, 3), g(0)), torch.randn((2, 3), generator=g(0)), rtol=0, atol=0)
    batch = noise.randn_tensor((2, 3, 4), [g(5), g(6)], torch.float64)
    assert batch.dtype == torch.float64 and batch.device.type == "cpu"
    torch.testing.assert_close(batch[1:], torch.randn((1, 3, 4), generator=g(6), dtype=torch.float64), rtol=0, atol=0)
    with pytest.raises(ValueError, match="generator: got a list of 3 generators for a batch of 2"):
        noise.randn_tensor((2, 3), [g(0)] * 3)
