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
    if func not in FRESH:
        FRESH[func] = tuple(r.alias_info is None for r in func._schema.returns)
    return FRESH[func]


def storage_key(tensor: torch.Tensor):
    storage = tensor.untyped_storage()
    return (storage.device, storage.data_ptr()), storage


class MemoryLedger(TorchDispatchMode):
    def __init__(self, on_change):
        super().__init__()
        self.live = {}  # storage key → [category, bytes, weakref]
        self.by_category = {}  # category → live bytes
        self.on_change = on_change  # called as on_change(by_category, allocated) after every allocation and free
        self.paused = False  # True while the tracer runs its own checks, so they are not counted

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # PyTorch wraps __torch_dispatch__ in a torch.compile guard unless a mode opts out. The ledger never runs
        # under torch.compile, and the guard would cost microseconds on every operation.
        return False

    def track(self, tensor: torch.Tensor, category: str):
        """Count `tensor`'s storage under `category` (moving it there if it is already counted)."""
        key, storage = storage_key(tensor)
        if storage.nbytes() == 0:
            return
        if key in self.live:
            entry = self.live[key]
            self.by_category[entry[0]] -= entry[1]
            entry[0] = category
        else:
            entry = [category, storage.nbytes(), None]
            entry[2] = weakref.ref(storage, lambda _, key=key: self.release(key))
            self.live[key] = entry
        self.by_category[category] = self.by_category.get(category, 0) + entry[1]

    def release(self, key):
        entry = self.live.pop(key, None)
        if entry is not None:
            self.by_category[entry[0]] -= entry[1]
            self.on_change(self.by_category, False)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.paused:
            return out
        fresh = fresh_returns(func)
        outputs = out if isinstance(out, (tuple, list)) else (out,)
        if len(fresh) == 1 and isinstance(out, (tuple, list)):  # one Tensor[] return: a list of tensors
            fresh = fresh * len(outputs)
        grew = False
        for t, is_fresh in zip(outputs, fresh):
            if is_fresh and isinstance(t, torch.Tensor) and t.layout == torch.strided:
                if storage_key(t)[0] not in self.live:
                    self.track(t, ACTIVATIONS)
                    grew = True
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
