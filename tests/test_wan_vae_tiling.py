import diffusers
import pytest
import torch

from difflab.loading.load import build_on_meta
from difflab.models.wan_vae import AutoencoderKLWan, FrameCache
from difflab.models.wan_vae.tiling import blend, temporal_chunks, tile_spans

ATOL = 1e-4  # float32; measured: encode ~1e-7, decode ~5e-6
TEST_CONFIG = dict(  # diffusers' tests/models/autoencoders/test_models_autoencoder_wan.py, get_init_dict
    base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
)
SETTINGS = [  # (tile_h, tile_w, stride_h, stride_w) in pixels: square with half overlap, and uneven
    (32, 32, 16, 16),
    (24, 32, 16, 24),
]
HEIGHT, WIDTH = 48, 56  # pixels: 6 × 7 latent cells, several tiles either way


def seeded_twins(loud: bool):
    """diffusers' AutoencoderKLWan at its test config with seeded weights, and ours loaded strict from it."""
    torch.manual_seed(0)
    theirs = diffusers.AutoencoderKLWan(**TEST_CONFIG).eval()
    with torch.no_grad():
        for name, p in theirs.named_parameters():
            if name.endswith("gamma"):  # shake the RMS norms' γ off their all-ones init so they are tested too
                p.add_(0.1 * torch.randn_like(p))
        if loud:
            theirs.decoder.norm_out.gamma.mul_(20.0)  # loud enough output that the final clamp to [-1, 1] acts
    ours = AutoencoderKLWan(**TEST_CONFIG).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return ours, theirs


@pytest.fixture
def twins():
    return seeded_twins(loud=True)  # fresh per test: enable_tiling changes the models


@pytest.fixture(scope="module")
def quiet():
    """Ours without the loud output, so that the clamp does not hide seams."""
    return seeded_twins(loud=False)[0]


