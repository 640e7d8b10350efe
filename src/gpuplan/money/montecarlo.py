"""Risk: Monte Carlo over uncertain inputs of the own-vs-rent cash flows, and a tornado chart.

Each uncertain input gets a distribution (user-set, or the defaults below, which are
judgements anchored on the ranges in the catalog facts). ``n_samples`` draws run through the
same vectorised cash-flow model as ``gpuplan tco`` (:func:`gpuplan.money.cashflows.simulate`)
in one pass of array arithmetic; a fixed ``seed`` makes the run reproducible. The tornado moves one
input at a time to its 10th and 90th percentile with the others at the baseline.

Inputs (``multiplier`` = factor on the baseline value; ``absolute`` = the value itself, or for
``interest_rate_shift`` a shift added to the discount rate and the loan base rate):

====================================  ==========  =========================================
input                                 scale       default distribution (judgement)
====================================  ==========  =========================================
gpu_price_multiplier                  multiplier  triangular(0.85, 1, 1.30)
cloud_price_multiplier                multiplier  triangular(0.60, 1, 1.30)
cloud_price_change_per_year           absolute    triangular(-0.30, base, base + 0.10)
energy_price_multiplier               multiplier  triangular(0.80, 1, 1.50)
utilisation                           absolute    triangular(base - 0.2, base, base + 0.15)
useful_life_years                     absolute    triangular(2, base, max(6, base))
interest_rate_shift                   absolute    triangular(-0.01, 0, 0.02)
failure_rate_per_year                 absolute    triangular(0, base, base + 0.03)
====================================  ==========  =========================================

Anchors: H100 street/list prices 25-36k (2023-2025); H100 rentals fell ~45 % in 2025 and rose
~40 % by Mar 2026; US state industrial electricity 6-19 c/kWh; depreciation lives 2-3 years
(critics) to 6 (hyperscalers); SOFR 3.95-4.45 % in 2025 (shared/facts catalog_notes.md 2, 6-8).
"""

from __future__ import annotations

from collections.abc import Mapping
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
    "useful_life_years": "absolute", "utilisation": "absolute"}
PERCENTILES = (5, 10, 25, 50, 75, 90, 95)
TORNADO_QUANTILES = (0.10, 0.90)
MAX_SAMPLES = 10_000_000
#: Largest seed accepted (numpy's SeedSequence takes any non-negative integer).
MAX_SEED = 2**63 - 1
#: Bounds a sampled value is clipped to (physical limits, not distribution choices).
CLIP: dict[str, tuple[float | None, float | None]] = {
    "utilisation": (1e-3, 1.0), "useful_life_years": (0.25, 30.0),
    "failure_rate_per_year": (0.0, 1.0), "cloud_price_change_per_year": (-0.99, 10.0),
    "gpu_price_multiplier": (0.0, None), "cloud_price_multiplier": (1e-6, None),
    "energy_price_multiplier": (0.0, None), "interest_rate_shift": (-0.5, 1.0)}
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


def default_distributions(inp: TcoInputs) -> dict[str, Dist]:
    """The judgement defaults of the module docstring, centred on ``inp``."""
    u = inp.utilisation
    life = inp.useful_life_years
    g = inp.rent_price_change_per_year
    f = inp.failure_rate_per_year
    T = "triangular"
    return {
        "gpu_price_multiplier": Dist(kind=T, low=0.85, mode=1.0, high=1.30),
        "cloud_price_multiplier": Dist(kind=T, low=0.60, mode=1.0, high=1.30),
        "cloud_price_change_per_year": Dist(kind=T, low=min(-0.30, g), mode=g, high=g + 0.10),
        "energy_price_multiplier": Dist(kind=T, low=0.80, mode=1.0, high=1.50),
        "utilisation": Dist(kind=T, low=min(max(MIN_SAMPLED_UTILISATION, u - 0.2), u), mode=u,
                            high=min(1.0, u + 0.15)),
        "useful_life_years": Dist(kind=T, low=min(2.0, life), mode=life, high=max(6.0, life)),
        "interest_rate_shift": Dist(kind=T, low=-0.01, mode=0.0, high=0.02),
        "failure_rate_per_year": Dist(kind=T, low=0.0, mode=f, high=min(1.0, f + 0.03)),
    }


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


def risk(inputs: TcoInputs | TcoResult, n_samples: int = 100_000, seed: int = 0,
         distributions: Mapping[str, Dist | Mapping[str, Any]] | None = None) -> RiskResult:
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
    rng = np.random.default_rng(seed)
    samples = {k: _clip(k, dists[k].sample(rng, n)) for k in SCALES}
    sim = simulate(inp, detail=False, **samples)
    npv = sim.npv_usd
    base = float(simulate(inp, detail=False).npv_usd[0])
    tornado: list[TornadoRow] = []
    for k in SCALES:
        lo, hi = np.quantile(samples[k], TORNADO_QUANTILES)
        s = simulate(inp, detail=False, **{k: np.array([lo, hi])}).npv_usd
        tornado.append(TornadoRow(input=k, scale=SCALES[k], low_value=float(lo),
                                  high_value=float(hi), npv_low_usd=float(s[0]),
                                  npv_high_usd=float(s[1]), swing_usd=float(abs(s[1] - s[0]))))
    tornado.sort(key=lambda r: -r["swing_usd"])
    notes = ["npv_usd = NPV(own - rent) at the discount rate; positive means owning costs less",
             "tornado: each input at its 10th and 90th percentile, the others at the baseline"]
    if inp.rent_term != "on_demand":
        notes.append(f"rent term {inp.rent_term}: every contracted hour is paid, so utilisation "
                     f"does not change the NPV")
    return RiskResult(n_samples=int(n_samples), seed=int(seed), baseline_npv_usd=base,
                      npv_usd=_pct(npv), own_npv_cost_usd=_pct(-sim.own_npv_usd),
                      rent_npv_cost_usd=_pct(-sim.rent_npv_usd),
                      probability_own_wins=float((npv > 0).mean()), tornado=tornado,
                      distributions=dists, notes=notes)
