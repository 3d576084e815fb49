"""Group offloading: a model's weights wait on a slow tier and visit the compute tier one group at a time.

    apply_group_offloading(model, onload_device="cpu", offload_device="disk", offload_type="block_level",
                           num_blocks_per_group=1, offload_to_disk_path="offload/")
    ... run the model as usual: every forward onloads and offloads as it goes ...
    remove_group_offloading(model)          # every weight back in the model, the hooks gone

diffusers' function of the same name (hooks/group_offloading.py), with both tiers real on any machine:

    onload_device    where forward runs: "cuda", or "cpu"
    offload_device   where the weights wait: "cpu" (host memory, for a GPU), or "disk": one safetensors file per
                     group in offload_to_disk_path, read back when the group is needed. On a CPU-only machine
                     this is a real offload, RAM ↔ disk (a file read twice may come from the OS page cache).

Groups (offload_type):
    "block_level"  each ModuleList child of the model (a UNet's down_blocks and up_blocks, a transformer's blocks)
                   in runs of num_blocks_per_group; everything else is one more group, onloaded for the whole
                   forward (diffusers' "unmatched" group: embeddings, norms, the UNet's mid-block)
    "leaf_level"   one group per Linear, Conv and Embedding; the parameters of other modules (norms, tables such
                   as scale_shift_table) in a group of the module that holds them

A group's state is explicit, as DiffSynth-Studio keeps it per layer: "offloaded" (the model holds placeholders of
the right shape with no storage, so a forward that reached one would fail loudly), "onloading", "onloaded". A
group onloads in a pre-hook of each of its modules (if not already there) and offloads after its last module's
forward. The first forward records the order the groups ran in (`Ledger.order`).

use_stream=True (a GPU, offload_device "cpu"): the host copies are pinned, and when a group starts computing
the next group in that recorded order is already being copied on a side CUDA stream, so the copy overlaps the
compute; the next group waits for its copy's event before it runs. One group more is on the GPU at a time (the
peak of block×1 + stream ≥ block×1), and the first forward runs without prefetch, while the order is recorded.
No GPU here: this path is not exercised by the tests of a CPU-only machine.

Each move is a trace stage "onload" / "offload" with the group, the route and the bytes, so the memory ledger,
the timings and the Chrome trace show it; `offload_report(model)` sums them.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from torch.utils._python_dispatch import _disable_current_modes

from ..trace import stage, tag

OFFLOAD_TYPES = ("block_level", "leaf_level")
LEAVES = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Embedding,
)  # diffusers' _GO_LC_SUPPORTED_PYTORCH_LAYERS: what group offloading and casting treat as layers


@dataclass
class Ledger:
    """What one model's offloading did: bytes on the compute tier now and at most, and every move."""

    onloaded_bytes: int = 0
    peak_onloaded_bytes: int = 0
    moves: list = field(default_factory=list)  # (group, "onload" | "offload", bytes, seconds)
    order: list = field(default_factory=list)  # the groups in the order the first forward ran them
    copies: list = field(default_factory=list)  # (group, start, end) CUDA events of side-stream copies


