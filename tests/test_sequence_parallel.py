"""Sequence (context) parallelism: the merge math on one process, the refusals, and real 2-process gloo jobs
launched with torchrun (ours against one process, and diffusers' Ulysses against ours)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

from difflab.models.wan import WanTransformer3DModel
from difflab.parallel import (
    ContextParallelConfig,
    attention_with_lse,
    communication_bytes,
    disable_parallelism,
    enable_parallelism,
    merge_attention_blocks,
)
from difflab.parallel.context import check_tokens

JOBS = Path(__file__).parent / "jobs"
TINY = dict(num_attention_heads=6, attention_head_dim=8, in_channels=4, out_channels=4, text_dim=16, ffn_dim=32)


def qkv(n=12, m=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 3, rows, 8, generator=g) for rows in (n, m, m)]


def test_attention_with_lse_is_attention_and_its_log_normaliser():
    q, k, v = qkv()
    out, lse = attention_with_lse(q, k, v)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v), atol=1e-6)
    assert torch.allclose(lse, (q @ k.transpose(-1, -2) / 8**0.5).logsumexp(-1), atol=1e-6)


def test_merging_key_blocks_in_any_order_equals_attention_over_all_keys():
    q, k, v = qkv()
    full = F.scaled_dot_product_attention(q, k, v)
    blocks = [slice(0, 7), slice(7, 8), slice(8, 20)]
    for order in ([0, 1, 2], [2, 0, 1]):  # ring ranks receive the blocks in a rotated order
        out, lse = attention_with_lse(q, k[:, :, blocks[order[0]]], v[:, :, blocks[order[0]]])
        for i in order[1:]:
            out, lse = merge_attention_blocks(out, lse, *attention_with_lse(q, k[:, :, blocks[i]], v[:, :, blocks[i]]))
        assert (out - full).abs().max() <= 1e-6
        assert torch.allclose(lse, (q @ k.transpose(-1, -2) / 8**0.5).logsumexp(-1), atol=1e-5)


def test_merge_with_a_block_of_minus_infinity_keeps_the_other_block():
    q, k, v = qkv()
    out, lse = attention_with_lse(q, k, v)
    merged, merged_lse = merge_attention_blocks(out, lse, torch.zeros_like(out), torch.full_like(lse, -torch.inf))
    assert torch.equal(merged, out) and torch.equal(merged_lse, lse)


def test_communication_formulas_ulysses_falls_with_ranks_ring_does_not():
    sizes = dict(batch=1, tokens=32_760, dim=1536, layers=30, out_values=64, element_size=2)  # Wan2.1 1.3B, 81×480×832
    ulysses = {p: communication_bytes("ulysses", p, **sizes)["all_to_all"] for p in (2, 4, 8)}
    ring = {p: communication_bytes("ring", p, **sizes)["ring_pass"] for p in (2, 4, 8)}
    assert ulysses[2] == ring[2]  # 4(P−1)/P² = 2(P−1)/P at P = 2
    assert ulysses[2] > ulysses[4] > ulysses[8] and ring[2] < ring[4] < ring[8]
    one_tensor = sizes["tokens"] * sizes["dim"] * sizes["element_size"]  # (1, N, D) in bf16
    assert ring[8] == 30 * 2 * one_tensor * 7 // 8
    with pytest.raises(ValueError, match=r"scheme: got 'tree'; valid schemes are 'ulysses' and 'ring'"):
        communication_bytes("tree", 2, **sizes)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(ulysses_degree=2, ring_degree=2), r"both above 1 .* set one of them to 1"),
        (dict(ulysses_degree=0), r"ulysses_degree: got 0; it must be an int ≥ 1"),
        (dict(ring_degree=True), r"ring_degree: got True"),
        (dict(), r"both 1: nothing to split"),
    ],
)
def test_config_refusals_name_the_degree(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ContextParallelConfig(**kwargs)


def test_ulysses_refuses_heads_that_do_not_split_before_anything_else():
    model = WanTransformer3DModel(num_layers=1, **TINY)  # 6 heads
    with pytest.raises(ValueError, match=r"ulysses_degree: got 4, but the model has 6 heads.*ring_degree=4"):
        enable_parallelism(model, ContextParallelConfig(ulysses_degree=4))


@pytest.mark.skipif(dist.is_initialized(), reason="this process already belongs to a process group")
def test_enable_without_a_process_group_says_how_to_launch():
    model = WanTransformer3DModel(num_layers=1, **TINY)
    with pytest.raises(ValueError, match=r"not initialised; launch with `torchrun --nproc_per_node 2"):
        model.enable_parallelism(ContextParallelConfig(ring_degree=2))
    assert all(block.attn1.backend.name == "sdpa" for block in model.blocks)  # nothing attached


def test_token_counts_that_do_not_split_are_refused_with_the_fix():
    check_tokens((1, 16, 5, 8, 8), (1, 2, 2), 4)  # 80 tokens over 4 ranks: fine
    with pytest.raises(ValueError, match=r"hidden_states: latents \(1, 16, 5, 6, 6\) give 45 tokens.*over 2 ranks"):
        check_tokens((1, 16, 5, 6, 6), (1, 2, 2), 2)


@pytest.fixture
def one_rank_group():
    dist.init_process_group("gloo", rank=0, world_size=1, store=dist.HashStore())
    yield
    dist.destroy_process_group()


def test_a_world_that_does_not_match_the_degrees_is_refused(one_rank_group):
    model = WanTransformer3DModel(num_layers=1, **TINY)
    with pytest.raises(ValueError, match=r"ulysses_degree·ring_degree = 2, but the process group has 1 ranks"):
        enable_parallelism(model, ContextParallelConfig(ring_degree=2))
    with pytest.raises(ValueError, match=r"not enabled on it"):
        disable_parallelism(model)
    with pytest.raises(ValueError, match=r"group: got a list; pass a torch.distributed ProcessGroup"):
        enable_parallelism(model, ContextParallelConfig(ring_degree=2), group=[0, 1])


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for machines without CUDA")
def test_the_launcher_refuses_nccl_without_a_gpu_by_its_option(capsys):
    from difflab.parallel.launch import main

    with pytest.raises(SystemExit):
        main(["--backend", "nccl"])
    assert "--backend: got nccl, but this machine has no CUDA device" in capsys.readouterr().err


def torchrun(*args, processes: int = 2) -> dict:
    """Run a torchrun job of `processes` gloo ranks; the JSON object rank 0 printed last."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])


