"""Context (sequence) parallelism for the Wan transformer: the video tokens split across processes.

    import torch.distributed as dist                 # under torchrun: one process per rank
    dist.init_process_group("gloo")                  # "nccl" on GPUs; the rest is the same, multi-node too
    cp = transformer.enable_parallelism(ContextParallelConfig(ulysses_degree=2))   # or ring_degree=2
    out = transformer(latents, t, text).sample       # every rank passes the same inputs, gets the whole output
    cp.log.sent                                      # bytes this rank sent, per collective
    cp.remove()

Where the sequence is cut and joined, as diffusers' `_cp_plan` for Wan does with hooks:

    rope            output cos, sin (1, N, 1, d/2)  → this rank's rows        (1, N/P, 1, d/2)
    blocks.0        input hidden_states (B, N, D)   → this rank's tokens      (B, N/P, D)
    every attn1     self-attention: the ranks exchange (collectives.py, attention.py)
    every attn2     cross-attention to the text: no exchange, every rank has all the text tokens
    proj_out        output (B, N/P, C·p)            → all ranks' tokens       (B, N, C·p), then unpatchify

Everything else in a block (norms, modulation, the feed-forward) works token by token, so it runs on N/P tokens
unchanged: compute and activation memory per rank fall by P; the weights are whole on every rank.

Bytes each rank sends per forward, L layers, batch B, width D = heads·d, e bytes per value (communication_bytes):

    Ulysses   4·L·B·N·D·e·(P−1)/P²      q, k, v there and the output back; falls as P grows
    ring      2·L·B·N·D·e·(P−1)/P       k and v passed P−1 times; about 2·L·B·N·D·e whatever P
    both      + B·N·C·p·e·(P−1)/P       the final all-gather

diffusers (ContextParallelConfig, model.enable_parallelism) does the same with the same names. Its Ulysses runs on
CPU/gloo with two changes (see lab b11); its ring cannot: it needs attention that returns the log-sum-exp, and
only GPU backends do. Here the ring computes its own (attention.py), so both run on gloo.
"""

from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn

from .attention import ContextParallelBackend
from .collectives import CommLog, gather_sequence


