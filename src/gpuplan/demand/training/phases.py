"""A run as a list of phases: pre-training, long-context extension, annealing, distillation.

Each phase has its own tokens, sequence length, batch, GPU count and layout; each is searched by
:func:`~gpuplan.demand.training.search.train` on its own, and the run is their sum. A
distillation phase names a teacher whose forward pass runs on every trained token (online
logits), which adds the teacher's forward FLOPs at the rate the student's step achieves.

References
----------
.. [1] Llama Team 2024, "The Llama 3 Herd of Models", arXiv 2407.21783, Section 3.4
   (pre-training 15.6T tokens at 8K, long-context pre-training of ~800B tokens in six stages
   up to 128K, annealing on 40M tokens).
.. [2] Meta 2024, Llama 3.2 model card: the 1B and 3B models were pruned from Llama 3.1 8B and
   trained with logits of Llama 3.1 8B and 70B as token-level targets (knowledge distillation).
.. [3] Chowdhery et al. 2022, "PaLM", Appendix B: a forward pass is one third of the 6N
   training FLOPs per token.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gpuplan.catalog import Catalog
from gpuplan.demand.arch import arch_from_config
from gpuplan.demand.training.results import PhaseOut, TrainResult
from gpuplan.demand.training.steptime import model_flops_per_token
from gpuplan.errors import UserError

#: Share of a token's training FLOPs that is the forward pass (1 of 3 passes) [3]_.
FORWARD_SHARE_OF_TRAINING_FLOPS = 1.0 / 3.0
#: Largest phases file read [bytes].
MAX_PHASES_FILE_BYTES = 1 << 20
#: Phase kinds a run may hold.
PHASE_KINDS = ("pretrain", "long_context", "anneal", "distill", "finetune")


@dataclass(frozen=True)
class Phase:
    """One phase of a run (None: as the run's own argument to :func:`train`).

    Attributes
    ----------
    name : str
        Label shown in the result.
    kind : str
        One of :data:`PHASE_KINDS`.
    tokens : float
        Tokens trained in this phase [tokens].
    seq_len : int or None
        Sequence length [tokens].
    global_batch_tokens : float or None
        Tokens per optimizer step [tokens].
    gpus : int or None
        Accelerators [accelerators].
    layout : str or None
        Layout keys pinned for this phase.
    teacher : str or None
        Distillation teacher (catalog model) whose forward runs on every token.
    """

    name: str
    kind: str
    tokens: float
    seq_len: int | None = None
    global_batch_tokens: float | None = None
    gpus: int | None = None
    layout: str | None = None
    teacher: str | None = None


def parse_phases(items: Sequence[dict[str, object]]) -> list[Phase]:
    """Phases from plain mappings (a scenario file, the CLI's JSON).

    Raises
    ------
    UserError
        A phase without tokens, of an unknown kind, or with unknown keys.
    """
    out = []
    for i, d in enumerate(items):
        unknown = set(d) - set(Phase.__dataclass_fields__)
        if unknown:
            raise UserError(f"phases: phase {i} has unknown keys {sorted(unknown)}",
                            field="phases")
        kind = str(d.get("kind", "pretrain"))
        if kind not in PHASE_KINDS:
            raise UserError(f"phases: phase {i} kind {kind!r} unknown; accepted: "
                            + ", ".join(PHASE_KINDS), field="phases")
        tokens = d.get("tokens")
        if not isinstance(tokens, int | float) or tokens <= 0:
            raise UserError(f"phases: phase {i} needs tokens > 0", field="phases")
        seq = d.get("seq_len")
        gbt = d.get("global_batch_tokens")
        gpus = d.get("gpus")
        out.append(Phase(name=str(d.get("name", kind)), kind=kind, tokens=float(tokens),
                         seq_len=int(seq) if isinstance(seq, int | float) else None,
                         global_batch_tokens=float(gbt) if isinstance(gbt, int | float)
                         else None,
                         gpus=int(gpus) if isinstance(gpus, int | float) else None,
                         layout=str(d["layout"]) if d.get("layout") else None,
                         teacher=str(d["teacher"]) if d.get("teacher") else None))
    if not out:
        raise UserError("phases: give at least one phase", field="phases")
    return out


def load_phases(path: str | Path) -> list[Phase]:
    """Phases from a YAML file ``{phases: [{name, kind, tokens, seq_len, ...}, ...]}``.

    Raises
    ------
    UserError
        Unreadable file, no ``phases`` list, or a bad phase.
    """
    from gpuplan.textfile import read_yaml_mapping  # PyYAML only when a phases file is read

    p, data = read_yaml_mapping(path, max_bytes=MAX_PHASES_FILE_BYTES, what="phases file")
    items = data.get("phases")
    if not isinstance(items, list) or not all(isinstance(d, dict) for d in items):
        raise UserError(f"phases: {p} needs a 'phases' list of mappings", field="phases")
    return parse_phases(items)


def teacher_forward_share(cat: Catalog, teacher: str, student_hw_flops_per_token: float,
                          seq_len: int) -> float:
    """Teacher forward FLOPs per token over the student's hardware FLOPs per token [fraction].

    Notes
    -----
    ``F_teacher_fwd = F_teacher_train / 3`` [3]_; run at the student's achieved FLOP rate, the
    phase takes ``1 + F_teacher_fwd / F_student_hw`` times as long.
    """
    name, cfg, _ = cat.model(teacher)
    t_arch = arch_from_config(cfg, name)
    fwd = model_flops_per_token(t_arch, seq_len) * FORWARD_SHARE_OF_TRAINING_FLOPS
    return float(fwd / student_hw_flops_per_token)


def phase_out(ph: Phase, r: TrainResult, share: float) -> PhaseOut:
    """The phase's row from its searched result ``r``, with the teacher's forward time added.

    Notes
    -----
    Time, GPU-hours and step time scale by ``1 + share``; MFU (student FLOPs only) by its
    inverse.
    """
    factor = 1.0 + share
    return PhaseOut(name=ph.name, kind=ph.kind, tokens=ph.tokens, seq_len=r.seq_len, gpus=r.gpus,
                    global_batch_tokens=r.global_batch_tokens, layout=r.layout,
                    step_time_s=r.step_time_s * factor, mfu=r.mfu / factor, teacher=ph.teacher,
                    teacher_forward_share=share, gpu_hours=r.gpu_hours * factor,
                    wall_days=r.wall_days * factor)