class OffloadGroup:
    """Tensors (parameters and buffers) that move together, and the modules whose forward needs them."""

    def __init__(self, name: str, modules: list[nn.Module], tensors: dict, tiers: tuple, ledger: Ledger, file=None):
        self.name, self.modules, self.ledger, self.file = name, modules, ledger, file
        self.tensors = tensors  # key → (owning module, attribute name)
        self.onload_device, self.offload_device = tiers
        self.nbytes = sum(self.current(key).nbytes for key in tensors)
        self.host = None  # the copies that stay in host memory when offload_device is "cpu"
        self.stream = None  # a side CUDA stream when prefetching (use_stream=True)
        self.copied = None  # the CUDA event that marks this group's side-stream copy done
        self.state = "onloaded"

    def current(self, key: str) -> torch.Tensor:
        module, attr = self.tensors[key]
        return getattr(module, attr)

    def put(self, key: str, value: torch.Tensor):
        """Swap what the model holds at `key` without touching autograd's view of it (param.data, as diffusers)."""
        self.current(key).data = value

    def save(self):
        """Write the group's tensors to its file (the disk tier), once, before the first offload."""
        save_file({key: self.current(key).detach().contiguous().cpu() for key in self.tensors}, self.file)

    def offload(self):
        """Weights to the offload tier; the model keeps shape-only placeholders (or the host copies, for cpu)."""
        with stage("offload", group=self.name, route=f"{self.onload_device}→{self.offload_device}", bytes=self.nbytes):
            start = time.perf_counter()
            if self.offload_device == "cpu" and self.host is None:
                self.host = {key: self.current(key).detach().to("cpu") for key in self.tensors}
                if self.stream is not None:  # page-locked, so the side stream's copy is a real asynchronous DMA
                    self.host = {key: tensor.pin_memory() for key, tensor in self.host.items()}
            for key in self.tensors:
                self.put(key, self.host[key] if self.offload_device == "cpu" else placeholder(self.current(key)))
            self.record("offload", -self.nbytes, time.perf_counter() - start)
        self.state = "offloaded"

    def onload(self):
        """Weights back on the compute tier: read from the group's file, or copied from host memory."""
        self.state = "onloading"
        with stage("onload", group=self.name, route=f"{self.offload_device}→{self.onload_device}", bytes=self.nbytes):
            start = time.perf_counter()
            if self.offload_device == "disk":
                with safe_open(self.file, framework="pt", device=str(self.onload_device)) as f:
                    values = {key: f.get_tensor(key) for key in self.tensors}
            else:
                values = {key: tensor.to(self.onload_device) for key, tensor in self.host.items()}
            for key, value in values.items():
                self.put(key, value)
                tag("weights", value)
            self.record("onload", self.nbytes, time.perf_counter() - start)
        self.state = "onloaded"

    def prefetch(self):
        """Start copying the group to the GPU on the side stream and return at once; ready() waits for it."""
        self.state = "onloading"
        with stage("onload", group=self.name, route=f"{self.offload_device}→{self.onload_device} (stream)",
                   bytes=self.nbytes):  # fmt: skip
            start, self.copied = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            with torch.cuda.stream(self.stream):
                start.record()
                values = {key: t.to(self.onload_device, non_blocking=True) for key, t in self.host.items()}
                self.copied.record()
            for key, value in values.items():
                self.put(key, value)
                tag("weights", value)
            self.ledger.copies.append((self.name, start, self.copied))
            self.record("onload", self.nbytes, 0.0)  # the host only queued it: the copy's time is in the events

    def ready(self):
        """Make the compute stream wait for the prefetched copy; tell the allocator the compute stream uses it."""
        compute = torch.cuda.current_stream()
        compute.wait_event(self.copied)
        for key in self.tensors:
            self.current(key).record_stream(compute)  # freed only once the compute stream is done with it too
        self.state = "onloaded"

    def record(self, direction: str, change: int, seconds: float):
        ledger = self.ledger
        ledger.onloaded_bytes += change
        ledger.peak_onloaded_bytes = max(ledger.peak_onloaded_bytes, ledger.onloaded_bytes)
        ledger.moves.append((self.name, direction, abs(change), seconds))


def placeholder(tensor: torch.Tensor) -> torch.Tensor:
    """A tensor of `tensor`'s shape, dtype and device whose storage holds nothing: any use of it raises.

    Made outside any active TorchDispatchMode: a memory ledger would otherwise count its full-size allocation as a
    live activation and never see the storage shrink to nothing."""
    with _disable_current_modes():
        empty = torch.empty(tensor.shape, dtype=tensor.dtype, device=tensor.device)
        empty.untyped_storage().resize_(0)
    return empty


def owned(module: nn.Module, prefix: str = "", recurse: bool = True) -> dict:
    """{dotted key: (owner, attribute)} for the parameters and buffers of `module` (and below, if recurse); a
    tensor held in two places (tied weights, such as T5's shared embedding) is listed once."""
    found, seen = {}, set()
    for name, sub in module.named_modules(prefix=prefix) if recurse else [(prefix, module)]:
        for attr, value in [*sub._parameters.items(), *sub._buffers.items()]:
            if value is not None and id(value) not in seen:
                seen.add(id(value))
                found[f"{name}.{attr}" if name else attr] = (sub, attr)
    return found


