import functools
import time

import diffusers
import pytest
import torch
from diffusers.models.attention_processor import Attention as DiffusersAttention
from diffusers.models.embeddings import get_timestep_embedding

from difflab.models import Attention, UNet2DConditionModel, timestep_embedding

ATOL = 1e-5  # float32

TINY = dict(  # diffusers' tests/pipelines/stable_diffusion get_dummy_components (attention_head_dim left at 8)
    block_out_channels=(4, 8),
    layers_per_block=1,
    sample_size=32,
    time_cond_proj_dim=None,
    in_channels=4,
    out_channels=4,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    cross_attention_dim=32,
    norm_num_groups=2,
)
ATTENTION_EVERYWHERE = dict(  # 3 levels, cross-attention at each, heads per level given as a list
    block_out_channels=(8, 16, 16),
    layers_per_block=2,
    down_block_types=("CrossAttnDownBlock2D",) * 3,
    up_block_types=("CrossAttnUpBlock2D",) * 3,
    cross_attention_dim=24,
    norm_num_groups=8,
    attention_head_dim=[2, 4, 4],
)
SD2_STYLE = dict(  # SD 2.x's choices: Linear proj_in/proj_out, heads per level, deeper transformers
    block_out_channels=(8, 16, 32),
    layers_per_block=2,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=40,
    norm_num_groups=8,
    attention_head_dim=[2, 4, 8],
    use_linear_projection=True,
    upcast_attention=False,
    transformer_layers_per_block=2,
)
SD15 = {  # runwayml/stable-diffusion-v1-5, unet/config.json
    "_class_name": "UNet2DConditionModel",
    "_diffusers_version": "0.6.0",
    "act_fn": "silu",
    "attention_head_dim": 8,
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 768,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 64,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
}
SD21 = dict(  # stabilityai/stable-diffusion-2-1, unet/config.json: the fields that differ from SD 1.5, plus its extras
    SD15,
    _diffusers_version="0.10.0.dev0",
    attention_head_dim=[5, 10, 20, 20],
    cross_attention_dim=1024,
    dual_cross_attention=False,
    num_class_embeds=None,
    only_cross_attention=False,
    sample_size=96,
    upcast_attention=True,
    use_linear_projection=True,
)
SD15_PARAMETERS = 859_520_964


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These models are tiny: a second thread only adds contention (10× slower on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


PARITY_CONFIGS = {"diffusers_tiny": TINY, "attention_everywhere": ATTENTION_EVERYWHERE, "sd2_style": SD2_STYLE}


@functools.cache
def twin_models(name: str, seed: int = 0):
    """diffusers' UNet with seeded random weights, and ours with those weights loaded strictly (built once)."""
    config = PARITY_CONFIGS[name]
    torch.manual_seed(seed)
    theirs = diffusers.UNet2DConditionModel(**config).eval()
    ours = UNet2DConditionModel(**config).eval()
    assert set(ours.state_dict()) == set(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return ours, theirs


def inputs(config: dict, height: int, width: int, batch: int = 2, tokens: int = 7, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    sample = torch.randn(batch, config.get("in_channels", 4), height, width, generator=gen)
    text = torch.randn(batch, tokens, config["cross_attention_dim"], generator=gen)
    return sample, text


@pytest.mark.parametrize(
    "name, height, width", [("diffusers_tiny", 32, 32), ("attention_everywhere", 16, 16), ("sd2_style", 16, 24)]
)
def test_unet_matches_diffusers(name, height, width):
    ours, theirs = twin_models(name)
    sample, text = inputs(PARITY_CONFIGS[name], height, width)
    for timestep in (torch.tensor([3, 981]), 500, torch.tensor(17.5)):  # per sample, a Python int, a 0-d float
        with torch.no_grad():
            expected = theirs(sample, timestep, text).sample
            got = ours(sample, timestep, text).sample
        assert got.shape == sample.shape
        torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)


def test_unet_matches_diffusers_on_sizes_that_do_not_halve_evenly():
    # 13×19 latents: the decoder must upsample to the skips' odd sizes (7→13, 4→7), not to 2×.
    ours, theirs = twin_models("attention_everywhere")
    sample, text = inputs(ATTENTION_EVERYWHERE, 13, 19)
    with torch.no_grad():
        torch.testing.assert_close(ours(sample, 10, text).sample, theirs(sample, 10, text).sample, atol=ATOL, rtol=0)


def test_unet_adds_controlnet_residuals_like_diffusers():
    ours, theirs = twin_models("sd2_style")
    sample, text = inputs(SD2_STYLE, 16, 16)
    # One residual per skip (C, H, W): conv_in and level 0's two resnets, its downsampler, level 1's two resnets,
    # its downsampler, level 2's two resnets; then one for the mid block's output.
    skip_shapes = [(8, 16, 16)] * 3 + [(8, 8, 8)] + [(16, 8, 8)] * 2 + [(16, 4, 4)] + [(32, 4, 4)] * 2
    down = tuple(torch.randn(2, *s) for s in skip_shapes)
    mid = torch.randn(2, 32, 4, 4)
    kwargs = dict(down_block_additional_residuals=down, mid_block_additional_residual=mid)
    with torch.no_grad():
        expected = theirs(sample, 10, text, **kwargs).sample
        got = ours(sample, 10, text, **kwargs).sample
        plain = ours(sample, 10, text).sample
    torch.testing.assert_close(got, expected, atol=ATOL, rtol=0)
    assert (got - plain).abs().max() > 1e-3


def test_unet_return_dict_false_gives_a_tuple():
    ours, _ = twin_models("diffusers_tiny")
    sample, text = inputs(TINY, 8, 8)
    with torch.no_grad():
        (out,) = ours(sample, 1, text, return_dict=False)
        torch.testing.assert_close(out, ours(sample, 1, text).sample, atol=0, rtol=0)


def test_sd15_unet_builds_on_meta_with_diffusers_parameter_count_and_keys():
    start = time.perf_counter()
    with torch.device("meta"):
        ours = UNet2DConditionModel.from_config(SD15)
    assert time.perf_counter() - start < 1.0
    with torch.device("meta"):
        theirs = diffusers.UNet2DConditionModel.from_config(SD15)
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in theirs.parameters()) == SD15_PARAMETERS
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    assert ours.ignored_config == {"_class_name": "UNet2DConditionModel", "_diffusers_version": "0.6.0"}


@pytest.mark.parametrize("config", [SD15, SD21, {}], ids=["sd15", "sd21", "defaults"])
def test_unet_config_has_diffusers_fields_and_values(config):
    with torch.device("meta"):
        ours = UNet2DConditionModel.from_config(config)
        theirs = diffusers.UNet2DConditionModel.from_config(config)
    as_list = lambda v: list(v) if isinstance(v, tuple) else v
    expected = {k: as_list(v) for k, v in theirs.config.items() if not k.startswith("_")}
    assert {k: as_list(v) for k, v in ours.config.items()} == expected
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())


