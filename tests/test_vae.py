import time

import diffusers
import pytest
import torch

from difflab.models.vae import AutoencoderKL, DiagonalGaussianDistribution

ATOL = 1e-5  # float32


def vae_config(levels: int, **fields) -> dict:
    """An AutoencoderKL config with `levels` DownEncoderBlock2D / UpDecoderBlock2D blocks."""
    return dict(
        down_block_types=["DownEncoderBlock2D"] * levels, up_block_types=["UpDecoderBlock2D"] * levels, **fields
    )


TINY = vae_config(2, block_out_channels=[4, 8], latent_channels=4, norm_num_groups=2, sample_size=32)
FOUR_LEVELS = vae_config(4, block_out_channels=[8, 16, 16, 32], layers_per_block=2, norm_num_groups=4)
SHAPES_WORLD = vae_config(4, block_out_channels=[32, 64, 64, 64], norm_num_groups=32, sample_size=64)
SD15 = vae_config(  # runwayml/stable-diffusion-v1-5, vae/config.json
    4,
    in_channels=3,
    out_channels=3,
    block_out_channels=[128, 256, 512, 512],
    layers_per_block=2,
    act_fn="silu",
    latent_channels=4,
    norm_num_groups=32,
    sample_size=512,
    scaling_factor=0.18215,
)
SD15_PARAMETERS = 83_653_863

PARITY_CASES = {  # name: (config, image size)
    "tiny": (TINY, 16),
    "four_levels": (FOUR_LEVELS, 32),
    "shapes_world": (SHAPES_WORLD, 64),
    "no_mid_attention": (dict(TINY, mid_block_add_attention=False), 16),
    "no_quant_convs": (dict(TINY, use_quant_conv=False, use_post_quant_conv=False), 16),
    "gelu_odd_size": (dict(TINY, act_fn="gelu"), 18),
}


def twin_vaes(config: dict, seed: int = 0):
    """diffusers' AutoencoderKL with seeded random weights, and ours with the same weights (strict load)."""
    torch.manual_seed(seed)
    theirs = diffusers.AutoencoderKL(**config).eval()
    with torch.no_grad():  # shake the GroupNorm affine parameters off their 1/0 init so they are tested too
        for name, p in theirs.named_parameters():
            if "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    ours = AutoencoderKL(**config).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return ours, theirs


def max_error(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, f"shape {tuple(a.shape)} ≠ {tuple(b.shape)}"
    return (a - b).abs().max().item()


@pytest.mark.parametrize("case", PARITY_CASES)
def test_vae_matches_diffusers_on_encode_decode_and_forward(case):
    config, size = PARITY_CASES[case]
    ours, theirs = twin_vaes(config)
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        q, p = ours.encode(x).latent_dist, theirs.encode(x).latent_dist
        for field in ("mean", "logvar", "std", "var"):
            assert max_error(getattr(q, field), getattr(p, field)) <= ATOL, field
        assert max_error(q.kl(), p.kl()) <= ATOL * p.kl().abs().max().item()

        z = torch.randn_like(q.mean)
        assert max_error(ours.decode(z).sample, theirs.decode(z).sample) <= ATOL
        assert max_error(ours(x).sample, theirs(x).sample) <= ATOL
        ours_sampled = ours(x, sample_posterior=True, generator=torch.Generator().manual_seed(2)).sample
        theirs_sampled = theirs(x, sample_posterior=True, generator=torch.Generator().manual_seed(2)).sample
        assert max_error(ours_sampled, theirs_sampled) <= ATOL


@pytest.mark.parametrize("case", ["tiny", "four_levels"])
def test_vae_gradients_match_diffusers(case):
    config, size = PARITY_CASES[case]
    ours, theirs = twin_vaes(config)
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(3)) * 2 - 1
    for model in (ours, theirs):
        posterior = model.encode(x).latent_dist
        loss = (model.decode(posterior.mode()).sample - x).pow(2).mean() + 1e-3 * posterior.kl().mean()
        loss.backward()
    ours_grads = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        assert max_error(ours_grads[name].grad, p.grad) <= 1e-4, name


def test_vae_state_dict_keys_and_shapes_equal_diffusers():
    for config, _ in PARITY_CASES.values():
        with torch.device("meta"):
            ours, theirs = AutoencoderKL(**config), diffusers.AutoencoderKL(**config)
        ours_shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
        theirs_shapes = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
        assert ours_shapes == theirs_shapes