@dataclass(frozen=True)
class ContextParallelConfig:
    """How many ranks split the sequence, and how (diffusers' names; exactly one degree may exceed 1 here)."""

    ulysses_degree: int = 1
    ring_degree: int = 1

    def __post_init__(self):
        for name in ("ulysses_degree", "ring_degree"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: got {value!r}; it must be an int ≥ 1 (the number of ranks).")
        if self.ulysses_degree > 1 and self.ring_degree > 1:
            raise ValueError(
                f"ulysses_degree={self.ulysses_degree} and ring_degree={self.ring_degree}: both above 1 (diffusers' "
                "unified attention, a 2-D mesh) is not implemented here; set one of them to 1."
            )
        if self.world_size == 1:
            raise ValueError("ulysses_degree and ring_degree are both 1: nothing to split; set one to the world size.")

    @property
    def world_size(self) -> int:
        return self.ulysses_degree * self.ring_degree

    @property
    def scheme(self) -> str:
        return "ulysses" if self.ulysses_degree > 1 else "ring"


@dataclass
class ContextParallel:
    """What enable_parallelism attached: the config, the process group, the bytes sent, and how to undo it."""

    config: ContextParallelConfig
    group: object
    log: CommLog = field(default_factory=CommLog)
    handles: list = field(default_factory=list)
    backends: dict = field(default_factory=dict)  # attention module → its backend before

    @property
    def rank(self) -> int:
        return dist.get_rank(self.group)

    def shard(self, x: torch.Tensor, dim: int = 1) -> torch.Tensor:
        """This rank's contiguous 1/P of `x` along `dim` (rank r: rows r·N/P … (r+1)·N/P − 1)."""
        return x.chunk(self.config.world_size, dim=dim)[self.rank]

    def remove(self):
        for handle in self.handles:
            handle.remove()
        for module, backend in self.backends.items():
            module.backend = backend
        self.handles.clear()
        self.backends.clear()


def check_parallel(model: nn.Module, config, group):
    """Refuse, before any hook is attached, what cannot run: a wrong config, heads that do not divide (Ulysses), a
    model already split, no process group, a size mismatch."""
    if not isinstance(config, ContextParallelConfig):
        raise ValueError(f"config: got {type(config).__name__}; pass ContextParallelConfig(ulysses_degree=…).")
    heads = model.config.num_attention_heads
    if config.scheme == "ulysses" and heads % config.world_size:
        raise ValueError(
            f"ulysses_degree: got {config.world_size}, but the model has {heads} heads; Ulysses gives each rank "
            f"heads/P whole heads, so use a degree that divides {heads}, or ring_degree={config.world_size} "
            "(any head count)."
        )
    if getattr(model, "_context_parallel", None) is not None:
        raise ValueError("model: context parallelism is already enabled; call disable_parallelism(model) first.")
    if not dist.is_available() or not dist.is_initialized():
        raise ValueError(
            "config: torch.distributed is not initialised; launch with `torchrun --nproc_per_node "
            f"{config.world_size} …` and call dist.init_process_group('gloo') (CPU) or ('nccl') (GPUs) first."
        )
    if group is not None and not isinstance(group, dist.ProcessGroup):
        raise ValueError(
            f"group: got a {type(group).__name__}; pass a torch.distributed ProcessGroup (e.g. from dist.new_group("
            "ranks)) or None for every rank."
        )
    world = dist.get_world_size(group)
    if world != config.world_size:
        raise ValueError(
            f"config: ulysses_degree·ring_degree = {config.world_size}, but the process group has {world} ranks; "
            f"make them equal (e.g. ContextParallelConfig({config.scheme}_degree={world}))."
        )


def check_tokens(latents_shape, patch_size, world: int):
    """The latents' token count must split evenly over the ranks (diffusers refuses too, unless *_anything;
    DiffSynth pads the last shard with zero tokens, which then join attention as keys)."""
    _, _, f, h, w = latents_shape
    p_t, p_h, p_w = patch_size
    tokens = (f // p_t) * (h // p_h) * (w // p_w)
    if tokens % world:
        raise ValueError(
            f"hidden_states: latents {tuple(latents_shape)} give {tokens} tokens, which do not split over {world} "
            f"ranks; choose frames, height and width whose token count (F/{p_t}·H/{p_h}·W/{p_w}) is a multiple of "
            f"{world}."
        )


def enable_parallelism(model: nn.Module, config: ContextParallelConfig, group=None) -> ContextParallel:
    """Split `model`'s self-attention sequence across `group` (default: every rank) as `config` says."""
    check_parallel(model, config, group)
    cp = ContextParallel(config, group if group is not None else dist.group.WORLD)

    def check_inputs(_model, args, kwargs):  # before any work
        latents = args[0] if args else kwargs["hidden_states"]
        check_tokens(latents.shape, model.config.patch_size, config.world_size)

    def split_rope(_rope, _args, output):  # (cos, sin), each (1, N, 1, d/2) → (1, N/P, 1, d/2)
        return tuple(cp.shard(t, dim=1) for t in output)

    def split_tokens(_block, args):  # blocks.0's hidden_states (B, N, D) → (B, N/P, D)
        return (cp.shard(args[0], dim=1), *args[1:])

    def gather_tokens(_proj_out, _args, output):  # (B, N/P, C·p) → (B, N, C·p), on every rank
        return gather_sequence(output, cp.group, cp.log, dim=1)

    cp.handles += [
        model.register_forward_pre_hook(check_inputs, with_kwargs=True),
        model.rope.register_forward_hook(split_rope),
        model.blocks[0].register_forward_pre_hook(split_tokens),
        model.proj_out.register_forward_hook(gather_tokens),
    ]
    for block in model.blocks:
        cp.backends[block.attn1] = block.attn1.backend
        block.attn1.backend = ContextParallelBackend(
            config.scheme, group=cp.group, log=cp.log, local=getattr(block.attn1.backend, "local", block.attn1.backend)
        )
    model._context_parallel = cp
    return cp


def disable_parallelism(model: nn.Module):
    """Remove the hooks and backends enable_parallelism attached; the model computes on one process again."""
    cp = getattr(model, "_context_parallel", None)
    if cp is None:
        raise ValueError("model: context parallelism is not enabled on it; there is nothing to disable.")
    cp.remove()
    model._context_parallel = None


def communication_bytes(
    scheme: str, world: int, batch: int, tokens: int, dim: int, layers: int, out_values: int, element_size: int = 4
) -> dict:
    """Bytes one rank sends in one forward, by collective (the formulas of the module docstring).

    tokens N; dim D = heads·head_dim; out_values = C_out·p_t·p_h·p_w per token (the final all-gather)."""
    if scheme not in ("ulysses", "ring"):
        raise ValueError(f"scheme: got {scheme!r}; valid schemes are 'ulysses' and 'ring'.")
    shard = batch * tokens // world * dim * element_size  # one (B, N/P, D) tensor: q, k, v or the output
    sent = {"all_gather": batch * tokens // world * out_values * element_size * (world - 1)}
    if scheme == "ulysses":
        sent["all_to_all"] = layers * 4 * shard * (world - 1) // world
    else:
        sent["ring_pass"] = layers * 2 * shard * (world - 1)
    return sent
