"""One summary row per catalog model (counts come from :mod:`gpuplan.demand.arch`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gpuplan.demand.arch import arch_from_config, kv_cache_bytes_per_token, param_counts
from gpuplan.demand.memory import DTYPE_BYTES

if TYPE_CHECKING:
    from gpuplan.catalog import Catalog


def model_rows(cat: Catalog) -> list[dict[str, Any]]:
    """One row per catalog model: parameter counts, shape, attention kind, KV bytes per token.

    Parameters
    ----------
    cat : Catalog
        The catalog [—].
    """
    rows = []
    for m in cat.models.values():
        arch = arch_from_config(m.config, m.id)
        pc = param_counts(arch)
        rows.append({
            "id": m.id, "name": m.name, "repo_id": m.repo_id, "model_type": arch.model_type,
            "params": pc.total, "active_params": pc.active, "layers": arch.num_layers,
            "hidden_size": arch.hidden_size, "heads": arch.num_heads,
            "kv_heads": arch.num_kv_heads, "experts": arch.num_experts,
            "experts_per_token": arch.experts_per_token,
            "attention": _attention_kind(arch.is_mla, arch.num_heads, arch.num_kv_heads),
            "kv_cache_bytes_per_token_bf16": int(kv_cache_bytes_per_token(arch,
                                                                          DTYPE_BYTES["bf16"])),
            "max_position_embeddings": arch.max_position_embeddings,
            "source": m.source, "as_of": m.as_of,
        })
    return rows


def _attention_kind(is_mla: bool, heads: int, kv_heads: int) -> str:
    """MLA (latent KV), MHA (a KV head per head), MQA (one KV head) or GQA (groups)."""
    if is_mla:
        return "MLA"
    if kv_heads == heads:
        return "MHA"
    return "MQA" if kv_heads == 1 else "GQA"
