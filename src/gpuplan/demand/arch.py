"""Model architecture math: parameters, FLOPs per token and KV-cache bytes from an HF config.

A Hugging Face ``config.json`` is normalised into an :class:`Arch` (one frozen record, whatever the
model family spells its fields), and pure functions compute from it:

* exact parameter counts, total and active per token (MoE), split into the parts that later
  stages shard differently (embeddings, attention, dense MLP, routed experts, shared experts);
* forward and training FLOPs per token, with the attention term of PaLM Appendix B;
* KV-cache bytes per token (MHA/GQA/MQA; MLA latent cache; sliding windows).

Functions taking sequence lengths accept scalars or numpy arrays and broadcast.

References
----------
.. [1] Chowdhery et al. 2022, "PaLM: Scaling Language Modeling with Pathways", arXiv 2204.02311,
   Appendix B (model FLOPs utilisation: 6N + 12·L·H·Q·T FLOPs per token).
.. [2] Kaplan et al. 2020, "Scaling Laws for Neural Language Models", arXiv 2001.08361, Table 1
   (forward pass ≈ 2N FLOPs per token plus 2·L·n_ctx·d_attn for attention).
.. [3] DeepSeek-AI 2024, "DeepSeek-V2", arXiv 2405.04434, Section 2.1 (multi-head latent
   attention; KV cache of (d_c + d_h^R)·l elements per token).
.. [4] Shazeer 2019, "Fast Transformer Decoding: One Write-Head is All You Need" (MQA);
   Ainslie et al. 2023, "GQA", arXiv 2305.13245.
.. [5] Fedus et al. 2022, "Switch Transformers" / Jiang et al. 2024, "Mixtral of Experts",
   arXiv 2401.04088 (top-k routed experts; active vs total parameters).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from gpuplan.catalog.hf_config import (
    cfg_flag,
    cfg_layers,
    cfg_text,
    opt_whole,
    whole,
)
from gpuplan.errors import UserError

#: Matrices per MLP block: gated (SwiGLU/GeGLU: gate, up, down) vs plain (up, down).
GATED_MLP_MATRICES = 3
PLAIN_MLP_MATRICES = 2
#: K and V: two cached tensors per layer in standard attention.
KV_TENSORS = 2
#: FLOPs per multiply-accumulate.
FLOPS_PER_MAC = 2
#: Training = forward + backward (2x forward) [1].
TRAIN_FLOPS_MULTIPLIER = 3

#: Model types whose transformers config class defaults ``tie_word_embeddings`` to False.
_UNTIED_BY_DEFAULT = {"llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen2_moe", "qwen3_moe",
                      "deepseek_v2", "deepseek_v3", "olmo2", "phi3", "llama4_text", "llama4"}

_GATED_ACTS = {"silu", "swiglu", "swish", "gelu_pytorch_tanh_gated", "geglu"}
#: Model types with a gated MLP whatever their activation says, and types that never have one.
_GATED_TYPES = {"llama", "mistral", "mixtral", "qwen2", "qwen3", "qwen2_moe", "qwen3_moe", "gemma",
                "gemma2", "gemma3", "olmo2", "olmo", "phi3", "deepseek_v2", "deepseek_v3",
                "llama4_text", "llama4"}
_PLAIN_MLP_TYPES = {"gpt2", "bloom", "opt", "falcon", "gpt_neox", "gptj"}
#: Model types with LayerNorm (weight and bias); the others use RMSNorm (weight only).
_LAYERNORM_TYPES = {"gpt2", "bloom", "opt", "falcon", "gpt_neox", "phi", "gptj"}
_LLAMA4_TYPES = {"llama4_text", "llama4"}
#: MLP width when the config gives none: 4·h (Vaswani et al. 2017; GPT-2).
DEFAULT_FFN_MULTIPLIER = 4
#: Norms per layer: before attention and before the MLP; Gemma 2/3 add a norm after each.
NORMS_PER_LAYER = 2
SANDWICH_NORMS_PER_LAYER = 4
#: OPT's learned position table has 2 extra rows (its padding offset).
OPT_POSITION_OFFSET = 2


@dataclass(frozen=True)
class Arch:
    """A decoder-only transformer, normalised from any HF config.

    Sizes are element counts (not bytes). ``head_dim`` is the per-head query/key width;
    ``v_head_dim`` the per-head value width (they differ for MLA).
    """

    name: str
    model_type: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    v_head_dim: int
    vocab_size: int
    intermediate_size: int
    gated_mlp: bool
    tied_embeddings: bool
    learned_positions: int = 0
    norm_params_per_layer: int = 0
    final_norm_params: int = 0
    extra_embedding_params: int = 0
    attn_bias_params: int = 0
    mlp_bias: bool = False
    qk_norm_params: int = 0
    # MoE
    num_experts: int = 0
    experts_per_token: int = 0
    moe_intermediate_size: int = 0
    num_shared_experts: int = 0
    shared_intermediate_size: int = 0
    moe_layers: tuple[bool, ...] = ()
    router_bias: bool = False
    shared_expert_gate: bool = False
    # MLA
    q_lora_rank: int = 0
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    # attention span per layer (0 = full context)
    window_per_layer: tuple[int, ...] = ()
    max_position_embeddings: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def num_moe_layers(self) -> int:
        return int(sum(self.moe_layers))


# ----------------------------------------------------------------------------------------------
# Config normalisation
# ----------------------------------------------------------------------------------------------


def _get(cfg: dict[str, Any], *names: str, default: Any = None, required: bool = True) -> Any:
    for n in names:
        if n in cfg and cfg[n] is not None:
            return cfg[n]
    if required and default is None:
        raise UserError(f"config.json is missing a needed field: one of {', '.join(names)}")
    return default


def _pos_int(cfg: dict[str, Any], *names: str, default: Any = None) -> int:
    """The first of ``names`` present, a positive whole number (``default`` when absent)."""
    v = _get(cfg, *names, default=default)
    field_name = next((n for n in names if cfg.get(n) is not None), names[0])
    return whole(v, field_name)


def arch_from_config(cfg: dict[str, Any], name: str = "model") -> Arch:
    """Normalise a Hugging Face ``config.json`` mapping into an :class:`Arch`.

    Parameters
    ----------
    cfg : dict
        The config's fields. Multimodal configs with a ``text_config`` use the text model.
    name : str
        Label for messages.

    Returns
    -------
    Arch

    Raises
    ------
    UserError
        One line starting with ``name`` (the file, for a config read from disk) and naming the
        field: a needed field is missing; a count or width is not a positive whole number
        (booleans, text, NaN, infinities and fractions are refused, as are values above
        :data:`MAX_CONFIG_INT`); a flag is not true/false; experts per token exceed the
        experts; a layer list names a layer the model lacks.
    """
    try:
        return _read_arch(cfg, name)
    except UserError as e:
        msg = " ".join(str(e).split())
        if msg.startswith(f"{name}:"):
            raise
        raise UserError(f"{name}: {msg}") from None


def _read_arch(cfg: dict[str, Any], name: str) -> Arch:
    """The reading phases of :func:`arch_from_config`, in order."""
    cfg = _text_config(cfg, name)
    mt = cfg_text(cfg, "model_type", default="unknown").lower()
    core = _core_shape(cfg, mt, name)
    h, a, k, d = core["hidden_size"], core["num_heads"], core["num_kv_heads"], core["head_dim"]
    parts = core | _norms_and_positions(cfg, mt, h) | _biases(cfg, mt, h, a, k, d)
    parts |= _moe(cfg, mt, name, core["num_layers"], core["intermediate_size"])
    parts |= _mla(cfg, a, k, d)
    windows, notes = _windows(cfg, mt, core["num_layers"])
    return Arch(name=name, model_type=mt, window_per_layer=windows, notes=notes, **parts)


def _text_config(cfg: dict[str, Any], name: str) -> dict[str, Any]:
    """The text model's config (multimodal configs nest it under ``text_config``)."""
    if not isinstance(cfg, dict):
        raise UserError(f"{name}: config must be a JSON object")
    if isinstance(cfg.get("text_config"), dict) and "hidden_size" not in cfg:
        inner = dict(cfg["text_config"])
        inner.setdefault("model_type", cfg.get("model_type", "unknown"))
        inner.setdefault("tie_word_embeddings", cfg.get("tie_word_embeddings", False))
        return inner
    return cfg