def plan_groups(model: nn.Module, offload_type: str, num_blocks_per_group: int | None) -> list[tuple]:
    """[(group name, modules to hook, {key: (owner, attribute)}), …]; the last group holds what no other does."""
    groups = []
    if offload_type == "block_level":
        for child_name, child in model.named_children():
            if isinstance(child, nn.ModuleList | nn.Sequential):
                blocks = list(child.named_children())
                for start in range(0, len(blocks), num_blocks_per_group):
                    run = blocks[start : start + num_blocks_per_group]
                    tensors = {}
                    for name, block in run:
                        tensors |= owned(block, f"{child_name}.{name}", recurse=True)
                    last = start + len(run) - 1
                    groups.append((f"{child_name}.{start}–{last}", [block for _, block in run], tensors))
    else:
        for name, module in model.named_modules():
            if isinstance(module, LEAVES):
                groups.append((name, [module], owned(module, name, recurse=False)))
        for name, module in model.named_modules():
            tensors = owned(module, name, recurse=False)
            if tensors and not isinstance(module, LEAVES) and module is not model:
                groups.append((name, [module], tensors))
    groups = merge_tied(groups)
    taken = set().union(*(ids_of(tensors) for _, _, tensors in groups))
    rest = {key: where for key, where in owned(model).items() if id(getattr(*where)) not in taken}
    if rest:
        groups.append(("rest of the model", [model], rest))
    return groups


def ids_of(tensors: dict) -> set:
    """The identities of the tensors a {key: (owner, attribute)} map names: equal for tied weights."""
    return {id(getattr(owner, attr)) for owner, attr in tensors.values()}


def merge_tied(groups: list[tuple]) -> list[tuple]:
    """Groups that share a tensor (tied weights: T5's shared embedding is also its encoder's embed_tokens) become
    one group, hooked on the modules of both, so neither can run while the other has offloaded the tensor."""
    merged = []
    for name, modules, tensors in groups:
        for i, (other_name, other_modules, other_tensors) in enumerate(merged):
            shared = ids_of(tensors) & ids_of(other_tensors)
            if shared:
                mine = {key: where for key, where in tensors.items() if id(getattr(*where)) not in shared}
                merged[i] = (f"{other_name} + {name}", other_modules + modules, other_tensors | mine)
                break
        else:
            merged.append((name, modules, tensors))
    return merged


def check_arguments(model, onload_device, offload_device, offload_type, blocks, offload_to_disk_path, name="module",
                    use_stream=False):  # fmt: skip
    """Refuse what would fail or do nothing, before anything moves; `name` is how messages call the model."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name}: got a {type(model).__name__}; pass a model (a UNet, a transformer, a VAE).")
    if getattr(model, "_difflab_offload", None) is not None:
        raise ValueError(f"{name}: group offloading is already applied; call remove_group_offloading({name}) first.")
    if offload_type not in OFFLOAD_TYPES:
        raise ValueError(f"offload_type: got {offload_type!r}; valid values are 'block_level' and 'leaf_level'.")
    if offload_type == "block_level" and (isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 1):
        raise ValueError(
            f"num_blocks_per_group: got {blocks!r}; block_level offloading needs a positive int, the blocks "
            "onloaded together (1 keeps the least on the compute tier)."
        )
    if str(offload_device) not in ("cpu", "disk"):
        raise ValueError(f"offload_device: got {offload_device!r}; valid values are 'cpu' and 'disk'.")
    if str(onload_device) not in ("cpu", "cuda") and not str(onload_device).startswith("cuda:"):
        raise ValueError(f"onload_device: got {onload_device!r}; valid values are 'cpu', 'cuda' or 'cuda:N'.")
    if str(offload_device) == "cpu" and torch.device(onload_device).type == "cpu":
        raise ValueError(
            "offload_device: got 'cpu', the same tier as onload_device 'cpu', so nothing would move; on a machine "
            "without a GPU offload to 'disk' (with offload_to_disk_path)."
        )
    if str(offload_device) == "disk" and offload_to_disk_path is None:
        raise ValueError("offload_to_disk_path: got None with offload_device='disk'; pass a folder for the files.")
    if torch.device(onload_device).type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"onload_device: got {onload_device!r}, but no CUDA device is available; use 'cpu'.")
    if not isinstance(use_stream, bool):
        raise ValueError(f"use_stream: got {use_stream!r}; pass True or False.")
    if use_stream and (torch.device(onload_device).type != "cuda" or str(offload_device) != "cpu"):
        raise ValueError(
            f"use_stream: got True with onload_device {str(onload_device)!r} and offload_device "
            f"{str(offload_device)!r}; prefetching on a side stream copies pinned host memory to a GPU, so it needs "
            "onload_device='cuda' and offload_device='cpu' (diffusers refuses it on a CPU too). Pass use_stream=False."
        )


def apply_group_offloading(
    module: nn.Module,
    onload_device="cpu",
    offload_device="cpu",
    offload_type: str = "block_level",
    num_blocks_per_group: int | None = None,
    use_stream: bool = False,
    offload_to_disk_path=None,
) -> list[OffloadGroup]:
    """Offload `module`'s weights group by group (module docstring); returns the groups, all offloaded now."""
    check_arguments(module, onload_device, offload_device, offload_type, num_blocks_per_group, offload_to_disk_path,
                    use_stream=use_stream)  # fmt: skip
    tiers, ledger = (torch.device(onload_device), str(offload_device)), Ledger()
    stream = torch.cuda.Stream(device=tiers[0]) if use_stream else None
    folder = None if offload_to_disk_path is None else Path(offload_to_disk_path)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    groups = []
    for i, (name, modules, tensors) in enumerate(plan_groups(module, offload_type, num_blocks_per_group)):
        group = OffloadGroup(name, modules, tensors, tiers, ledger)
        group.stream = stream
        if tiers[1] == "disk":
            group.file = str(folder / f"group_{i}.safetensors")
            group.save()
        ledger.onloaded_bytes += group.nbytes  # it starts where it is, then leaves
        group.offload()
        groups.append(group)
    ledger.moves.clear()
    ledger.peak_onloaded_bytes = ledger.onloaded_bytes
    handles = [hook for group in groups for hook in attach(group, module, groups)]
    module._difflab_offload = (groups, ledger, handles)
    return groups