def test_sd21_config_builds_directly_from_its_fields():
    fields = {k: v for k, v in SD21.items() if not k.startswith("_")}
    with torch.device("meta"):
        model = UNet2DConditionModel(**fields)
    assert model.config.use_linear_projection and isinstance(
        model.down_blocks[0].attentions[0].proj_in, torch.nn.Linear
    )
    assert model.down_blocks[0].attentions[0].transformer_blocks[0].attn1.heads == 5  # attention_head_dim means heads


def test_unet_config_is_read_only():
    with torch.device("meta"):
        model = UNet2DConditionModel.from_config(SD15)
    with pytest.raises(TypeError):
        model.config["in_channels"] = 9


@pytest.mark.parametrize(
    "field, value",
    [
        ("addition_embed_type", "text_time"),
        ("class_embed_type", "timestep"),
        ("encoder_hid_dim", 768),
        ("time_cond_proj_dim", 256),
        ("resnet_time_scale_shift", "scale_shift"),
        ("attention_type", "gated"),
        ("dual_cross_attention", True),
        ("only_cross_attention", [True, False, False, False]),
        ("time_embedding_type", "fourier"),
        ("down_block_types", ["AttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]),
        ("up_block_types", ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "AttnUpBlock2D"]),
        ("mid_block_type", "UNetMidBlock2DSimpleCrossAttn"),
        ("block_out_channels", [320, 640, 1280]),
        ("layers_per_block", [2, 2]),
        ("attention_head_dim", [8, 8, 8]),
        ("attention_head_dim", 7),
        ("norm_num_groups", 24),
        ("transformer_layers_per_block", [[1, 2], [1, 2], [1, 2], [1, 2]]),
        ("conv_in_kernel", 4),
    ],
)
def test_unsupported_or_inconsistent_config_values_raise_value_errors_naming_the_field(field, value):
    with torch.device("meta"), pytest.raises(ValueError, match=field):
        UNet2DConditionModel.from_config(SD15, **{field: value})


def test_unknown_constructor_field_is_a_type_error_but_from_config_sets_it_aside():
    with torch.device("meta"):
        with pytest.raises(TypeError, match="from_config"):
            UNet2DConditionModel(not_a_field=1)
        model = UNet2DConditionModel.from_config(dict(SD15, not_a_field=1))
    assert model.ignored_config["not_a_field"] == 1


@pytest.mark.parametrize("dim, flip, shift", [(320, True, 0), (33, False, 1), (8, True, 1)])
def test_timestep_embedding_matches_diffusers_exactly(dim, flip, shift):
    t = torch.tensor([0, 1, 17, 999, 500.5])
    assert torch.equal(timestep_embedding(t, dim, flip, shift), get_timestep_embedding(t, dim, flip, shift))
    assert torch.equal(
        timestep_embedding(t, dim, flip, shift, scale=2.5, max_period=100),
        get_timestep_embedding(t, dim, flip, shift, scale=2.5, max_period=100),
    )


def test_attention_on_a_feature_map_matches_diffusers_vae_attention():
    # The VAE mid block's attention: GroupNorm first, biases, residual, output rescaled.
    kwargs = dict(heads=2, dim_head=8, bias=True, norm_num_groups=4, residual_connection=True)
    torch.manual_seed(0)
    theirs = DiffusersAttention(16, rescale_output_factor=2.0, upcast_softmax=True, **kwargs).eval()
    ours = Attention(16, rescale_output_factor=2.0, upcast_softmax=True, **kwargs).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 16, 5, 7)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=ATOL, rtol=0)