def _core_shape(cfg: dict[str, Any], mt: str, name: str) -> dict[str, Any]:
    """Widths, depth, heads, vocabulary, MLP width and kind, tying [elements]."""
    h = _pos_int(cfg, "hidden_size", "n_embd", "d_model", "n_embed")
    L = _pos_int(cfg, "num_hidden_layers", "n_layer", "num_layers")
    a = _pos_int(cfg, "num_attention_heads", "n_head", "num_heads")
    V = _pos_int(cfg, "vocab_size", "padded_vocab_size")
    multi_query = mt == "falcon" and not cfg_flag(cfg, "new_decoder_architecture", False) \
        and cfg_flag(cfg, "multi_query", False)
    k = _pos_int(cfg, "num_key_value_heads", "num_kv_heads", "n_head_kv", "multi_query_group_num",
                 default=1 if multi_query else a)
    if a % k:
        raise UserError(f"{name}: num_attention_heads {a} is not a multiple of "
                        f"num_key_value_heads {k}")
    act = cfg_text(cfg, "hidden_act", "activation_function", "hidden_activation",
                default="gelu").lower()
    gated = (act in _GATED_ACTS or mt in _GATED_TYPES) and mt not in _PLAIN_MLP_TYPES
    f = DEFAULT_FFN_MULTIPLIER * h
    f = opt_whole(cfg, "intermediate_size_mlp", "intermediate_size", "n_inner", "ffn_dim",
                  "ffn_hidden_size", minimum=1, default=f)
    # transformers' PretrainedConfig ties by default; Llama-family configs say False explicitly.
    tied = cfg_flag(cfg, "tie_word_embeddings", mt not in _UNTIED_BY_DEFAULT)
    if cfg.get("head_dim") is None and h < a:
        raise UserError(f"{name}: hidden_size {h} is smaller than num_attention_heads {a} and "
                        f"no head_dim is given")
    d = opt_whole(cfg, "head_dim", minimum=1, default=h // a)
    return dict(hidden_size=h, num_layers=L, num_heads=a, num_kv_heads=k, head_dim=d,
                v_head_dim=d, vocab_size=V, intermediate_size=f, gated_mlp=gated,
                tied_embeddings=tied)


def _norms_and_positions(cfg: dict[str, Any], mt: str, h: int) -> dict[str, int]:
    """Norm weights per layer and final, learned positions, extra embedding parameters."""
    # Norms: RMSNorm has a weight; LayerNorm weight + bias.
    per_norm = 2 * h if mt in _LAYERNORM_TYPES else h
    norms_per_layer = NORMS_PER_LAYER
    if mt in {"gemma2", "gemma3"}:
        norms_per_layer = SANDWICH_NORMS_PER_LAYER  # pre- and post- norms around attn and MLP
    if mt == "falcon" and not cfg_flag(cfg, "new_decoder_architecture", False) \
            and cfg_flag(cfg, "parallel_attn", True):
        norms_per_layer = 1
    final_norm = per_norm
    learned = 0
    extra_emb = 0
    if mt == "gpt2":
        learned = _pos_int(cfg, "n_positions", "max_position_embeddings")
    elif mt == "opt":
        learned = _pos_int(cfg, "max_position_embeddings") + OPT_POSITION_OFFSET
        proj = opt_whole(cfg, "word_embed_proj_dim", minimum=1, default=h)
        if proj != h:
            extra_emb += 2 * proj * h  # project_in and project_out
        if not cfg_flag(cfg, "do_layer_norm_before", True):
            final_norm = 0
    elif mt == "bloom":
        extra_emb = 2 * h  # word_embeddings_layernorm
    max_pos = opt_whole(cfg, "max_position_embeddings", "n_positions", "seq_length", minimum=1)
    return dict(norm_params_per_layer=norms_per_layer * per_norm, final_norm_params=final_norm,
                learned_positions=learned, extra_embedding_params=extra_emb,
                max_position_embeddings=max_pos)


def _biases(cfg: dict[str, Any], mt: str, h: int, a: int, k: int, d: int) -> dict[str, Any]:
    """Attention biases, whether the MLP has biases, and q/k-norm weights [parameters]."""
    bias_all = cfg_flag(cfg, "bias", False) if mt == "falcon" else mt in {"gpt2", "bloom", "opt"}
    attention_bias = cfg_flag(cfg, "attention_bias", False)
    qkv_bias = bias_all or attention_bias or mt in {"qwen2", "qwen2_moe"}
    o_bias = bias_all or attention_bias
    qk_norm = 0
    if mt in {"qwen3", "qwen3_moe", "gemma3"}:
        qk_norm = 2 * d
    elif mt == "olmo2":
        qk_norm = a * d + k * d
    return dict(attn_bias_params=(a * d + 2 * k * d if qkv_bias else 0) + (h if o_bias else 0),
                mlp_bias=bias_all or cfg_flag(cfg, "mlp_bias", False), qk_norm_params=qk_norm)


def _moe_layers(cfg: dict[str, Any], mt: str, L: int) -> tuple[bool, ...]:
    """Which layers hold a routed-expert block."""
    first_dense = opt_whole(cfg, "first_k_dense_replace")
    freq = opt_whole(cfg, "moe_layer_freq", "interleave_moe_layer_step", minimum=1, default=1)
    step = max(freq, opt_whole(cfg, "decoder_sparse_step", minimum=1, default=1))
    explicit = set(cfg_layers(cfg, "moe_layers", L))
    moe_layers = [False] * L
    for i in range(L):
        if explicit:
            moe_layers[i] = i in explicit
        elif mt in _LLAMA4_TYPES:
            moe_layers[i] = (i + 1) % step == 0
        else:
            moe_layers[i] = i >= first_dense and (i - first_dense) % step == 0 if step > 1 \
                else i >= first_dense
    for i in cfg_layers(cfg, "mlp_only_layers", L):
        moe_layers[i] = False
    return tuple(moe_layers)


def _moe(cfg: dict[str, Any], mt: str, name: str, L: int, f: int) -> dict[str, Any]:
    """Routed and shared experts, their widths, the MoE layers and the dense MLP width."""
    E = opt_whole(cfg, "num_local_experts", "n_routed_experts", "num_experts", "moe_num_experts")
    top_k = opt_whole(cfg, "num_experts_per_tok", "moe_top_k", "top_k")
    if E <= 0:
        return dict(num_experts=E, experts_per_token=top_k, moe_layers=(False,) * L)
    if top_k <= 0:
        raise UserError(f"{name}: MoE config has experts but no num_experts_per_tok")
    if top_k > E:
        raise UserError(f"{name}: config field num_experts_per_tok {top_k} is more than the "
                        f"{E} routed experts; each token picks at most all of them")
    moe_f = opt_whole(cfg, "moe_intermediate_size", "intermediate_size", minimum=1, default=f)
    shared = opt_whole(cfg, "n_shared_experts")
    shared_f = moe_f
    shared_gate = False
    if mt in _LLAMA4_TYPES:
        shared = 1
        moe_f = _pos_int(cfg, "intermediate_size")
        shared_f = moe_f
    if opt_whole(cfg, "shared_expert_intermediate_size"):
        shared = max(shared, 1)
        shared_f = opt_whole(cfg, "shared_expert_intermediate_size", minimum=1)
        shared_gate = mt == "qwen2_moe"
    if mt in _LLAMA4_TYPES:
        f = opt_whole(cfg, "intermediate_size_mlp", minimum=1, default=f)
    elif mt in {"deepseek_v2", "deepseek_v3"}:
        f = opt_whole(cfg, "intermediate_size", minimum=1, default=f)
    return dict(num_experts=E, experts_per_token=top_k, moe_intermediate_size=moe_f,
                num_shared_experts=shared, shared_intermediate_size=shared_f,
                moe_layers=_moe_layers(cfg, mt, L),
                router_bias=cfg.get("topk_method") == "noaux_tc", shared_expert_gate=shared_gate,
                intermediate_size=f)


def _mla(cfg: dict[str, Any], a: int, k: int, d: int) -> dict[str, int]:
    """Multi-head latent attention ranks; MLA's per-head widths, and one KV "head" per head."""
    kv_lora = opt_whole(cfg, "kv_lora_rank", minimum=1)
    rope_d = opt_whole(cfg, "qk_rope_head_dim", minimum=1)
    out = dict(q_lora_rank=opt_whole(cfg, "q_lora_rank", minimum=1), kv_lora_rank=kv_lora,
               qk_rope_head_dim=rope_d)
    if kv_lora:
        out |= dict(head_dim=_pos_int(cfg, "qk_nope_head_dim") + rope_d,
                    v_head_dim=_pos_int(cfg, "v_head_dim"), num_kv_heads=a)
    return out


def _windows(cfg: dict[str, Any], mt: str, L: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """Sliding window of each layer (0 = full attention), and notes on what is approximated."""
    windows = [0] * L
    sw = opt_whole(cfg, "sliding_window", minimum=1)
    if sw and cfg_flag(cfg, "use_sliding_window", True):
        if mt in {"gemma2"}:
            windows = [int(sw) if i % 2 == 0 else 0 for i in range(L)]
        elif mt in {"qwen2", "qwen3", "qwen2_moe", "qwen3_moe"}:
            start = opt_whole(cfg, "max_window_layers", default=L)
            windows = [int(sw) if i >= start else 0 for i in range(L)]
        else:
            windows = [int(sw)] * L
    notes: tuple[str, ...] = ()
    if mt in _LLAMA4_TYPES and cfg.get("attention_chunk_size"):
        notes = ("chunked local attention of Llama 4 is counted as full attention",)
    return tuple(windows), notes


# ----------------------------------------------------------------------------------------------
# Parameter counts
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamCounts:
    """Parameter counts by part [parameters].

    ``embedding`` is the input token (and position) embedding; ``lm_head`` is 0 when tied.
    ``attention``, ``dense_mlp``, ``norms`` sum over all layers; ``routed_experts`` is all routed
    expert weights, ``shared_experts`` the always-active experts, ``router`` the gates.
    """

    embedding: int
    lm_head: int
    attention: int
    dense_mlp: int
    routed_experts: int
    shared_experts: int
    router: int
    norms: int
    routed_active: int

    @property
    def total(self) -> int:
        return (self.embedding + self.lm_head + self.attention + self.dense_mlp
                + self.routed_experts + self.shared_experts + self.router + self.norms)

    @property
    def active(self) -> int:
        """Parameters touched per token: all but the routed experts not chosen."""
        return self.total - self.routed_experts + self.routed_active

    @property
    def expert(self) -> int:
        """Parameters sharded by expert parallelism (routed experts)."""
        return self.routed_experts

    @property
    def non_expert(self) -> int:
        return self.total - self.routed_experts


def attention_params_per_layer(arch: Arch) -> int:
    """Attention weights of one layer [parameters].

    Notes
    -----
    Standard (MHA/GQA/MQA): ``h·(a·d) + 2·h·(k·d) + (a·d)·h`` plus biases and q/k norms.
    MLA [3]_: ``h·r_q + r_q + r_q·a·(d_nope+d_rope)`` (or ``h·a·(d_nope+d_rope)`` without a query
    low rank), ``h·(r_kv + d_rope) + r_kv + r_kv·a·(d_nope + d_v)``, and ``a·d_v·h``.
    """
    h, a, k, d = arch.hidden_size, arch.num_heads, arch.num_kv_heads, arch.head_dim
    if arch.is_mla:
        nope = d - arch.qk_rope_head_dim
        if arch.q_lora_rank:
            q = h * arch.q_lora_rank + arch.q_lora_rank + arch.q_lora_rank * a * d
        else:
            q = h * a * d
        kv = (h * (arch.kv_lora_rank + arch.qk_rope_head_dim) + arch.kv_lora_rank
              + arch.kv_lora_rank * a * (nope + arch.v_head_dim))
        o = a * arch.v_head_dim * h
        return q + kv + o + arch.attn_bias_params
    return h * a * d + 2 * h * k * d + a * d * h + arch.attn_bias_params + arch.qk_norm_params


def _mlp_params(h: int, f: int, gated: bool, bias: bool) -> int:
    m = GATED_MLP_MATRICES if gated else PLAIN_MLP_MATRICES
    return m * h * f + ((f * (m - 1) + h) if bias else 0)


def param_counts(arch: Arch) -> ParamCounts:
    """Exact parameter counts of ``arch`` by part.

    Notes
    -----
    Per layer: attention (:func:`attention_params_per_layer`) + norms + either a dense MLP
    (``3·h·f`` gated, ``2·h·f`` plain) or an MoE block: ``E`` routed experts of ``3·h·f_e``, shared
    experts, and a router ``h·E`` (+ ``E`` bias for auxiliary-loss-free balancing). Active
    parameters count ``top_k`` routed experts per MoE layer [5]_.
    """
    h, L = arch.hidden_size, arch.num_layers
    emb = arch.vocab_size * h + arch.learned_positions * h + arch.extra_embedding_params
    head = 0 if arch.tied_embeddings else arch.vocab_size * h
    attn = L * attention_params_per_layer(arch)
    n_moe = arch.num_moe_layers
    n_dense = L - n_moe
    dense = n_dense * _mlp_params(h, arch.intermediate_size, arch.gated_mlp, arch.mlp_bias)
    expert_one = _mlp_params(h, arch.moe_intermediate_size, arch.gated_mlp, arch.mlp_bias)
    routed = n_moe * arch.num_experts * expert_one
    routed_active = n_moe * arch.experts_per_token * expert_one
    shared = n_moe * arch.num_shared_experts * _mlp_params(
        h, arch.shared_intermediate_size, arch.gated_mlp, arch.mlp_bias)
    router = n_moe * (h * arch.num_experts + (arch.num_experts if arch.router_bias else 0)
                      + (h if arch.shared_expert_gate else 0))
    norms = L * arch.norm_params_per_layer + arch.final_norm_params
    return ParamCounts(embedding=emb, lm_head=head, attention=attn, dense_mlp=dense,
                       routed_experts=routed, shared_experts=shared, router=router, norms=norms,
                       routed_active=routed_active)


# ----------------------------------------------------------------------------------------------
# FLOPs
# ----------------------------------------------------------------------------------------------


def matmul_params_active(arch: Arch) -> int:
    """Parameters that take part in a matrix multiply per token [parameters].

    Active parameters minus the embedding look-ups (token and learned position tables) and norm
    weights; the output projection (lm head, or the tied embedding used as one) is included.
    """
    pc = param_counts(arch)
    return pc.active - pc.embedding - pc.lm_head - pc.norms + arch.vocab_size * arch.hidden_size


def attention_span(arch: Arch, seq_len: npt.ArrayLike) -> np.ndarray:
    """Sum over layers of the attended context per token [tokens·layers].

    Parameters
    ----------
    seq_len : array_like
        Sequence length [tokens].

    Notes
    -----
    Full-attention layers attend ``s`` positions, sliding-window layers ``min(s, w)``. As in
    PaLM [1]_, the causal mask is not discounted.
    """
    s = np.asarray(seq_len, dtype=float)
    w = np.asarray(arch.window_per_layer or (0,) * arch.num_layers, dtype=float)
    span = np.where(w[:, None] > 0, np.minimum(s.reshape(1, -1), w[:, None]), s.reshape(1, -1))
    return span.sum(axis=0).reshape(s.shape)


def forward_flops_per_token(arch: Arch, seq_len: npt.ArrayLike) -> np.ndarray:
    """Forward-pass model FLOPs per token at sequence length ``seq_len`` [FLOP].

    Notes
    -----
    ``2·N_matmul + 2·a·(d_qk + d_v)·Σ_layers span`` — the dense matmuls plus the score (QKᵀ) and
    value (AV) products [1]_ [2]_. For standard attention ``d_qk = d_v = d`` and this is PaLM's
    ``4·L·H·Q·T`` forward term.
    """
    attn = FLOPS_PER_MAC * arch.num_heads * (arch.head_dim + arch.v_head_dim) * attention_span(
        arch, seq_len)
    return FLOPS_PER_MAC * matmul_params_active(arch) + attn


def training_flops_per_token(arch: Arch, seq_len: npt.ArrayLike) -> np.ndarray:
    """Model FLOPs per trained token (forward + backward, no recompute) [FLOP].

    Notes
    -----
    ``3 × forward`` = ``6·N + 12·L·H·Q·T`` in PaLM's notation [1]_ (Appendix B).
    """
    return TRAIN_FLOPS_MULTIPLIER * forward_flops_per_token(arch, seq_len)


# ----------------------------------------------------------------------------------------------
# KV cache
# ----------------------------------------------------------------------------------------------


def kv_elements_per_token_per_layer(arch: Arch) -> int:
    """Cached elements per token per layer [elements].

    Notes
    -----
    Standard attention: ``2·k·d`` (K and V of the ``k`` KV heads) [4]_. MLA caches the compressed
    latent and the decoupled RoPE key: ``d_c + d_h^R`` [3]_ (Section 2.1.4).
    """
    if arch.is_mla:
        return arch.kv_lora_rank + arch.qk_rope_head_dim
    return KV_TENSORS * arch.num_kv_heads * arch.head_dim


def kv_cache_bytes(arch: Arch, context_tokens: npt.ArrayLike,
                   bytes_per_element: float) -> np.ndarray:
    """KV-cache bytes of one sequence holding ``context_tokens`` tokens [bytes].

    Parameters
    ----------
    context_tokens : array_like
        Tokens in the sequence's context (prompt + generated) [tokens].
    bytes_per_element : float
        Storage per cached element [bytes] (2 for bf16/fp16, 1 for fp8/int8).

    Notes
    -----
    ``Σ_layers min(T, w_l) · e · bytes`` with ``e`` from :func:`kv_elements_per_token_per_layer`
    and ``w_l`` the layer's sliding window (no window: ``T``).
    """
    return attention_span(arch, context_tokens) * kv_elements_per_token_per_layer(arch) \
        * bytes_per_element


def kv_cache_bytes_per_token(arch: Arch, bytes_per_element: float) -> float:
    """KV-cache bytes per token with no sliding-window cap: ``L·e·bytes`` [bytes/token]."""
    return float(arch.num_layers * kv_elements_per_token_per_layer(arch) * bytes_per_element)
