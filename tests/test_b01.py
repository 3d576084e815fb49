import hashlib
from pathlib import Path

import pytest

from difflab.configs import FOLDER, arithmetic, available, load_config
from difflab.exercises import DONE, WRONG, run_checks
from difflab.models import AutoencoderKL, UNet2DConditionModel

ROOT = Path(__file__).resolve().parents[1]

SHIPPED = {
    "cogvideox-5b": ["transformer", "vae"],
    "flux1-dev": ["transformer", "vae"],
    "hunyuanvideo": ["transformer", "vae"],
    "ltx-video": ["transformer", "vae"],
    "sd15": ["scheduler", "text_encoder", "unet", "vae"],
    "sd3-medium": ["transformer", "vae"],
    "sdxl": ["unet", "vae"],
    "wan2.1-t2v-1.3b": ["transformer", "vae"],
    "wan2.1-t2v-14b": ["transformer", "vae"],
}
DITS = [model for model, components in SHIPPED.items() if "transformer" in components]


def test_available_lists_every_shipped_model_and_component():
    assert available() == SHIPPED
    assert all(model in (FOLDER / "README.md").read_text() for model in SHIPPED)


def test_load_config_returns_the_published_values_as_a_fresh_dict():
    assert load_config("sd15", "unet")["attention_head_dim"] == 8
    assert load_config("sdxl", "vae")["scaling_factor"] == 0.13025
    wan = load_config("wan2.1-t2v-1.3b", "transformer")
    assert (wan["num_attention_heads"], wan["num_layers"], wan["ffn_dim"]) == (12, 30, 8960)
    wan["num_layers"] = 1
    assert load_config("wan2.1-t2v-1.3b", "transformer")["num_layers"] == 30


def test_sdxl_unet_file_is_byte_identical_to_the_published_one():
    text = (FOLDER / "sdxl" / "unet.json").read_bytes()  # the mirror's Git LFS pointer gives size and sha256
    assert len(text) == 1680
    assert hashlib.sha256(text).hexdigest() == "30ebc70750223e59006f7f2b4e1e6c102570aa19a9c4ae3e1fbe7591332dbae6"


@pytest.mark.parametrize(
    "model, component, message",
    [
        ("sd16", "unet", "the shipped models are cogvideox-5b, flux1-dev"),
        ("sdxl", "transformer", "sdxl ships unet, vae"),
    ],
)
def test_load_config_names_the_valid_choices_for_an_unknown_name(model, component, message):
    with pytest.raises(ValueError, match=message):
        load_config(model, component)


def test_wan_worked_example_81_frames_of_480_by_832():
    vae, transformer = load_config("wan2.1-t2v-1.3b", "vae"), load_config("wan2.1-t2v-1.3b", "transformer")
    latent = arithmetic.latent_shape(vae, 480, 832, frames=81)
    assert latent == (16, 21, 60, 104)
    assert arithmetic.patch_size(transformer, vae) == (1, 2, 2)
    assert arithmetic.num_tokens(latent, (1, 2, 2)) == 32_760
    assert arithmetic.attention_matrix_bytes(32_760, "bf16") == 32_760**2 * 2


@pytest.mark.parametrize(
    "model, spatial, temporal",
    [("sd15", 8, None), ("flux1-dev", 8, None), ("wan2.1-t2v-14b", 8, 4), ("hunyuanvideo", 8, 4), ("ltx-video", 32, 8)],
)
def test_vae_factors_are_read_from_each_family_of_config(model, spatial, temporal):
    vae = load_config(model, "vae")
    assert (arithmetic.spatial_factor(vae), arithmetic.temporal_factor(vae)) == (spatial, temporal)


def test_flux_packs_two_by_two_latent_pixels_per_token_despite_patch_size_1():
    flux = load_config("flux1-dev", "transformer")
    assert flux["patch_size"] == 1
    assert arithmetic.patch_size(flux, load_config("flux1-dev", "vae")) == (1, 2, 2)
    assert arithmetic.patch_size(load_config("ltx-video", "transformer"), load_config("ltx-video", "vae")) == (1, 1, 1)


