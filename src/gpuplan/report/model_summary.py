"""One summary row per catalog model (counts come from :mod:`gpuplan.demand.arch`)."""

from __future__ import annotations

from gpuplan.demand.arch import arch_from_config, kv_cache_bytes_per_token, param_counts
from gpuplan.demand.memory import DTYPE_BYTES


def model_rows(cat) -> list[dict]:
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
            "attention": "MLA" if arch.is_mla else ("MHA" if arch.num_kv_heads == arch.num_heads
                                                    else ("MQA" if arch.num_kv_heads == 1 else "GQA")),
            "kv_cache_bytes_per_token_bf16": int(kv_cache_bytes_per_token(arch, DTYPE_BYTES["bf16"])),
            "max_position_embeddings": arch.max_position_embeddings,
            "source": m.source, "as_of": m.as_of,
        })
    return rows
