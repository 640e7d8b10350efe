"""Risk: Monte Carlo over uncertain inputs of the own-vs-rent cash flows, and a tornado chart.

Each uncertain input gets a distribution (user-set, or the defaults below, centred on the
base case: each triangular default is symmetric about the baseline, so the mean draw is the
baseline and the risk run does not lean for or against owning; the one exception, sourced, is
the refinancing of a loan's extension, which can only cost: the agreed margin, or the
GPU-backed margin if lenders refuse the extension). ``n_samples`` draws run through
the same vectorised cash-flow model as ``gpuplan tco``
(:func:`gpuplan.money.cashflows.simulate`) in chunks sized to keep memory bounded (about
:data:`CHUNK_BUDGET_BYTES` of working arrays plus 32 bytes a sample); a fixed ``seed`` makes the
run reproducible. The tornado moves one input at a time to its 10th and 90th percentile with the
others at the baseline.

Obsolescence and rent are linked: a faster fall in rental prices comes with a shorter useful
life of owned hardware (both follow the arrival of the next generation), so the useful life and
the rent price change are drawn with rank correlation :data:`LIFE_RENT_RANK_CORRELATION`
(Iman and Conover 1982: each marginal is kept, only the pairing of draws changes).

Inputs (``multiplier`` = factor on the baseline value; ``absolute`` = the value itself, or for
``interest_rate_shift`` a shift added to the discount rate and the loan base rate):

====================================  ==========  =========================================
input                                 scale       default distribution (judgement, centred)
====================================  ==========  =========================================
gpu_price_multiplier                  multiplier  triangular(0.85, 1, 1.15)
cloud_price_multiplier                multiplier  triangular(0.70, 1, 1.30)
cloud_price_change_per_year           absolute    triangular(base - 0.15, base, base + 0.15)
energy_price_multiplier               multiplier  triangular(0.75, 1, 1.25)
utilisation                           absolute    triangular(base -+ h, base), h <= 0.15
useful_life_years                     absolute    triangular(base -+ h, base), h <= 1.5 years
interest_rate_shift                   absolute    triangular(-0.015, 0, 0.015)
failure_rate_per_year                 absolute    triangular(base -+ h, base), h <= 0.03
demand_multiplier                     multiplier  triangular(1 - x, 1, 1 + x), x = the
                                                  demand model's validation error
refinancing_rate_shift                absolute    triangular(0, 0, m_r - m) after the base
                                                  term (one-sided, see _refinancing)
====================================  ==========  =========================================

``-+ h``: symmetric about the base with half-width ``h``, narrowed where a physical bound
(utilisation 0.05-1, life 1 year, failures 0) would cut one side. Anchors of the half-widths:
H100 street/list prices 25-36k (+-18 % about 30k, 2023-2025); H100 rentals fell ~45 % in 2025
and rose ~40 % by Mar 2026; US state industrial electricity 6-19 c/kWh; depreciation lives 2-3
years (critics) to 6 (hyperscalers); SOFR 3.95-4.45 % in 2025 (shared/facts catalog_notes.md 2,
6-8).

References
----------
.. [1] Iman, R. L. and Conover, W. J. (1982), "A distribution-free approach to inducing rank
   correlation among input variables", Communications in Statistics B 11(3), 311-334.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from typing_extensions import TypedDict

from gpuplan.checks import check_whole
from gpuplan.errors import UserError
from gpuplan.money.cashflows import simulate
from gpuplan.money.types import TcoInputs, TcoResult

Scale = Literal["multiplier", "absolute"]
#: Every uncertain input and its scale, in the order the samples are drawn (so a seed gives the
#: same draws whatever the names sort to).
SCALES: dict[str, Scale] = {
    "cloud_price_multiplier": "multiplier", "cloud_price_change_per_year": "absolute",
    "energy_price_multiplier": "multiplier", "failure_rate_per_year": "absolute",
    "gpu_price_multiplier": "multiplier", "interest_rate_shift": "absolute",
    "useful_life_years": "absolute", "utilisation": "absolute",
    "demand_multiplier": "multiplier", "refinancing_rate_shift": "absolute"}
PERCENTILES = (5, 10, 25, 50, 75, 90, 95)
TORNADO_QUANTILES = (0.10, 0.90)
MAX_SAMPLES = 10_000_000
#: Rank correlation of the useful life and the rent price change [dimensionless] (judgement: no
#: published estimate; positive = a shorter life comes with a faster rent decline).
LIFE_RENT_RANK_CORRELATION = 0.6
#: Working memory of one chunk of samples in the cash-flow model [bytes].
CHUNK_BUDGET_BYTES = 256 * 2**20
#: Monthly (n, T + 1) float arrays the cash-flow model holds at once per sample (discount
#: factors at the discount and loan rates, price path, bill, their products and temporaries;
#: about 19 measured with tracemalloc, counted high).
ARRAYS_PER_SAMPLE_MONTH = 24
#: Bytes kept per sample across chunks: NPV, own and rent NPVs, and a percentile copy.
BYTES_PER_SAMPLE_KEPT = 4 * 8
#: Most memory a risk run may need [bytes] (:func:`risk_memory_bytes` stays below it up to
#: MAX_SAMPLES over the longest horizon and construction; a test pins it).
MAX_RISK_MEMORY_BYTES = 2**30
#: Samples kept for the tornado's percentiles (the first chunk's draws, at most this many).
TORNADO_SAMPLES = 200_000
#: Half-widths of the centred defaults, in the input's unit (see the module docstring).
HALF_WIDTH = {"gpu_price_multiplier": 0.15, "cloud_price_multiplier": 0.30,
              "cloud_price_change_per_year": 0.15, "energy_price_multiplier": 0.25,
              "utilisation": 0.15, "useful_life_years": 1.5, "interest_rate_shift": 0.015,
              "failure_rate_per_year": 0.03}
#: Lowest demand factor drawn [1] (a demand error of 100 % would leave nothing to serve).
MIN_DEMAND_MULTIPLIER = 1e-3
#: Shortest useful life a default distribution reaches [years].
MIN_SAMPLED_LIFE_YEARS = 1.0
#: Largest seed accepted (numpy's SeedSequence takes any non-negative integer).
MAX_SEED = 2**63 - 1
#: Bounds a sampled value is clipped to (physical limits, not distribution choices).
CLIP: dict[str, tuple[float | None, float | None]] = {
    "utilisation": (1e-3, 1.0), "useful_life_years": (0.25, 30.0),
    "failure_rate_per_year": (0.0, 1.0), "cloud_price_change_per_year": (-0.99, 10.0),
    "gpu_price_multiplier": (0.0, None), "cloud_price_multiplier": (1e-6, None),
    "energy_price_multiplier": (0.0, None), "interest_rate_shift": (-0.5, 1.0),
    "demand_multiplier": (MIN_DEMAND_MULTIPLIER, None),
    "refinancing_rate_shift": (-0.5, 1.0)}
DistKind = Literal["fixed", "uniform", "triangular", "normal", "lognormal"]
#: The parameters each kind of distribution needs.
DIST_PARAMS: dict[str, tuple[str, ...]] = {
    "fixed": ("value",), "uniform": ("low", "high"), "triangular": ("low", "mode", "high"),
    "normal": ("mean", "sd"), "lognormal": ("mean", "sd")}


class Dist(BaseModel):
    """A distribution of one input.

    ``triangular(low, mode, high)``, ``uniform(low, high)``, ``normal(mean, sd)``,
    ``lognormal(mean, sd)`` (of the underlying normal), or ``fixed(value)``.
    """

    model_config = ConfigDict(extra="forbid")
    kind: DistKind
    low: float | None = None
    mode: float | None = None
    high: float | None = None
    mean: float | None = None
    sd: float | None = Field(default=None, ge=0)
    value: float | None = None

    @model_validator(mode="after")
    def _params(self) -> Dist:
        need = DIST_PARAMS[self.kind]
        missing = [k for k in need if getattr(self, k) is None]
        if missing:
            raise ValueError(f"{self.kind} needs {', '.join(need)}")
        if self.kind == "uniform" and not self._p("low") <= self._p("high"):
            raise ValueError("uniform needs low <= high")
        if self.kind == "triangular" and \
                not self._p("low") <= self._p("mode") <= self._p("high"):
            raise ValueError("triangular needs low <= mode <= high")
        return self

    def _p(self, name: str) -> float:
        """Parameter ``name``, which the validator proved is set for this kind."""
        v = getattr(self, name)
        if v is None:
            raise ValueError(f"{self.kind} needs {name}")
        return float(v)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws from ``rng`` [the input's unit]."""
        p = self._p
        if self.kind == "fixed":
            return np.full(n, p("value"))
        if self.kind == "uniform":
            return rng.uniform(p("low"), p("high"), n)
        if self.kind == "triangular":
            if p("low") == p("high"):
                return np.full(n, p("low"))
            return rng.triangular(p("low"), p("mode"), p("high"), n)
        if self.kind == "normal":
            return rng.normal(p("mean"), p("sd"), n)
        return rng.lognormal(p("mean"), p("sd"), n)


