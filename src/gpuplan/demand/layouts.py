"""Parallel layouts: parsing, validation and vectorised candidate grids.

A layout is a set of integer degrees (see :mod:`gpuplan.demand.memory`). A grid of candidates is a
mapping of equal-length numpy arrays, so every model function evaluates all candidates in one call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from gpuplan.demand.arch import Arch
from gpuplan.demand.memory import RECOMPUTE_CODES, max_pipeline_chunks
from gpuplan.errors import UserError

LAYOUT_KEYS = ("tp", "pp", "dp", "cp", "ep", "mb", "vpp", "recompute", "zero")
RECOMPUTE_NAMES = {v: k for k, v in RECOMPUTE_CODES.items()}
#: ZeRO stages; stage 3 is what PyTorch FSDP calls FULL_SHARD.
ZERO_STAGES = (0, 1, 2, 3)
#: Largest data-parallel degree a search considers.
MAX_DP = 2**17
#: Largest degree a layout key may take.
MAX_DEGREE = 2**20
#: TP limit when the accelerator's scale-up domain is unknown (one 8-GPU node).
DEFAULT_TP_CAP = 8
#: Pipeline degrees that divide the layer count are searched up to this many stages.
MAX_DIVISOR_PP = 64


@dataclass(frozen=True)
class Layout:
    """One parallel layout."""

    tp: int = 1
    pp: int = 1
    dp: int = 1
    cp: int = 1
    ep: int = 1
    mb: int = 1
    vpp: int = 1
    recompute: str = "none"
    zero: int = 0

    @property
    def gpus(self) -> int:
        return self.tp * self.pp * self.dp * self.cp

    def as_dict(self) -> dict[str, int | str]:
        """The layout keys and ``gpus``, as :class:`LayoutOut` takes them."""
        return {k: getattr(self, k) for k in LAYOUT_KEYS} | {"gpus": self.gpus}


def make_layout(values: Mapping[str, int | str]) -> Layout:
    """A :class:`Layout` from a (partial) mapping of layout keys; missing keys take defaults.

    Parameters
    ----------
    values : mapping
        Layout keys (:data:`LAYOUT_KEYS`) to degrees; ``recompute`` by name.
    """
    # mypy cannot match a str-keyed mapping to Layout's fields; parse_layout checked the keys
    return Layout(**{k: str(v) if k == "recompute" else int(v)  # type: ignore[arg-type]
                     for k, v in values.items()})


class LayoutOut(BaseModel):
    """A layout as it appears in JSON results."""

    model_config = ConfigDict(extra="forbid")
    tp: int
    pp: int
    dp: int
    cp: int
    ep: int
    mb: int
    vpp: int
    recompute: str
    zero: int
    gpus: int


def _bad(what: str) -> UserError:
    return UserError(f"layout {what}", field="layout")


def parse_layout(text: str | None) -> dict[str, int | str]:
    """Parse ``tp=8,pp=16,dp=64,recompute=selective,zero=1`` into a partial layout mapping.

    Parameters
    ----------
    text : str or None
        Comma-separated ``key=value`` items; None or empty for no keys.

    Raises
    ------
    UserError
        Unknown key, repeated key, or a value that is not a positive whole number (``zero`` may be
        0-3, ``recompute`` none/selective/full; ``fsdp`` is accepted as ``zero=3``).
    """
    out: dict[str, int | str] = {}
    if not text:
        return out
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if part.lower() == "fsdp":
            out["zero"] = 3
            continue
        if "=" not in part:
            raise _bad(f"item {part!r} is not key=value; keys: {', '.join(LAYOUT_KEYS)}")
        key, val = (x.strip().lower() for x in part.split("=", 1))
        if key not in LAYOUT_KEYS:
            raise _bad(f"key {key!r} unknown; accepted: {', '.join(LAYOUT_KEYS)}")
        if key in out:
            raise _bad(f"key {key!r} given twice")
        if key == "recompute":
            if val not in RECOMPUTE_CODES:
                raise _bad(f"recompute={val!r}; accepted: {', '.join(RECOMPUTE_CODES)}")
            out[key] = val
            continue
        try:
            iv = int(val)
        except ValueError:
            raise _bad(f"{key}={val!r} is not a whole number") from None
        if key == "zero":
            if iv not in ZERO_STAGES:
                raise _bad(f"zero={iv}; accepted: {', '.join(map(str, ZERO_STAGES))}")
        elif iv < 1 or iv > MAX_DEGREE:
            raise _bad(f"{key}={iv} must be between 1 and {MAX_DEGREE}")
        out[key] = iv
    return out


def check_layout(arch: Arch, layout: Layout, *, scale_up: int | None = None,
                 field: str | None = "layout") -> None:
    """Raise :class:`UserError` naming the first constraint ``layout`` breaks for ``arch``.

    Parameters
    ----------
    arch : Arch
        The model.
    layout : Layout
        The layout.
    scale_up : int, optional
        Scale-up domain size, the TP limit [accelerators].
    field : str, optional
        The parameter the layout came from, for :attr:`UserError.field`.
    """
    problem = _layout_problem(arch, layout, scale_up)
    if problem:
        raise UserError(problem, field=field)


def _layout_problem(arch: Arch, layout: Layout, scale_up: int | None) -> str | None:
    """The first constraint ``layout`` breaks for ``arch``, in words; None if it breaks none."""
    a, k, L = arch.num_heads, arch.num_kv_heads, arch.num_layers
    if a % layout.tp:
        return f"tp={layout.tp} does not divide the {a} attention heads"
    if not arch.is_mla and k % layout.tp and layout.tp % k:
        return f"tp={layout.tp} and the {k} KV heads: one must divide the other"
    if layout.pp > L:
        return f"pp={layout.pp} is more than the {L} layers"
    if layout.pp * layout.vpp > max_pipeline_chunks(L):
        return (f"pp×vpp={layout.pp * layout.vpp} is more than the {L} layers plus the "
                f"embedding and head chunks ({max_pipeline_chunks(L)})")
    if layout.vpp > 1 and layout.pp == 1:
        return "vpp > 1 needs pp > 1 (interleaving is a pipeline schedule)"
    if layout.ep > 1:
        if not arch.is_moe:
            return f"ep={layout.ep} but {arch.name} has no experts"
        if arch.num_experts % layout.ep:
            return f"ep={layout.ep} does not divide the {arch.num_experts} experts"
        if (layout.dp * layout.cp) % layout.ep:
            return f"ep={layout.ep} must divide dp×cp={layout.dp * layout.cp}"
    if scale_up and layout.tp > scale_up:
        return f"tp={layout.tp} exceeds the scale-up domain of {scale_up} accelerators"
    return None


def _pow2_upto(n: int) -> list[int]:
    return [2**i for i in range(int(np.log2(max(n, 1))) + 1)]


#: Context-parallel degrees tried, the least tokens each CP rank keeps, and the chunks each rank
#: holds (load-balanced causal attention splits a sequence into 2·cp chunks).
CP_OPTIONS = (1, 2, 4, 8, 16, 32)
MIN_TOKENS_PER_CP_RANK = 1024
CP_CHUNKS_PER_RANK = 2


def cp_options(seq_len: int) -> list[int]:
    """Context-parallel degrees a sequence of ``seq_len`` tokens [tokens] splits into evenly."""
    return [c for c in CP_OPTIONS if seq_len % (CP_CHUNKS_PER_RANK * c) == 0
            and seq_len / c >= MIN_TOKENS_PER_CP_RANK] or [1]


def tp_options(arch: Arch, scale_up: int | None) -> list[int]:
    """TP degrees dividing the heads and compatible with the KV heads, up to the scale-up domain."""
    cap = scale_up or DEFAULT_TP_CAP
    a, k = arch.num_heads, arch.num_kv_heads
    return [t for t in range(1, min(cap, a) + 1)
            if a % t == 0 and (arch.is_mla or k % t == 0 or t % k == 0)
            and (t & (t - 1) == 0 or t == cap)]


def pp_options(arch: Arch, max_pp: int | None = None) -> list[int]:
    """Pipeline degrees: powers of two up to the layer count, plus the divisors of L below it."""
    L = arch.num_layers
    cap = min(L, max_pp or L)
    opts = set(_pow2_upto(cap)) | {d for d in range(1, cap + 1)
                                   if L % d == 0 and d <= MAX_DIVISOR_PP}
    return sorted(opts)


def ep_options(arch: Arch) -> list[int]:
    """Expert-parallel degrees: powers of two dividing the expert count (1 for dense models)."""
    if not arch.is_moe:
        return [1]
    return [e for e in _pow2_upto(arch.num_experts) if arch.num_experts % e == 0]


def grid(**axes: list[int]) -> dict[str, np.ndarray]:
    """Cartesian product of the given axes as equal-length integer arrays."""
    keys = list(axes)
    mesh = np.meshgrid(*[np.asarray(axes[k]) for k in keys], indexing="ij")
    return {k: m.ravel() for k, m in zip(keys, mesh)}


def filter_grid(g: dict[str, np.ndarray], mask: npt.NDArray[np.bool_]) -> dict[str, np.ndarray]:
    """The candidates of ``g`` where ``mask`` is true."""
    return {k: v[mask] for k, v in g.items()}


def layout_at(g: dict[str, np.ndarray], i: int) -> Layout:
    """The :class:`Layout` of candidate ``i`` of grid ``g`` (missing keys take defaults)."""
    vals: dict[str, int | str] = {}
    for k in LAYOUT_KEYS:
        if k in g:
            v = int(g[k][i])
            vals[k] = RECOMPUTE_NAMES[v] if k == "recompute" else v
    return make_layout(vals)

