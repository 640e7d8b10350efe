"""The one pipeline: scenario → demand → cluster → money, for every hardware option.

:func:`plan` is what `gpuplan plan SCENARIO.yaml`, the web app and the report call. Each stage is
a pure function of the one before plus the catalog; nothing here computes a formula itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_serializer,
)

from gpuplan.catalog import Catalog, load_catalog
from gpuplan.cluster import ClusterResult
from gpuplan.errors import UserError
from gpuplan.money import Dist, RiskResult, TcoResult, check_purchase_allowed, npv, risk, tco
from gpuplan.money._catalog import cost
from gpuplan.money.finance import LoanTerms
from gpuplan.money.rentmix import TierOffer
from gpuplan.money.types import CostPerGpuHour, OwnSummary, RentSummary, RentTerm, RentTier
from gpuplan.pipeline.scenario import HardwareOption, Scenario, ServeWorkload
from gpuplan.pipeline.workloads import DemandProfile, OptionDemand, WorkloadDemand, demand
from gpuplan.units import (
    BYTES_PER_TB,
    HOURS_PER_MONTH,
    MONTHS_PER_YEAR,
    SECONDS_PER_YEAR,
    TOKENS_PER_MILLION,
    USD_PER_MUSD,
    W_PER_MW,
)

#: Catalog ``costs`` id of the demand model's GPU-hour validation error (Monte Carlo width).
DEMAND_ERROR_ID = "demand-gpu-hours-error"
#: Catalog ``costs`` id of the margin a refused extension is refinanced at (GPU-backed debt).
REFINANCING_MARGIN_ID = "margin-gpu-backed"
#: Catalog ``costs`` id of the facility's lead time (construction months when built).
LEAD_TIME_ID = "facility-lead-time"
#: Lowest utilisation an owned cluster is priced at [fraction] (a cluster nobody uses would
#: make every owned GPU-hour infinitely dear).
MIN_UTILISATION = 1e-3


class HostedApiCost(BaseModel):
    """Buying the serving workloads' tokens from a hosted API instead [USD]."""

    model_config = ConfigDict(extra="forbid")
    usd_per_year: list[float]
    npv_cost_usd: float
    total_usd: float


class MonthlyRows(BaseModel):
    """Each operating month of the profile split between the owned fleet and rent."""

    model_config = ConfigDict(extra="forbid")
    owned_gpu_hours: list[float] = Field(description="workload hours on the owned fleet")
    backfill_gpu_hours: list[float] = Field(description="backfill hours on the owned fleet")
    overflow_gpu_hours: list[float] = Field(description="hours the owner rents beyond it")
    rented_gpu_hours: list[float] = Field(description="hours the rent side rents")
    rent_peak_gpus: list[int] = Field(description="GPUs the rent side needs at once")
    owned_capacity_gpu_hours: float = Field(description="owned GPUs x hours of a month")
    owned_gpus: list[int] = Field(default_factory=list,
                                  description="GPUs the owner can run in each month (0 while "
                                              "the facility is built) [count]")
    operating_from_month: int = Field(default=1, description="first month the owned fleet runs")