class TornadoRow(TypedDict):
    """One input at its 10th and 90th percentile, the others at the baseline [USD]."""

    input: str
    scale: str
    low_value: float
    high_value: float
    npv_low_usd: float
    npv_high_usd: float
    swing_usd: float


class RiskResult(BaseModel):
    """Result of :func:`risk`: NPV(own - rent) percentiles, P(owning wins), tornado."""

    model_config = ConfigDict(extra="forbid")
    n_samples: int
    seed: int
    baseline_npv_usd: float
    npv_usd: dict[str, float]
    own_npv_cost_usd: dict[str, float]
    rent_npv_cost_usd: dict[str, float]
    probability_own_wins: float
    tornado: list[TornadoRow]
    distributions: dict[str, Dist]
    notes: list[str]


#: Floor of the sampled utilisation [fraction]; a base case below it is its own floor.
MIN_SAMPLED_UTILISATION = 0.05


def _centred(base: float, half: float, lo: float = -np.inf, hi: float = np.inf) -> Dist:
    """Triangular(base - h, base, base + h) with h = ``half`` narrowed to stay in [lo, hi]."""
    h = max(0.0, min(half, base - lo, hi - base))
    return Dist(kind="triangular", low=base - h, mode=base, high=base + h)


def default_distributions(inp: TcoInputs) -> dict[str, Dist]:
    """The centred judgement defaults of the module docstring, about ``inp``."""
    h = HALF_WIDTH
    return {
        "gpu_price_multiplier": _centred(1.0, h["gpu_price_multiplier"], 0.0),
        "cloud_price_multiplier": _centred(1.0, h["cloud_price_multiplier"], 0.0),
        "cloud_price_change_per_year": _centred(inp.rent_price_change_per_year,
                                                h["cloud_price_change_per_year"], -0.99),
        "energy_price_multiplier": _centred(1.0, h["energy_price_multiplier"], 0.0),
        "utilisation": _centred(inp.utilisation, h["utilisation"],
                                min(MIN_SAMPLED_UTILISATION, inp.utilisation), 1.0),
        "useful_life_years": _centred(inp.useful_life_years, h["useful_life_years"],
                                      min(MIN_SAMPLED_LIFE_YEARS, inp.useful_life_years)),
        "interest_rate_shift": _centred(0.0, h["interest_rate_shift"]),
        "failure_rate_per_year": _centred(inp.failure_rate_per_year,
                                          h["failure_rate_per_year"], 0.0, 1.0),
        "demand_multiplier": _centred(1.0, inp.demand_gpu_hours_error, 0.0),
        "refinancing_rate_shift": _refinancing(inp),
    }