def attach(group: OffloadGroup, model: nn.Module, groups: list) -> list:
    """Hooks: onload before any of the group's modules runs; offload after its last one (the whole model's, for
    the rest-of-the-model group). With a stream, also start the next group's copy (in the recorded order)."""
    ledger = group.ledger

    def before(_module, _args):
        if group.state == "offloaded":
            group.onload()
        elif group.state == "onloading":  # prefetched by the group before it
            group.ready()
        else:
            return  # already computing: a second module of the same group
        if len(ledger.order) < len(groups) and group not in ledger.order:
            ledger.order.append(group)  # the first forward: learn the order
        elif group.stream is not None:
            following = ledger.order[ledger.order.index(group) + 1 :]
            if following and following[0].state == "offloaded":
                following[0].prefetch()

    def after(_module, _args, _output):
        if group.state == "onloaded":
            group.offload()

    handles = [m.register_forward_pre_hook(before) for m in group.modules]
    handles.append(group.modules[-1].register_forward_hook(after))
    if group.modules[-1] is not model:  # a forward that skips the group's last module still leaves it offloaded
        handles.append(model.register_forward_hook(after))
    return handles


def offloading_of(module: nn.Module) -> tuple:
    """(groups, ledger, hook handles) of a model under group offloading; refuses a model that is not."""
    state = getattr(module, "_difflab_offload", None)
    if state is None:
        raise ValueError(
            f"module: this {type(module).__name__} has no group offloading to remove or report; apply it first with "
            "apply_group_offloading(module, ...)."
        )
    return state


def remove_group_offloading(module: nn.Module):
    """Every weight back in the model on the onload device, the hooks gone."""
    groups, _, handles = offloading_of(module)
    for handle in handles:
        handle.remove()
    for group in groups:
        if group.state == "offloaded":
            group.onload()
        elif group.state == "onloading":  # prefetched, never run
            group.ready()
    module._difflab_offload = None


def offload_report(module: nn.Module) -> dict:
    """Bytes on the compute tier now and at most, bytes and seconds moved each way, since the offloading began."""
    groups, ledger, _ = offloading_of(module)
    report = {"groups": len(groups), "onloaded_bytes": ledger.onloaded_bytes,
              "peak_onloaded_bytes": ledger.peak_onloaded_bytes,
              "order": [group.name for group in ledger.order]}  # fmt: skip
    for direction in ("onload", "offload"):
        moves = [m for m in ledger.moves if m[1] == direction]
        report[f"{direction}_bytes"] = sum(m[2] for m in moves)
        report[f"{direction}_seconds"] = sum(m[3] for m in moves)
    return report