class OptionResult(BaseModel):
    """One hardware option, end to end."""

    model_config = ConfigDict(extra="forbid")
    label: str
    gpu: str
    system: str
    demand: OptionDemand
    cluster: ClusterResult
    tco: TcoResult
    risk: RiskResult
    npv_usd: float
    breakeven_months: int | None
    probability_own_wins: float
    capex_usd_total: float
    opex_usd_per_year_total: float
    facility_power_w: float
    gpus: int
    utilisation: float = Field(description="busy share of the owned fleet after backfill, the "
                                           "utilisation both sides are costed at [fraction]")
    utilisation_without_backfill: float = Field(
        description="the workloads' GPU-hours / the owned fleet's GPU-hours [fraction]")
    backfill: str
    breakeven_utilisation: float | None
    breakeven_rent_usd_per_gpu_hour: float | None
    breakeven_rent_change_per_year: float | None
    financing_npv_usd: float
    cost_usd_per_gpu_hour: CostPerGpuHour
    hosted_api: HostedApiCost | None = None
    fleet: FleetChoice | None = None
    rent_mix_reason: str = ""
    own_burst: list[RentTier] = Field(default_factory=list,
                                      description="what the owner rents beyond the fleet")
    monthly: MonthlyRows | None = None

    @field_serializer("tco", mode="wrap")
    def _tco_without_inputs(self, tco: TcoResult,
                            handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The TCO as ``gpuplan tco --json`` less ``inputs`` (the plan holds the scenario)."""
        out: dict[str, Any] = handler(tco)
        out.pop("inputs", None)
        return out


class PlanResult(BaseModel):
    """`gpuplan plan --json`: the recommended option's figures at the top, every option below."""

    model_config = ConfigDict(extra="forbid")
    scenario: str
    horizon_years: float
    region: str
    recommendation: str
    best_option: str
    workloads: list[WorkloadDemand]
    cluster: ClusterResult
    own: OwnSummary
    rent: RentSummary
    npv_usd: float
    breakeven_months: int | None
    risk: RiskResult
    options: list[OptionResult]
    notes: list[str]
    demand_profile: DemandProfile | None = Field(
        default=None, description="the recommended option's monthly demand")
    fleet: FleetChoice | None = Field(default=None, description="how the owned fleet was sized")
    rent_mix_reason: str = ""
    utilisation: float | None = Field(default=None, description="owned fleet, after backfill")
    utilisation_without_backfill: float | None = None
    irr: float | None = None
    breakeven_utilisation: float | None = None
    breakeven_rent_usd_per_gpu_hour: float | None = None
    probability_own_wins: float | None = None


def _label(o: HardwareOption) -> str:
    return o.label or (f"{o.gpu} ({o.system})" if o.system else o.gpu)


class FleetChoice(BaseModel):
    """How the owned fleet was sized from the demand profile."""

    model_config = ConfigDict(extra="forbid")
    size: str = Field(description="the scenario's rule: peak, percentile or budget")
    gpus: int = Field(description="owned GPUs (whole servers) [count]")
    peak_gpus: int = Field(description="most GPUs the profile needs at once [count]")
    reason: str


@dataclass(frozen=True)
class _Split:
    """The profile split between the owned fleet, its backfill and what is rented [GPU-hours]."""

    owned: np.ndarray          # (M,) hours the workloads use on the owned fleet
    backfill: np.ndarray       # (M,) backfill hours on the owned fleet
    overflow: np.ndarray       # (M,) hours the owner rents beyond the fleet
    overflow_peak: np.ndarray  # (M,) GPUs rented at once beyond the fleet
    rent: np.ndarray           # (M,) workload hours the rent side rents (backfill apart)
    rent_peak: np.ndarray      # (M,) GPUs the rent side needs at once
    rent_flat: np.ndarray      # (M,) GPUs held all month by always-on workloads


def _profile_arrays(d: OptionDemand) -> tuple[np.ndarray, np.ndarray]:
    """Per-workload GPU-hours and peak GPUs, (k, M) each."""
    prof = d.profile
    if prof is None:
        raise ValueError("demand without a profile")
    return (np.array([w.gpu_hours_per_month for w in prof.workloads], dtype=float),
            np.array([w.peak_gpus_per_month for w in prof.workloads], dtype=float))


def size_fleet(scenario: Scenario, option: HardwareOption, d: OptionDemand, cat: Catalog
               ) -> FleetChoice:
    """The owned fleet [GPUs] by the scenario's ``fleet.size`` rule, and why."""
    from gpuplan.money.profile import percentile_fleet

    hours, _ = _profile_arrays(d)
    prof = d.profile
    peak = max(prof.peak_gpus_per_month) if prof else d.gpus
    f = scenario.fleet
    if f.size == "peak":
        return FleetChoice(size="peak", gpus=max(peak, 1), peak_gpus=peak,
                           reason=f"sized to the peak: {peak:,} GPUs needed at once (always-on "
                                  f"serving in the last year + the widest training run); "
                                  f"nothing is rented beyond it")
    if f.size == "percentile":
        n = max(int(percentile_fleet(hours.sum(axis=0), f.percentile)), 1)
        return FleetChoice(size="percentile", gpus=n, peak_gpus=peak,
                           reason=f"sized to the monthly mean busy GPUs of {f.percentile:.0%} of "
                                  f"the months ({n:,} GPUs, peak {peak:,}): own the base, rent "
                                  f"the peaks")
    if f.budget_usd is None:
        raise UserError("fleet.budget_usd: give the capital to spend with fleet size 'budget'",
                        field="fleet.budget_usd")
    from gpuplan.pipeline.buying import budget

    b = budget(f.budget_usd, option.gpu, region=scenario.region, system=option.system,
               years=scenario.horizon_years, facility=scenario.facility, catalog=cat)
    if peak > b.gpus:
        raise UserError(f"fleet.budget_usd: {f.budget_usd / USD_PER_MUSD:,.0f}M USD buys "
                        f"{b.gpus:,} {option.gpu} but the workloads need {peak:,} at once: the "
                        f"budget is the binding constraint (raise it, or size the fleet to the "
                        f"peak or a percentile and rent the rest)", field="fleet.budget_usd")
    return FleetChoice(size="budget", gpus=b.gpus, peak_gpus=peak,
                       reason=f"what {f.budget_usd / USD_PER_MUSD:,.0f}M USD buys (gpuplan "
                              f"budget): {b.gpus:,} GPUs, "
                              f"{b.facility_power_w / W_PER_MW:,.1f} MW; the profile needs "
                              f"{peak:,} at once")


def split_demand(d: OptionDemand, fleet_gpus: int, target: float, backfill: str) -> _Split:
    """Owned, backfilled, overflow and rented hours of each month for ``fleet_gpus`` owned.

    The owned fleet serves the workloads that fit it (:func:`gpuplan.money.profile.
    split_profile`); with ``backfill == "to_target"`` idle owned hours are filled up to
    ``target`` each month (:func:`gpuplan.money.profile.backfill_hours`) and the rent side
    rents those hours too, so both sides serve the same GPU-hours.
    """
    from gpuplan.money.profile import backfill_hours, split_profile

    hours, peak = _profile_arrays(d)
    owned, over = split_profile(hours, peak, fleet_gpus)
    owned_m = owned.sum(axis=0)
    fill = backfill_hours(owned_m, fleet_gpus, target) if backfill == "to_target" else \
        np.zeros_like(owned_m)
    fits = peak <= fleet_gpus
    over_peak = np.where(fits, np.ceil(over / HOURS_PER_MONTH - 1e-9), peak).sum(axis=0)
    over_peak = np.where(over.sum(axis=0) > 0, over_peak, 0.0)
    total = hours.sum(axis=0)
    prof_peak = np.asarray(d.profile.peak_gpus_per_month if d.profile else [d.gpus], dtype=float)
    always = np.array([w.always_on for w in d.workloads])
    flat = hours[always].sum(axis=0) / HOURS_PER_MONTH if always.any() else np.zeros_like(total)
    return _Split(owned=owned_m, backfill=fill, overflow=over.sum(axis=0),
                  overflow_peak=over_peak, rent=total, rent_peak=prof_peak, rent_flat=flat)


def rent_offers(scenario: Scenario, gpu: str, cat: Catalog
                ) -> tuple[list[TierOffer], float | None, str]:
    """The rental terms to mix (the scenario's term only, when it fixes one), the obtainable
    on-demand fleet [GPUs] and the offering's id."""
    from gpuplan.money.cloud import TERMS, default_cloud

    c = scenario.cloud
    if c.price_usd_per_gpu_hour is not None:
        return [TierOffer(c.term or "on_demand", c.price_usd_per_gpu_hour, "user input",
                          None)], None, "user"
    entry = default_cloud(gpu, cat) if c.provider is None else \
        cat.entry("clouds", c.provider, "cloud")
    if entry is None:
        raise UserError(f"cloud: the catalog has no rental price for {gpu}; give one [USD per "
                        f"GPU-hour] or overlay a clouds entry", field="cloud")
    offers = []
    for t in TERMS:
        pr = entry.price(t)
        if pr is not None and (c.term is None or c.term == t):
            offers.append(TierOffer(cast(RentTerm, t), pr.value, " ".join(pr.source.split()),
                                    pr.as_of))
    if not offers:
        raise UserError(f"cloud.term: {entry.id} publishes no {c.term} price", field="term")
    cap = entry.max_on_demand_gpus
    return offers, None if cap is None else cap.value, entry.id


def construction_months(scenario: Scenario, cat: Catalog) -> int:
    """Months before the owned fleet runs [months]: the scenario's, else the catalog's facility
    lead time (``costs/facility-lead-time``) when the facility is built, 0 in colocation."""
    c = scenario.delivery.construction_months
    if c is not None:
        return c
    if scenario.facility != "build":
        return 0
    return int(round(cost(cat, LEAD_TIME_ID).value * MONTHS_PER_YEAR))


def _loan(scenario: Scenario) -> LoanTerms | None:
    """The scenario's loan terms (the defaults when ``mode: loan`` gives none); None in cash."""
    if scenario.financing.mode != "loan":
        return None
    return scenario.financing.loan or LoanTerms()


def plan_option(scenario: Scenario, option: HardwareOption, cat: Catalog,
                base_dir: Path | None = None, fleet: FleetChoice | None = None,
                d: OptionDemand | None = None) -> OptionResult:
    """Demand, cluster and money for one hardware option (``fleet``: a sizing decided
    elsewhere, e.g. the hybrid variant; ``d``: its demand, already computed).

    The owned fleet runs from month ``C + 1`` (:func:`construction_months`); the demand of the
    first ``C`` months is rented on both sides (it cancels in the NPV and is shown in
    ``monthly``), so own and rent are priced on the operating months ``C + 1 ... M``.
    """
    from gpuplan.cluster import build_cluster
    from gpuplan.money.rentmix import cheapest_mix

    check_purchase_allowed(option.gpu, scenario.region, cat)
    d = d or demand(scenario, option, cat, base_dir)
    fleet = fleet or size_fleet(scenario, option, d, cat)
    cluster = build_cluster(option.gpu, fleet.gpus, system=option.system, catalog=cat,
                            dataset_bytes=scenario.operations.dataset_tb * BYTES_PER_TB)
    n = int(cluster.gpus)
    fleet = fleet.model_copy(update={"gpus": n})
    sp = split_demand(d, n, scenario.utilisation_target, scenario.backfill)
    c0 = construction_months(scenario, cat)
    if c0 >= sp.owned.size:
        raise UserError(f"delivery.construction_months: {c0} months of construction leave no "
                        f"operating month in the {sp.owned.size}-month horizon",
                        field="delivery.construction_months")
    op = slice(c0, None)
    hours_owned = n * HOURS_PER_MONTH * sp.owned[op].size
    u0 = float(sp.owned[op].sum()) / hours_owned
    u = max(float((sp.owned + sp.backfill)[op].sum()) / hours_owned, MIN_UTILISATION)
    offers, cap, cloud_id = rent_offers(scenario, option.gpu, cat)
    g = scenario.cloud.price_change_per_year
    mix = cheapest_mix(sp.rent[op], sp.rent_peak[op], offers, cap, scenario.discount_rate, g,
                       cloud_id, flat=sp.rent_flat[op], flexible=sp.backfill[op])
    burst = None if sp.overflow[op].sum() <= 0 else cheapest_mix(
        sp.overflow[op], sp.overflow_peak[op], offers, cap, scenario.discount_rate, g, cloud_id)
    t = tco(option.gpu, n, system=cluster.system, region=scenario.region,
            years=(sp.owned.size - c0) / MONTHS_PER_YEAR, utilisation=u, loan=_loan(scenario),
            cloud=scenario.cloud.price_usd_per_gpu_hour or scenario.cloud.provider,
            discount_rate=scenario.discount_rate, facility=scenario.facility,
            residual=scenario.residual, construction_months=c0,
            staff_fte=scenario.operations.staff_fte,
            corporate_tax_rate="region" if scenario.corporate_tax == "region" else None,
            rent_price_change_per_year=g, catalog=cat, cluster=cluster,
            rent_tiers=mix.tiers, own_rent_tiers=burst.tiers if burst else None,
            rent_used_gpu_hours=float((sp.rent + sp.backfill)[op].sum()),
            carbon_usd_per_tco2e=scenario.carbon_usd_per_tco2e)
    t.notes.append(mix.reason)
    if c0:
        t.notes.append(f"delivery: the owned fleet runs from month {c0 + 1}; the "
                       f"{float(sp.rent[:c0].sum()):,.0f} GPU-hours of months 1-{c0} are "
                       f"rented on both sides (they cancel in the NPV)")
    if burst is not None:
        t.notes.append(f"own side: {sp.overflow[op].sum():,.0f} GPU-hours beyond the owned "
                       f"fleet rented; " + burst.reason)
    err = cost(cat, DEMAND_ERROR_ID).value
    refi = cost(cat, REFINANCING_MARGIN_ID).value if t.inputs.loan is not None else None
    t.inputs = t.inputs.model_copy(update={"demand_gpu_hours_error": err,
                                           "refinancing_margin": refi})
    t.notes.append(f"risk: demand GPU-hours drawn within +-{err:.1%} (demand_multiplier; "
                   f"the demand model's validation error, costs/{DEMAND_ERROR_ID})")
    dists: dict[str, Dist | dict[str, Any]] = dict(scenario.risk.distributions)
    r = risk(t.inputs, n_samples=scenario.risk.samples, seed=scenario.risk.seed,
             distributions=dists or None)
    return OptionResult(
        label=_label(option) + ("" if fleet.size == scenario.fleet.size else
                                f", hybrid (own {fleet.gpus:,}, rent the peaks)"),
        gpu=option.gpu, system=cluster.system, demand=d,
        cluster=cluster, tco=t, risk=r,
        npv_usd=t.npv_usd, breakeven_months=t.breakeven_months,
        probability_own_wins=r.probability_own_wins,
        capex_usd_total=float(t.capex_usd["total"]),
        opex_usd_per_year_total=float(t.opex_usd_per_year["total"]),
        facility_power_w=cluster.power_w.facility, gpus=n,
        utilisation=u, utilisation_without_backfill=u0, backfill=scenario.backfill,
        breakeven_utilisation=t.breakeven_utilisation,
        breakeven_rent_usd_per_gpu_hour=t.breakeven_rent_usd_per_gpu_hour,
        breakeven_rent_change_per_year=t.breakeven_rent_change_per_year,
        financing_npv_usd=t.financing_npv_usd,
        cost_usd_per_gpu_hour=t.cost_usd_per_gpu_hour, hosted_api=_hosted_api(scenario),
        fleet=fleet, rent_mix_reason=mix.reason,
        own_burst=[RentTier(term=x.term, gpus=x.gpus,
                            price_usd_per_gpu_hour=x.price_usd_per_gpu_hour, source=x.source)
                   for x in (burst.tiers if burst else [])],
        monthly=_monthly(sp, n, c0))


def _monthly(sp: _Split, fleet_gpus: int, construction: int) -> MonthlyRows:
    """The profile split as JSON rows [GPU-hours per month]; before the fleet runs (months
    1 ... ``construction``) it owns nothing and the owner rents the demand."""
    gap = np.arange(sp.owned.size) < construction
    zero = np.zeros_like(sp.owned)
    return MonthlyRows(owned_gpu_hours=[float(x) for x in np.where(gap, zero, sp.owned)],
                       backfill_gpu_hours=[float(x) for x in np.where(gap, zero, sp.backfill)],
                       overflow_gpu_hours=[float(x) for x in
                                           np.where(gap, sp.rent, sp.overflow)],
                       rented_gpu_hours=[float(x) for x in
                                         np.where(gap, sp.rent, sp.rent + sp.backfill)],
                       rent_peak_gpus=[int(x) for x in sp.rent_peak],
                       owned_capacity_gpu_hours=fleet_gpus * HOURS_PER_MONTH,
                       owned_gpus=[0 if x else fleet_gpus for x in gap],
                       operating_from_month=construction + 1)


def owned_utilisation(demand_utilisation: float, target: float, backfill: str) -> float:
    r"""Busy share of the owned fleet both sides are costed at [fraction].

    Parameters
    ----------
    demand_utilisation : float
        The workloads' GPU-hours / the fleet's GPU-hours [fraction].
    target : float
        The scenario's ``utilisation_target`` [fraction].
    backfill : {"to_target", "none"}
        Whether idle owned hours are backfilled up to the target.

    Notes
    -----
    ``to_target``: :math:`u = \max(u_d, u_t)`; ``none``: :math:`u = u_d`; both at least
    :data:`MIN_UTILISATION`. Backfilled hours are rented on the rent side too, so the two sides
    serve the same GPU-hours.
    """
    u = max(demand_utilisation, target) if backfill == "to_target" else demand_utilisation
    return max(u, MIN_UTILISATION)


def _hybrid(scenario: Scenario, option: HardwareOption, best: OptionResult, cat: Catalog,
            base_dir: Path | None) -> OptionResult | None:
    """The best option owned for its base load only (``fleet.percentile`` of the months) and
    renting the peaks, when the scenario sizes to the peak and asks for the comparison."""
    from gpuplan.money.profile import percentile_fleet

    f = scenario.fleet
    if f.size != "peak" or not f.hybrid or best.demand.profile is None:
        return None
    n = int(percentile_fleet(np.asarray(best.demand.profile.gpu_hours_per_month), f.percentile))
    if n < 1 or n >= best.gpus:
        return None
    choice = FleetChoice(size="percentile", gpus=n, peak_gpus=best.fleet.peak_gpus
                         if best.fleet else best.gpus,
                         reason=f"hybrid: own the monthly mean busy GPUs of {f.percentile:.0%} "
                                f"of the months ({n:,} GPUs), rent the peaks")
    try:
        return plan_option(scenario, option, cat, base_dir, fleet=choice, d=best.demand)
    except UserError:
        return None


def _driver(r: OptionResult) -> str:
    """The clause of the recommendation that names what decides it."""
    parts = [f"; owned fleet busy {r.utilisation:.0%} (backfilled to target, "
             f"{r.utilisation_without_backfill:.0%} without)" if r.backfill == "to_target"
             else f"; owned fleet busy {r.utilisation:.0%} (idle capacity not backfilled)"]
    if r.breakeven_rent_usd_per_gpu_hour is not None:
        parts.append(f"owning wins while rent stays above "
                     f"${r.breakeven_rent_usd_per_gpu_hour:,.2f}/GPU-hour (now "
                     f"${r.tco.rent['price_usd_per_gpu_hour']:,.2f})")
    mix = r.tco.rent["mix"]
    if mix:
        parts.append("renting means " + " + ".join(f"{t['gpus']:,} {t['term']}" for t in mix))
    if r.own_burst:
        parts.append("the owner rents " + " + ".join(f"{t['gpus']:,} {t['term']}"
                                                     for t in r.own_burst) + " for the peaks")
    if r.fleet is not None:
        spare = r.fleet.gpus / max(r.fleet.peak_gpus, 1) - 1.0
        parts.append(f"fleet {r.fleet.size}: {r.fleet.gpus:,} GPUs owned "
                     f"(peak need {r.fleet.peak_gpus:,}"
                     + (f", {spare:.0%} more than the workloads need at once" if spare > 0
                        else "") + ")")
    if r.risk.tornado:
        parts.append(f"the input that moves NPV most is {r.risk.tornado[0]['input']}")
    return "; ".join(parts)


def _hosted_api(scenario: Scenario) -> HostedApiCost | None:
    """Yearly cost and NPV of buying the serving workloads' tokens from a hosted API.

    Tokens per year = rate × (input + output tokens) × seconds per year, growing with traffic;
    price = the scenario's `hosted_api_usd_per_million_tokens` (a user input: API list prices
    change too often for the catalog). Only the serving workloads that give a price count.
    """
    years = max(int(round(scenario.horizon_years)), 1)
    yearly = [0.0] * years
    priced = False
    for w in scenario.workloads:
        if isinstance(w, ServeWorkload) and w.hosted_api_usd_per_million_tokens is not None:
            priced = True
            for y in range(years):
                tokens = w.rate * (1 + w.growth_per_year) ** y \
                    * (w.input_tokens + w.output_tokens) * SECONDS_PER_YEAR
                yearly[y] += tokens / TOKENS_PER_MILLION * w.hosted_api_usd_per_million_tokens
    if not priced:
        return None
    pv = float(npv(scenario.discount_rate, [0.0, *yearly]))
    return HostedApiCost(usd_per_year=yearly, npv_cost_usd=pv, total_usd=float(sum(yearly)))


def plan(scenario: Scenario, *, catalog: Catalog | None = None, base_dir: Path | None = None,
         progress: Callable[[str], None] | None = None) -> PlanResult:
    """Run the pipeline for every hardware option and recommend one.

    Each option is priced on the scenario's monthly demand profile with its fleet sized by
    ``fleet.size``; with ``size: peak`` and ``fleet.hybrid`` the best option is priced once more
    owning only the ``fleet.percentile`` base and renting the peaks, and that variant competes
    like any other option. The best option is the one with the highest ``npv_usd`` (the
    present value of renting minus owning: positive means owning is cheaper). If that NPV is
    positive the advice is to own it; otherwise no option beats renting and the advice is to
    rent, naming the best option as the least bad to own. The sentence names the drivers: the
    utilisation with and without backfill, the break-even rent price, the rent mix, the
    owner's burst, the fleet rule and the input whose 10th-90th percentile moves the NPV most.
    """
    cat = catalog or load_catalog()
    results: list[OptionResult] = []
    notes: list[str] = []
    planned: dict[str, HardwareOption] = {}
    for o in scenario.hardware_options:
        if progress:
            progress(f"{_label(o)}: demand, cluster, money")
        try:
            results.append(plan_option(scenario, o, cat, base_dir))
            planned[results[-1].label] = o
        except UserError as e:
            notes.append(f"{_label(o)} left out: {e}")
    if not results:
        raise UserError("no hardware option could be planned: " + "; ".join(notes))
    best = max(results, key=lambda r: r.npv_usd)
    hybrid = _hybrid(scenario, planned[best.label], best, cat, base_dir)
    if hybrid is not None:
        results.append(hybrid)
        best = max(results, key=lambda r: r.npv_usd)
    if best.npv_usd > 0:
        rec = (f"own {best.label}: {best.gpus:,} GPUs, {best.facility_power_w / W_PER_MW:,.2f} MW; "
               f"owning beats renting by ${best.npv_usd / USD_PER_MUSD:,.1f}M NPV"
               + (f", break-even in month {best.breakeven_months}" if best.breakeven_months
                  else "") + f" (P(own wins) {best.probability_own_wins:.0%})")
    else:
        rec = (f"rent: no option beats renting; the least bad to own is {best.label} "
               f"(NPV {best.npv_usd / USD_PER_MUSD:,.1f}M USD, "
               f"P(own wins) {best.probability_own_wins:.0%})")
    rec += _driver(best)
    return PlanResult(
        scenario=scenario.name, horizon_years=scenario.horizon_years, region=scenario.region,
        recommendation=rec, best_option=best.label,
        workloads=best.demand.workloads, cluster=best.cluster,
        own=best.tco.own, rent=best.tco.rent, npv_usd=best.npv_usd,
        breakeven_months=best.breakeven_months, risk=best.risk, options=results, notes=notes,
        demand_profile=best.demand.profile, fleet=best.fleet, rent_mix_reason=best.rent_mix_reason,
        utilisation=best.utilisation,
        utilisation_without_backfill=best.utilisation_without_backfill,
        irr=best.tco.irr, breakeven_utilisation=best.breakeven_utilisation,
        breakeven_rent_usd_per_gpu_hour=best.breakeven_rent_usd_per_gpu_hour,
        probability_own_wins=best.probability_own_wins)