def _refinancing(inp: TcoInputs) -> Dist:
    """Refinancing risk at the end of the loan's base term: triangular(0, 0, m_r - m), from the
    agreed extension (mode) to refinancing the balance at ``refinancing_margin`` m_r (one-sided:
    the extension is the borrower's option at the agreed margin m, lost if lenders refuse)."""
    ln = inp.loan
    if ln is None or not ln.extend or ln.extension_years <= 0 or \
            inp.refinancing_margin is None or inp.loan_margin is None:
        return Dist(kind="fixed", value=0.0)
    h = max(inp.refinancing_margin - inp.loan_margin, 0.0)
    return Dist(kind="triangular", low=0.0, mode=0.0, high=h)


def rank_correlate(x: np.ndarray, y: np.ndarray, rho: float, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Reorder ``x`` and ``y`` so their ranks follow a bivariate normal of correlation ``rho``.

    Parameters
    ----------
    x, y : numpy.ndarray (n,)
        Independent draws of two inputs [their units]; their marginals are kept exactly.
    rho : float
        Correlation of the normal scores [dimensionless], -1 ... 1.
    rng : numpy.random.Generator
        Source of the normal scores.

    Notes
    -----
    Iman and Conover (1982): draw :math:`z_1, z_2 = \rho z_1 + \\sqrt{1-\rho^2} e`; give
    ``x`` the ranks of :math:`z_1` and ``y`` those of :math:`z_2`.
    """
    n = x.size
    z1 = rng.standard_normal(n)
    z2 = rho * z1 + np.sqrt(1.0 - rho * rho) * rng.standard_normal(n)
    xs, ys = np.sort(x), np.sort(y)
    ox, oy = np.empty(n), np.empty(n)
    ox[np.argsort(z1)] = xs
    oy[np.argsort(z2)] = ys
    return ox, oy


def chunk_samples(months: int) -> int:
    """Samples per chunk so that one chunk's working arrays stay near
    :data:`CHUNK_BUDGET_BYTES` [count] for a model of ``months`` + 1 months."""
    per = (months + 1) * ARRAYS_PER_SAMPLE_MONTH * 8
    return max(1, CHUNK_BUDGET_BYTES // per)


def risk_memory_bytes(n_samples: int, months: int) -> int:
    r"""Peak memory a risk run needs [bytes]: what is kept per sample plus one chunk.

    Notes
    -----
    :math:`B = 32 n + \min(n, n_c) (T + 1) \cdot 24 \cdot 8` with :math:`n_c` =
    :func:`chunk_samples`.
    """
    c = min(n_samples, chunk_samples(months))
    return n_samples * BYTES_PER_SAMPLE_KEPT + c * (months + 1) * ARRAYS_PER_SAMPLE_MONTH * 8


def _draw(dists: Mapping[str, Dist], rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """``n`` clipped draws of every input, the life and rent change rank-correlated."""
    out = {k: _clip(k, dists[k].sample(rng, n)) for k in SCALES}
    out["useful_life_years"], out["cloud_price_change_per_year"] = rank_correlate(
        out["useful_life_years"], out["cloud_price_change_per_year"],
        LIFE_RENT_RANK_CORRELATION, rng)
    return out


def _clip(name: str, x: np.ndarray) -> np.ndarray:
    lo, hi = CLIP[name]
    out: np.ndarray = np.clip(x, lo, hi)
    return out


def _pct(x: np.ndarray) -> dict[str, float]:
    q = np.percentile(x, PERCENTILES)
    out = {f"p{p}": float(v) for p, v in zip(PERCENTILES, q)}
    out["mean"] = float(x.mean())
    out["std"] = float(x.std())
    return out


#: Where :func:`risk` reports samples done when no ``progress`` is passed: callers that run it
#: deep inside the pipeline (the web app's plan workers) set it around the plan.
SAMPLE_PROGRESS: ContextVar[Callable[[int, int], None] | None] = ContextVar(
    "gpuplan_sample_progress", default=None)


def risk(inputs: TcoInputs | TcoResult, n_samples: int = 100_000, seed: int = 0,
         distributions: Mapping[str, Dist | Mapping[str, Any]] | None = None,
         progress: Callable[[int, int], None] | None = None) -> RiskResult:
    """Monte Carlo of NPV(own - rent) over uncertain inputs.

    Parameters
    ----------
    inputs : TcoInputs or TcoResult
        The baseline (``gpuplan.money.tco(...)`` or its ``inputs``).
    n_samples : int
        Draws [count].
    seed : int
        Seed of ``numpy.random.default_rng``: the same seed gives the same result.
    distributions : dict, optional
        Input name -> :class:`Dist` (or its dict); replaces the default for that input.
        ``{"name": {"kind": "fixed", "value": ...}}`` pins an input.
    progress : callable, optional
        Called as ``progress(samples_done, n_samples)`` [count, count] after each chunk of
        samples; default :data:`SAMPLE_PROGRESS`'s value, if set.

    Returns
    -------
    RiskResult
        Percentiles of NPV(own - rent) [USD] (positive = owning cheaper), P(NPV > 0), and the
        tornado sorted by swing.
    """
    inp = inputs.inputs if isinstance(inputs, TcoResult) else inputs
    if not isinstance(inp, TcoInputs):
        raise UserError("inputs: risk needs the inputs of a TCO (gpuplan.money.tco(...))",
                        field="inputs")
    n = check_whole("n_samples", n_samples, MAX_SAMPLES)
    check_whole("seed", seed, MAX_SEED, lo=0)
    dists = default_distributions(inp)
    for k, v in (distributions or {}).items():
        if k not in SCALES:
            raise UserError(f"distributions: unknown risk input {k!r}; accepted: "
                            f"{', '.join(SCALES)}", field="distributions")
        try:
            dists[k] = v if isinstance(v, Dist) else Dist.model_validate(v)
        except (TypeError, ValueError) as e:
            raise UserError(f"distributions: distribution of {k}: {e}".splitlines()[0],
                            field="distributions") from None
    T = inp.construction_months + inp.months
    chunk = chunk_samples(T)
    streams = np.random.SeedSequence(seed).spawn((n + chunk - 1) // chunk)
    npv, own, rent = np.empty(n), np.empty(n), np.empty(n)
    kept: dict[str, np.ndarray] = {}
    for i, ss in enumerate(streams):
        a, b = i * chunk, min(n, (i + 1) * chunk)
        draws = _draw(dists, np.random.default_rng(ss), b - a)
        sim = simulate(inp, detail=False, **draws)
        npv[a:b], own[a:b], rent[a:b] = sim.npv_usd, sim.own_npv_usd, sim.rent_npv_usd
        if i == 0:
            kept = {k: v[:TORNADO_SAMPLES] for k, v in draws.items()}
        report = progress or SAMPLE_PROGRESS.get()
        if report is not None:
            report(b, n)
    base = float(simulate(inp, detail=False).npv_usd[0])
    tornado: list[TornadoRow] = []
    for k in SCALES:
        lo, hi = np.quantile(kept[k], TORNADO_QUANTILES)
        s = simulate(inp, detail=False, **{k: np.array([lo, hi])}).npv_usd
        tornado.append(TornadoRow(input=k, scale=SCALES[k], low_value=float(lo),
                                  high_value=float(hi), npv_low_usd=float(s[0]),
                                  npv_high_usd=float(s[1]), swing_usd=float(abs(s[1] - s[0]))))
    tornado.sort(key=lambda r: -r["swing_usd"])
    notes = ["npv_usd = NPV(own - rent) at the discount rate; positive means owning costs less",
             "tornado: each input at its 10th and 90th percentile, the others at the baseline",
             f"useful life and rent price change drawn with rank correlation "
             f"{LIFE_RENT_RANK_CORRELATION} (faster obsolescence lowers rent too)"]
    if inp.rent_term != "on_demand":
        notes.append(f"rent term {inp.rent_term}: every contracted hour is paid, so utilisation "
                     f"does not change the NPV")
    return RiskResult(n_samples=int(n_samples), seed=int(seed), baseline_npv_usd=base,
                      npv_usd=_pct(npv), own_npv_cost_usd=_pct(-own),
                      rent_npv_cost_usd=_pct(-rent),
                      probability_own_wins=float((npv > 0).mean()), tornado=tornado,
                      distributions=dists, notes=notes)