def test_sd15_vae_builds_on_meta_with_diffusers_parameter_count():
    start = time.perf_counter()
    with torch.device("meta"):
        ours = AutoencoderKL.from_config(SD15)
    assert time.perf_counter() - start < 5
    with torch.device("meta"):
        theirs = diffusers.AutoencoderKL(**SD15)
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in theirs.parameters()) == SD15_PARAMETERS
    assert sorted(ours.state_dict()) == sorted(theirs.state_dict())
    assert ours.vae_scale_factor == 8


def test_sd15_vae_shapes_at_512():
    with torch.device("meta"):
        vae = AutoencoderKL(**SD15)
        image = torch.empty(1, 3, 512, 512)
        posterior = vae.encode(image).latent_dist
        latents = posterior.mode()
        decoded = vae.decode(latents).sample
    assert posterior.mean.shape == posterior.logvar.shape == (1, 4, 64, 64)
    assert decoded.shape == (1, 3, 512, 512)


def test_shapes_world_vae_maps_64px_images_to_4x8x8_latents():
    vae = AutoencoderKL(**SHAPES_WORLD)
    with torch.no_grad():
        latents = vae.encode(torch.zeros(3, 3, 64, 64)).latent_dist.sample()
    assert latents.shape == (3, 4, 8, 8)
    assert vae.vae_scale_factor == 8


def test_diagonal_gaussian_clamps_logvar_and_reparameterises():
    moments = torch.cat(
        [torch.full((1, 2, 3, 3), 0.5), torch.tensor([-100.0, 100.0]).view(1, 2, 1, 1).expand(1, 2, 3, 3)], 1
    )
    q = DiagonalGaussianDistribution(moments)
    assert q.logvar[0, 0].unique().item() == -30.0 and q.logvar[0, 1].unique().item() == 20.0
    assert torch.equal(q.mode(), q.mean)
    eps = torch.randn(q.mean.shape, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(q.sample(torch.Generator().manual_seed(4)), q.mean + q.std * eps)


def test_diagonal_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(5)
    q = DiagonalGaussianDistribution(torch.randn(2, 8, 4, 4, generator=g))
    p = DiagonalGaussianDistribution(torch.randn(2, 8, 4, 4, generator=g))
    Normal, kl = torch.distributions.Normal, torch.distributions.kl_divergence
    torch.testing.assert_close(q.kl(), kl(Normal(q.mean, q.std), Normal(0.0, 1.0)).sum((1, 2, 3)))
    torch.testing.assert_close(q.kl(p), kl(Normal(q.mean, q.std), Normal(p.mean, p.std)).sum((1, 2, 3)))


def test_vae_from_config_sets_aside_unknown_keys_and_config_is_read_only():
    config = dict(TINY, _class_name="AutoencoderKL", _diffusers_version="0.6.0", _use_default_values=["act_fn"])
    vae = AutoencoderKL.from_config(config)
    assert vae.ignored_config == {
        "_class_name": "AutoencoderKL",
        "_diffusers_version": "0.6.0",
        "_use_default_values": ["act_fn"],
    }
    assert vae.config.scaling_factor == 0.18215 and vae.config.block_out_channels == [4, 8]
    with pytest.raises(TypeError):
        vae.config.scaling_factor = 1.0
    rebuilt = AutoencoderKL.from_config(vae.config, latent_channels=8)
    assert rebuilt.config.latent_channels == 8 and rebuilt.quant_conv.out_channels == 16


def test_vae_config_defaults_equal_diffusers():
    with torch.device("meta"):
        ours, theirs = AutoencoderKL(), diffusers.AutoencoderKL()
    theirs_config = {k: v for k, v in theirs.config.items() if not k.startswith("_")}
    assert dict(ours.config) == theirs_config


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("down_block_types", ["AttnDownEncoderBlock2D", "DownEncoderBlock2D"], "DownEncoderBlock2D"),
        ("up_block_types", ["UpDecoderBlock2D"] * 3, "levels"),
        ("norm_num_groups", 3, "divisor"),
        ("act_fn", "tanh", "'silu'"),
    ],
)
def test_vae_refuses_what_it_does_not_build_with_a_fix(field, value, words):
    with pytest.raises(ValueError, match=field) as error:
        AutoencoderKL(**dict(TINY, **{field: value}))
    assert words in str(error.value)