def video(frames: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(2, 3, frames, HEIGHT, WIDTH, generator=torch.Generator().manual_seed(seed))


def latents(frames: int, seed: int = 1) -> torch.Tensor:
    shape = (2, 16, (frames - 1) // 4 + 1, HEIGHT // 8, WIDTH // 8)
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def max_error(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, f"shape {tuple(a.shape)} ≠ {tuple(b.shape)}"
    return (a - b).abs().max().item()


def enable_both(ours, theirs, setting):
    tile_h, tile_w, stride_h, stride_w = setting
    for model in (ours, theirs):
        model.enable_tiling(tile_h, tile_w, stride_h, stride_w)


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("frames", [9, 13])
@torch.no_grad()
def test_tiled_encode_matches_diffusers(twins, setting, frames):
    ours, theirs = twins
    enable_both(ours, theirs, setting)
    x = video(frames)
    q_ours, q_theirs = ours.encode(x).latent_dist, theirs.encode(x).latent_dist
    assert q_ours.mean.shape == (2, 16, (frames - 1) // 4 + 1, HEIGHT // 8, WIDTH // 8)
    assert max_error(q_ours.mean, q_theirs.mean) <= ATOL
    assert max_error(q_ours.logvar, q_theirs.logvar) <= ATOL
    ours.disable_tiling()
    assert max_error(ours.encode(x).latent_dist.mean, q_ours.mean) > 1e-3  # the tiles really changed it


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("frames", [9, 13])
@torch.no_grad()
def test_tiled_decode_matches_diffusers_clamp_included(twins, setting, frames):
    ours, theirs = twins
    enable_both(ours, theirs, setting)
    z = latents(frames)
    out_ours, out_theirs = ours.decode(z).sample, theirs.decode(z).sample
    assert out_ours.shape == (2, 3, frames, HEIGHT, WIDTH)
    assert max_error(out_ours, out_theirs) <= ATOL
    assert max_error(ours.tiled_decode(z).sample, out_theirs) <= ATOL  # the public method, called directly


@torch.no_grad()
def test_slicing_matches_diffusers_and_changes_nothing(twins):
    ours, theirs = twins
    z, x = latents(5), video(5)
    whole = ours.decode(z).sample
    for model in (ours, theirs):
        model.enable_slicing()
    assert max_error(ours.decode(z).sample, whole) <= 1e-5  # batch 1 vs 2: only the float rounding differs
    assert max_error(ours.decode(z).sample, theirs.decode(z).sample) <= ATOL
    assert max_error(ours.encode(x).latent_dist.mean, theirs.encode(x).latent_dist.mean) <= ATOL


@torch.no_grad()
def test_frames_no_larger_than_a_tile_are_not_tiled(twins):
    ours, _ = twins
    z = latents(5)
    whole = ours.decode(z).sample
    ours.enable_tiling(HEIGHT, WIDTH, 16, 16)  # the tile is the whole frame
    assert torch.equal(ours.decode(z).sample, whole)


@torch.no_grad()
def test_tiled_decode_leaves_seams_that_shrink_with_more_overlap(quiet):
    z = latents(5)
    quiet.disable_tiling()
    whole = quiet.decode(z).sample
    errors = []
    for stride in (32, 24, 16, 8):  # 32 px tiles; overlap 0, 8, 16, 24 px
        quiet.enable_tiling(32, 32, stride, stride)
        errors.append((quiet.decode(z).sample - whole).abs().mean().item())
    quiet.disable_tiling()
    assert errors[0] > 1e-3  # a real seam error, not float rounding
    assert errors == sorted(errors, reverse=True), errors  # each extra 8 px of overlap lowers it


@pytest.mark.parametrize("chunk_frames", [1, 2, 3])
@torch.no_grad()
def test_decoding_latent_frames_in_chunks_equals_decoding_them_whole(twins, chunk_frames):
    # Not 17 frames at this config: its last decoder level is 1 channel wide (3 // 2), where the RMS norm is
    # sign(x)·γ, so an input within float rounding of 0 flips; seed 1 at 17 frames has such a pixel.
    ours, theirs = twins
    z = latents(13)  # 4 latent frames: chunks [1, 1, 1, 1], [1, 2, 1], [1, 3]
    chunked = ours.decode_in_chunks(z, chunk_frames=chunk_frames).clamp(-1, 1)
    assert max_error(chunked, theirs.decode(z).sample) <= ATOL


@torch.no_grad()
def test_decode_chunk_streams_a_clip_through_one_frame_cache(twins):
    ours, _ = twins
    z = latents(9)  # 3 latent frames
    cache = FrameCache()
    first = ours.decode_chunk(z[:, :, :1], cache)
    assert first.shape[2] == 1 and len(cache) > 0  # 1 video frame; every causal conv kept its past
    rest = ours.decode_chunk(z[:, :, 1:], cache)
    assert rest.shape[2] == 8  # 4 video frames per later latent frame
    whole = ours.decode(z).sample
    assert max_error(torch.cat([first, rest], dim=2).clamp(-1, 1), whole) <= 1e-5


@torch.no_grad()
def test_blend_matches_diffusers_blend_v_and_blend_h(twins):
    ours, theirs = twins
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(1, 2, 1, 6, 5, generator=g), torch.randn(1, 2, 1, 4, 5, generator=g)  # rows differ
    c = torch.randn(1, 2, 1, 6, 7, generator=g)  # columns differ from a's
    for extent in (0, 1, 3, 9):  # 9: more than either tile, clipped to the smaller
        assert max_error(ours.blend_v(a, b, extent), theirs.blend_v(a, b.clone(), extent)) <= 1e-7
        assert max_error(ours.blend_h(a, c, extent), theirs.blend_h(a, c.clone(), extent)) <= 1e-7
    before = c.clone()
    blend(a, c, 3, dim=-1)
    assert torch.equal(c, before)  # ours never writes on its input (upstream's does)


def test_tile_spans_start_every_stride_as_upstream():
    assert tile_spans(48, 32, 16) == [(0, 32), (16, 48), (32, 48)]
    assert [s for s, _ in tile_spans(100, 24, 16)] == list(range(0, 100, 16))


def test_temporal_chunks_are_one_frame_then_fours_and_refuse_other_counts():
    assert temporal_chunks(1) == [1] and temporal_chunks(13) == [1, 4, 4, 4]
    with pytest.raises(ValueError, match=r"num_frames: got 8.*1 \+ 4n"):
        temporal_chunks(8)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        (dict(tile_sample_min_height=0), r"tile_sample_min_height: got 0.*positive multiples of .* 8"),
        (dict(tile_sample_min_width=-64), r"tile_sample_min_width: got -64.*positive"),
        (dict(tile_sample_stride_height=100), r"tile_sample_stride_height: got 100.*multiples of .* 8"),
        (dict(tile_sample_stride_width=32.0), r"tile_sample_stride_width: got 32\.0.*multiples"),
        (dict(tile_sample_min_height=64, tile_sample_stride_height=96), r"stride_height: got 96, more than .* 64"),
        (dict(tile_sample_stride_width=320), r"stride_width: got 320, more than tile_sample_min_width = 256"),
    ],
)
def test_bad_tile_arguments_are_refused_before_any_change(kwargs, words):
    model = build_on_meta(AutoencoderKLWan, TEST_CONFIG)
    with pytest.raises(ValueError, match=words):
        model.enable_tiling(**kwargs)
    assert not model.use_tiling and model.tile_sample_min_height == 256  # nothing was changed


def test_tile_sizes_set_by_hand_are_checked_before_any_computation():
    model = build_on_meta(AutoencoderKLWan, TEST_CONFIG)  # a meta model cannot compute anything
    model.enable_tiling(32, 32, 16, 16)
    model.tile_sample_stride_width = 12
    with pytest.raises(ValueError, match="tile_sample_stride_width: got 12"):
        model.decode(torch.zeros(1, 16, 1, 8, 8))
