import json
from pathlib import Path

import diffusers
import pytest
import torch

from difflab.loading.load import build_on_meta
from difflab.models.wan_vae import AutoencoderKLWan, CausalConv3d, FrameCache

ATOL = 1e-4  # float32; the measured differences are ~1e-7
TEST_CONFIG = dict(  # diffusers' tests/models/autoencoders/test_models_autoencoder_wan.py, get_init_dict
    base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
)
WAN21_CONFIG = Path(__file__).parents[1] / "lib/difflab/configs/wan2.1-t2v-1.3b/vae.json"
WAN21_PARAMETERS = 126_892_531


@pytest.fixture(scope="module")
def twins():
    """diffusers' AutoencoderKLWan at its test config with seeded weights, and ours loaded strict from it."""
    torch.manual_seed(0)
    theirs = diffusers.AutoencoderKLWan(**TEST_CONFIG).eval()
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            if name.endswith("gamma"):  # shake the RMS norms' γ off their all-ones init so they are tested too
                p.add_(0.1 * torch.randn_like(p))
        theirs.decoder.norm_out.gamma.mul_(20.0)  # loud enough output that the final clamp to [-1, 1] acts
    ours = AutoencoderKLWan(**TEST_CONFIG).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return ours, theirs


def video(frames: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(2, 3, frames, 16, 16, generator=torch.Generator().manual_seed(seed))


def max_error(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, f"shape {tuple(a.shape)} ≠ {tuple(b.shape)}"
    return (a - b).abs().max().item()


def shapes(model) -> dict:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_state_dict_keys_and_shapes_match_diffusers_at_its_test_config(twins):
    ours, theirs = twins
    assert list(shapes(ours).items()) == list(shapes(theirs).items())


def test_attention_levels_and_decoder_width_give_diffusers_keys():
    config = dict(TEST_CONFIG, attn_scales=[1.0, 0.5], decoder_base_dim=4)
    with torch.device("meta"):
        ours, theirs = AutoencoderKLWan(**config), diffusers.AutoencoderKLWan(**config)
    assert list(shapes(ours).items()) == list(shapes(theirs).items())
    assert "encoder.down_blocks.1.norm.gamma" in shapes(ours)  # an attention block after the first resnet


def test_wan21_vae_config_builds_on_meta_with_126_892_531_parameters_and_diffusers_keys():
    config = json.loads(WAN21_CONFIG.read_text())
    ours = build_on_meta(AutoencoderKLWan, config)
    assert sum(p.numel() for p in ours.parameters()) == WAN21_PARAMETERS
    assert ours.ignored_config == {"_class_name": "AutoencoderKLWan", "_diffusers_version": "0.33.0.dev0"}
    with torch.device("meta"):
        theirs = diffusers.AutoencoderKLWan.from_config(config)
    assert shapes(ours) == shapes(theirs)


@pytest.mark.parametrize("frames", [9, 13])
@torch.no_grad()
def test_encode_matches_diffusers(twins, frames):
    ours, theirs = twins
    x = video(frames)
    q_ours, q_theirs = ours.encode(x).latent_dist, theirs.encode(x).latent_dist
    assert q_ours.mean.shape == (2, 16, (frames - 1) // 4 + 1, 2, 2)  # (B, z_dim, 1 + n, H/8, W/8)
    assert max_error(q_ours.mean, q_theirs.mean) <= ATOL
    assert max_error(q_ours.logvar, q_theirs.logvar) <= ATOL


@pytest.mark.parametrize("frames", [9, 13])
@torch.no_grad()
def test_decode_matches_diffusers_clamp_included(twins, frames):
    ours, theirs = twins
    z = torch.randn(2, 16, (frames - 1) // 4 + 1, 2, 2, generator=torch.Generator().manual_seed(1))
    out_ours, out_theirs = ours.decode(z).sample, theirs.decode(z).sample
    assert out_ours.shape == (2, 3, frames, 16, 16)
    assert max_error(out_ours, out_theirs) <= ATOL
    assert (out_ours.abs() == 1.0).float().mean() > 0.05  # the clamp was exercised


@torch.no_grad()
def test_forward_reconstructs_like_diffusers(twins):
    ours, theirs = twins
    x = video(5, seed=2)
    assert max_error(ours(x).sample, theirs(x).sample) <= ATOL


@torch.no_grad()
def test_frame_counts_not_4n_plus_1_are_refused_where_diffusers_drops_frames(twins):
    ours, theirs = twins
    x = video(8)
    latents = theirs.encode(x).latent_dist.mode()
    assert theirs.decode(latents).sample.shape[2] == 5  # diffusers: 8 frames in, 5 out, no warning
    with pytest.raises(ValueError, match=r"x: got 8 frames.*1 \+ 4n.*nearest valid counts are 5 and 9.*trim"):
        ours.encode(x)


def test_frame_count_is_checked_before_any_computation():
    model = build_on_meta(AutoencoderKLWan, TEST_CONFIG)  # a meta model cannot compute anything
    with pytest.raises(ValueError, match="got 2 frames.*1 and 5"):
        model.encode(torch.zeros(1, 3, 2, 16, 16))


@torch.no_grad()
def test_causal_conv_over_chunks_with_a_frame_cache_equals_the_whole_clip():
    torch.manual_seed(0)
    conv = CausalConv3d(3, 4, 3, padding=1)
    x = torch.randn(1, 3, 9, 6, 6)
    whole = conv(x)  # zero-padded by 2 frames in front, all 9 frames at once
    cache = FrameCache()
    chunks = [conv(chunk, cache) for chunk in (x[:, :, :1], x[:, :, 1:5], x[:, :, 5:9])]
    assert max_error(torch.cat(chunks, dim=2), whole) <= 1e-6
    assert cache.past(conv).shape[2] == 2  # it kept the last 2 input frames for a next chunk
    cache.reset()
    assert len(cache) == 0 and max_error(conv(x[:, :, :1], cache), whole[:, :, :1]) <= 1e-6


@torch.no_grad()
def test_latent_frame_k_sees_only_video_frames_up_to_4k(twins):
    ours, _ = twins
    x = video(9)
    changed = x.clone()
    changed[:, :, 5:] += 1.0  # frames 5–8 belong to latent frame 2 only
    a, b = ours.encode(x).latent_dist.mean, ours.encode(changed).latent_dist.mean
    assert max_error(a[:, :, :2], b[:, :, :2]) == 0.0
    assert max_error(a[:, :, 2], b[:, :, 2]) > 1e-3
    first_frame_alone = ours.encode(x[:, :, :1]).latent_dist.mean  # the first frame is encoded like an image
    assert max_error(first_frame_alone, a[:, :, :1]) <= 1e-6  # not 0: quant_conv runs over 1 frame, not 3


@torch.no_grad()
def test_no_state_carries_over_between_calls(twins):
    ours, _ = twins
    x = video(5)
    first = ours.encode(x).latent_dist.mean
    ours.encode(video(9, seed=3))
    assert max_error(ours.encode(x).latent_dist.mean, first) == 0.0


@torch.no_grad()
def test_from_pretrained_reads_a_folder_diffusers_saved(twins, tmp_path):
    _, theirs = twins
    theirs.save_pretrained(tmp_path)
    ours = AutoencoderKLWan.from_pretrained(tmp_path).eval()
    x = video(5)
    assert max_error(ours.encode(x).latent_dist.mean, theirs.encode(x).latent_dist.mean) <= ATOL


@pytest.mark.parametrize(
    "fields, words",
    [
        (dict(is_residual=True), "Wan 2.2"),
        (dict(patch_size=2), "Wan 2.2"),
        (dict(temperal_downsample=[True, True]), "one bool per downsampling level, 3"),
        (dict(latents_mean=[0.0] * 4), "latents_mean: got 4 entries for z_dim 16"),
    ],
)
def test_config_refusals_name_the_field_and_the_fix(fields, words):
    with pytest.raises(ValueError, match=words):
        AutoencoderKLWan(**{**TEST_CONFIG, **fields})


def test_video_without_a_frame_axis_is_refused(twins):
    ours, _ = twins
    with pytest.raises(ValueError, match=r"x: got shape \(2, 3, 16, 16\).*unsqueeze\(2\)"):
        ours.encode(torch.zeros(2, 3, 16, 16))


def test_latents_of_the_wrong_shape_are_refused(twins):
    ours, _ = twins
    with pytest.raises(ValueError, match=r"z: got shape \(1, 4, 2, 2, 2\); decode takes latents \(B, 16,"):
        ours.decode(torch.zeros(1, 4, 2, 2, 2))
