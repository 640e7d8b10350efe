"""The global batch as a decision: the rule gpuplan uses when none is given, and batch ramps.

When the user gives no global batch, gpuplan takes the larger of two published anchors:

* the batch published runs used at the model's size (GPT-3's table by size, Llama 2's 4M tokens
  at every size, Llama 3 405B's 16M tokens), interpolated log-log in the parameter count;
* a floor of tokens per GPU, so the batch grows with the cluster (Llama 3 405B's 16M tokens on
  16,384 GPUs: 1,024 tokens per GPU), which keeps the data-parallel ranks fed with micro-batches.

A ramp (Llama 3: 4M → 8M → 16M tokens) is a list of ``(tokens_until, batch_tokens)`` stages.

References
----------
.. [1] Brown et al. 2020, "Language Models are Few-Shot Learners", arXiv 2005.14165, Table 2.1
   (batch size in tokens per model size: 0.5M … 3.2M).
.. [2] Touvron et al. 2023, "Llama 2: Open Foundation and Fine-Tuned Chat Models", arXiv
   2307.09288, Section 2.2 (global batch 4M tokens for every size).
.. [3] Llama Team 2024, "The Llama 3 Herd of Models", arXiv 2407.21783, Section 3.4.1 (4M
   tokens at 4,096 → 8M at 8,192 after 252M tokens → 16M after 2.87T tokens) and Table 4
   (16M tokens on 8,192 and 16,384 H100).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gpuplan.errors import UserError

MI = 2**20
#: Published global batches by model size: (parameters, batch [tokens], source).
PUBLISHED_BATCHES: tuple[tuple[float, float, str], ...] = (
    (125e6, 0.5 * MI, "GPT-3 Small, Brown et al. 2020 Table 2.1"),
    (350e6, 0.5 * MI, "GPT-3 Medium, Brown et al. 2020 Table 2.1"),
    (1.3e9, 1 * MI, "GPT-3 XL, Brown et al. 2020 Table 2.1"),
    (2.7e9, 1 * MI, "GPT-3 2.7B, Brown et al. 2020 Table 2.1"),
    (6.7e9, 2 * MI, "GPT-3 6.7B, Brown et al. 2020 Table 2.1"),
    (13e9, 2 * MI, "GPT-3 13B, Brown et al. 2020 Table 2.1"),
    (70e9, 4 * MI, "Llama 2 70B, Touvron et al. 2023 Section 2.2"),
    (175e9, 3.2 * MI, "GPT-3 175B, Brown et al. 2020 Table 2.1"),
    (405e9, 16 * MI, "Llama 3 405B, Llama Team 2024 Section 3.4.1 and Table 4"),
)
#: Tokens per GPU below which the batch no longer shrinks with more GPUs: Llama 3 405B's 16M
#: tokens on 16,384 H100 (Llama Team 2024, Table 4) [tokens/GPU].
MIN_BATCH_TOKENS_PER_GPU = 16 * MI / 16384
#: Micro-batches per data-parallel rank below which the pipeline bubble dominates: the 1F1B
#: bubble (p−1)/m is under one half only for m ≥ 2p (Narayanan et al. 2021, Section 2.2.1).
MIN_MICROBATCHES_PER_PP_STAGE = 2
#: Relative margin under which the two anchors count as equal (floating-point interpolation).
TIE_TOLERANCE = 1e-9


def size_batch_tokens(params: float) -> float:
    """Global batch published runs used at this model size [tokens].

    Parameters
    ----------
    params : float
        Parameters of the model [parameters].

    Notes
    -----
    Log-log interpolation in :data:`PUBLISHED_BATCHES` of the running maximum (the batch never
    shrinks with size), clamped to the first and last rows [1]_ [2]_ [3]_.
    """
    n = np.array([r[0] for r in PUBLISHED_BATCHES])
    b = np.maximum.accumulate(np.array([r[1] for r in PUBLISHED_BATCHES]))
    return float(np.exp(np.interp(np.log(max(params, 1.0)), np.log(n), np.log(b))))


def choose_global_batch_tokens(params: float, gpus: int) -> tuple[float, str]:
    """The global batch gpuplan chooses when none is given, and the rule as one line.

    Parameters
    ----------
    params : float
        Parameters of the model [parameters].
    gpus : int
        Accelerators in the job [accelerators].

    Returns
    -------
    tuple
        Batch [tokens] and the rule with its source.

    Notes
    -----
    ``B = max(B_size(N), 1024 · gpus)`` with ``B_size`` from :func:`size_batch_tokens` and the
    per-GPU floor from Llama 3 405B's Table 4 [3]_.
    """
    by_size = size_batch_tokens(params)
    by_gpus = MIN_BATCH_TOKENS_PER_GPU * gpus
    if by_gpus > by_size * (1 + TIE_TOLERANCE):
        return by_gpus, (f"global batch {by_gpus / MI:,.1f}M tokens chosen: "
                         f"{MIN_BATCH_TOKENS_PER_GPU:,.0f} tokens per GPU × {gpus:,} GPUs (Llama 3"
                         f" 405B: 16M tokens on 16,384 GPUs, Llama Team 2024 Table 4), above the"
                         f" {by_size / MI:,.1f}M published runs used at this size")
    return by_size, (f"global batch {by_size / MI:,.1f}M tokens chosen from the batches published"
                     f" runs used at {params / 1e9:,.1f}B parameters (GPT-3 Table 2.1, Llama 2"
                     f" §2.2, Llama 3 §3.4.1, interpolated log-log)")


def microbatch_warning(microbatches: int, pp: int) -> str | None:
    """A note when micro-batches per data-parallel rank are fewer than 2·pp.

    Parameters
    ----------
    microbatches : int
        Micro-batches per data-parallel rank per step [micro-batches].
    pp : int
        Pipeline stages [stages].
    """
    if pp > 1 and microbatches < MIN_MICROBATCHES_PER_PP_STAGE * pp:
        return (f"only {microbatches} micro-batches per data-parallel rank for {pp} pipeline "
                f"stages (fewer than 2·pp = {MIN_MICROBATCHES_PER_PP_STAGE * pp}): the pipeline "
                f"bubble is large; a larger global batch or fewer stages would fill it")
    return None


def check_ramp(ramp: Sequence[tuple[float, float]], tokens: float
               ) -> list[tuple[float, float]]:
    """A batch ramp as ``(tokens in this stage, batch tokens)`` pairs covering ``tokens``.

    Parameters
    ----------
    ramp : sequence of (float, float)
        ``(tokens_until, batch_tokens)``: the batch used until ``tokens_until`` tokens have been
        trained [tokens, tokens]; the last stage's batch runs to the end.
    tokens : float
        Training tokens of the run [tokens].

    Raises
    ------
    UserError
        Stages not increasing, or a batch not positive.
    """
    out: list[tuple[float, float]] = []
    done = 0.0
    for until, batch in ramp:
        if batch <= 0 or until <= done:
            raise UserError("batch_ramp: each stage needs a positive batch and a token count "
                            "above the previous stage's", field="batch_ramp")
        end = min(until, tokens)
        if end > done:
            out.append((end - done, float(batch)))
            done = end
    if done < tokens:
        last = float(ramp[-1][1]) if ramp else 0.0
        if not out or out[-1][1] != last:
            out.append((tokens - done, last))
        else:
            out[-1] = (out[-1][0] + tokens - done, last)
    return out


def parse_ramp(text: str) -> list[tuple[float, float]]:
    """``"252e6:4194304,2.87e12:8388608,0:16777216"`` → stages (a 0 ``until`` is the last).

    Raises
    ------
    UserError
        Not ``until:batch`` pairs of numbers.
    """
    stages: list[tuple[float, float]] = []
    try:
        for part in text.split(","):
            until, batch = part.split(":")
            stages.append((float(until) or float("inf"), float(batch)))
    except ValueError:
        raise UserError("batch_ramp: expected until:batch pairs, e.g. "
                        "'252e6:4194304,2.87e12:8388608,0:16777216'", field="batch_ramp") from None
    return stages
