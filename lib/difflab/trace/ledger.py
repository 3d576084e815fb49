"""The memory ledger: exact live bytes by category, counted from the tensor storages themselves.

A TorchDispatchMode sees every tensor operation. An output the operator's schema does not mark as an alias of
an input (views like `t()` and in-place results like `add_` are marked `Tensor(a)`) is a new allocation: its
bytes join the live total, and a weak reference to the storage takes them off again the moment the storage is
freed. This works the same on every device and needs no allocator statistics.

Categories: weights (the traced modules' parameters and buffers, counted once), tensors the library tagged
('latents', 'conditioning'), and everything else allocated during the trace ('activations': the temporaries).
"""

import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode

ACTIVATIONS = "activations"
FRESH = {}  # operator → for each return value, True if it owns new memory (not an alias of an input)


def fresh_returns(func) -> tuple:
    """For each return value of an operator: True if it owns new memory, False if its schema marks an alias."""
    fresh = FRESH.get(func)
    if fresh is None:
        fresh = FRESH[func] = tuple(r.alias_info is None for r in func._schema.returns)
    return fresh


class MemoryLedger(TorchDispatchMode):
    def __init__(self, on_change):
        super().__init__()
        # Storages are keyed by their Python object's id: PyTorch keeps one object per storage for the storage's
        # whole life, and the weak reference drops the entry before the id can be reused.
        self.live = {}  # id(storage) → [category, bytes]
        self.keys = {}  # weak reference → id(storage), to find the entry when the storage is freed
        self.by_category = {}  # category → live bytes
        self.on_change = on_change  # called as on_change(by_category, allocated=True) after every allocation
        self.paused = False  # True while the tracer runs its own checks, so they are not counted

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # PyTorch wraps __torch_dispatch__ in a torch.compile guard unless a mode opts out. The ledger never runs
        # under torch.compile, and the guard would cost microseconds on every operation.
        return False

    def track(self, tensor: torch.Tensor, category: str) -> bool:
        """Count `tensor`'s storage under `category` (moving it there if already counted); True if it is new."""
        storage = tensor.untyped_storage()
        key = id(storage)
        entry = self.live.get(key)
        if entry is not None:  # already counted: move it to `category`
            self.by_category[entry[0]] -= entry[1]
            entry[0] = category
            self.by_category[category] = self.by_category.get(category, 0) + entry[1]
            return False
        nbytes = storage.nbytes()
        if nbytes == 0:
            return False
        self.live[key] = [category, nbytes]
        self.keys[weakref.ref(storage, self.release)] = key
        self.by_category[category] = self.by_category.get(category, 0) + nbytes
        return True

    def release(self, ref):
        """Weak-reference callback: the storage is gone, take its bytes off."""
        entry = self.live.pop(self.keys.pop(ref, None), None)
        if entry is not None:  # no callback: the timeline shows frees at its next sample, the next allocation
            self.by_category[entry[0]] -= entry[1]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.paused:
            return out
        fresh = fresh_returns(func)
        if isinstance(out, torch.Tensor):  # the common case: one tensor back
            if fresh[0] and out.layout == torch.strided and id(out.untyped_storage()) not in self.live:
                self.track(out, ACTIVATIONS)
                self.on_change(self.by_category, True)
            return out
        outputs = out if isinstance(out, (tuple, list)) else (out,)
        if len(fresh) == 1:  # one Tensor[] return: a list of tensors
            fresh = fresh * len(outputs)
        grew = False
        for t, is_fresh in zip(outputs, fresh):
            if is_fresh and isinstance(t, torch.Tensor) and t.layout == torch.strided:
                grew |= self.track(t, ACTIVATIONS) if id(t.untyped_storage()) not in self.live else False
        if grew:
            self.on_change(self.by_category, True)
        return out


def module_weights(components: dict) -> list[dict]:
    """One row per (component, device, dtype): parameter count and bytes of parameters and buffers."""
    rows = {}
    for name, module in components.items():
        if not isinstance(module, torch.nn.Module):  # tokenizers and schedulers hold no tensors
            continue
        seen = set()
        for tensor in [*module.parameters(), *module.buffers()]:
            if id(tensor) in seen:  # tied weights count once
                continue
            seen.add(id(tensor))
            row = rows.setdefault(
                (name, str(tensor.device), str(tensor.dtype).replace("torch.", "")),
                {
                    "component": name,
                    "device": str(tensor.device),
                    "dtype": str(tensor.dtype).replace("torch.", ""),
                    "tensors": 0,
                    "elements": 0,
                    "bytes": 0,
                },
            )
            row["tensors"] += 1
            row["elements"] += tensor.numel()
            row["bytes"] += tensor.numel() * tensor.element_size()
    return list(rows.values())