@pytest.mark.parametrize(
    "height, width, frames, message",
    [
        (500, 512, None, "height: got 500; .* 496 or 504"),
        (480, 830, 81, "width: got 830; .* 824 or 832"),
        (480, 832, 80, "frames: got 80; .* 77 or 81"),
    ],
)
def test_latent_shape_refuses_sizes_naming_argument_value_and_nearest_valid_values(height, width, frames, message):
    with pytest.raises(ValueError, match=message):
        arithmetic.latent_shape(load_config("wan2.1-t2v-1.3b", "vae"), height, width, frames)


def test_sd15_unet_and_vae_parameter_counts_built_on_meta():
    assert arithmetic.meta_param_count(UNet2DConditionModel, load_config("sd15", "unet")) == 859_520_964
    assert arithmetic.meta_param_count(AutoencoderKL, load_config("sd15", "vae")) == 83_653_863
    assert arithmetic.unet_attention_tokens(load_config("sd15", "unet"), (4, 64, 64)) == 4096


def test_weight_bytes_per_dtype_and_unknown_dtype():
    assert [arithmetic.weight_bytes(10, d) for d in ("fp32", "bf16", "fp16", "fp8")] == [40, 20, 20, 10]
    with pytest.raises(ValueError, match="dtype: got 'int3'"):
        arithmetic.weight_bytes(10, "int3")


def diffusers_count(model: str, component: str) -> int:
    """The oracle: diffusers' own class for the component, built on meta from the shipped config."""
    diffusers = pytest.importorskip("diffusers")
    import torch

    config = load_config(model, component)
    with torch.device("meta"):
        built = getattr(diffusers, config["_class_name"]).from_config(config)
    return sum(p.numel() for p in built.parameters())


def test_sdxl_unet_count_by_config_arithmetic_matches_diffusers():
    unet = load_config("sdxl", "unet")
    assert arithmetic.text_time_embedding_params(unet) == 2816 * 1280 + 1280 + 1280 * 1280 + 1280
    assert arithmetic.unet_param_count(unet) == diffusers_count("sdxl", "unet") == 2_567_463_684


@pytest.mark.parametrize("model", DITS)
def test_dit_estimate_is_within_3_percent_of_the_exact_count_and_below_it_but_for_sd3(model):
    estimate, exact = (
        arithmetic.dit_param_estimate(load_config(model, "transformer")),
        diffusers_count(model, "transformer"),
    )
    assert abs(estimate / exact - 1) < 0.03, (estimate, exact)
    assert (estimate > exact) == (model == "sd3-medium")  # SD3's last block skips its text-stream MLP


def with_change(tmp_path, old: str, new: str) -> Path:
    """solutions/b01.py with one line changed: a deliberately wrong implementation."""
    text = (ROOT / "solutions" / "b01.py").read_text()
    assert old in text, old
    path = tmp_path / "b01.py"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    "task, old, new, reason",
    [
        ("vae_scale_factor", "2 ** (len(", "2 * (1 + len(", "cut to 3 levels): expected 4, got 6"),
        ("latent_shape", "1 + (frames - 1) // t, *spatial)", "frames // t, *spatial)", "off by one: a causal VAE"),
        ("latent_shape", "if value <= 0 or value % f:", "if value <= 0:", "should raise ValueError"),
        ("latent_shape", "spatial factor): use {valid}.", "spatial factor).", "lacks 496, 504"),
        ("param_count", 'with torch.device("meta"):', "if True:", "weights on cpu: build it on the meta device"),
    ],
)
def test_wrong_b01_implementation_is_reported_with_a_reason(tmp_path, task, old, new, reason):
    report = run_checks("b01", file=with_change(tmp_path, old, new))
    result = next(r for r in report.results if r.name == task)
    assert result.status == WRONG and reason in result.reason, result.reason
    assert all(r.status == DONE for r in report.results if r.name != task), str(report)