def test_two_gloo_processes_match_one_process_and_the_byte_formulas():
    report = torchrun("-m", "difflab.parallel.launch", "--steps", "2", "--video-frames", "5")
    assert report["world_size"] == 2 and report["backend"] == "gloo"
    for scheme, op, calls in (("ulysses", "all_to_all", 4 * 4), ("ring", "ring_pass", 2 * 4)):  # 4 layers
        result = report[scheme]
        assert result["max_abs_diff"] <= 1e-5, (scheme, result)
        assert result["sent_bytes"] == result["formula_bytes"], (scheme, result)
        assert result["calls"] == {op: calls, "all_gather": 1}
        assert result["video_max_abs_diff"] <= 1e-4, (scheme, result)  # 2 steps and the VAE after the split
        assert result["sent_bytes_per_step"] == result["formula_bytes_per_step"]  # 2 calls a step under guidance
    assert report["ulysses"]["max_abs_diff"] == 0.0  # the same attention on every token, only moved


def test_diffusers_ulysses_on_gloo_gives_our_output():
    report = torchrun(str(JOBS / "diffusers_ulysses.py"))
    assert report["ours_vs_one_process"] == 0.0
    assert report["diffusers_vs_ours"] <= 1e-6


def test_setting_a_backend_on_a_split_model_keeps_the_split_and_changes_the_local_attention():
    from difflab.parallel import ContextParallelBackend

    model = WanTransformer3DModel(num_layers=2, **TINY)
    for block in model.blocks:
        block.attn1.backend = ContextParallelBackend("ulysses")
    model.set_attention_backend("sliced", slice_size=2)
    assert [block.attn1.backend.name for block in model.blocks] == ["ulysses", "ulysses"]
    assert {block.attn1.backend.local.name for block in model.blocks} == {"sliced"}
    assert {block.attn2.backend.name for block in model.blocks} == {"sliced"}  # cross-attention is not split
