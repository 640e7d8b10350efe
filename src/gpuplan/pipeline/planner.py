"""The one pipeline: scenario → demand → cluster → money, for every hardware option.

:func:`plan` is what `gpuplan plan SCENARIO.yaml`, the web app and the report call. Each stage is
a pure function of the one before plus the catalog; nothing here computes a formula itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

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
from gpuplan.money.types import CostPerGpuHour, OwnSummary, RentSummary
from gpuplan.pipeline.scenario import HardwareOption, Scenario, ServeWorkload
from gpuplan.pipeline.workloads import OptionDemand, WorkloadDemand, demand
from gpuplan.units import SECONDS_PER_YEAR, TOKENS_PER_MILLION, USD_PER_MUSD, W_PER_MW

#: Lowest utilisation an owned cluster is priced at [fraction] (a cluster nobody uses would
#: make every owned GPU-hour infinitely dear).
MIN_UTILISATION = 1e-3


class HostedApiCost(BaseModel):
    """Buying the serving workloads' tokens from a hosted API instead [USD]."""

    model_config = ConfigDict(extra="forbid")
    usd_per_year: list[float]
    npv_cost_usd: float
    total_usd: float


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


def _label(o: HardwareOption) -> str:
    return o.label or (f"{o.gpu} ({o.system})" if o.system else o.gpu)


def plan_option(scenario: Scenario, option: HardwareOption, cat: Catalog,
                base_dir: Path | None = None) -> OptionResult:
    """Demand, cluster and money for one hardware option."""
    from gpuplan.cluster import build_cluster

    check_purchase_allowed(option.gpu, scenario.region, cat)
    d = demand(scenario, option, cat, base_dir)
    cluster = build_cluster(option.gpu, d.gpus, system=option.system, catalog=cat)
    loan = scenario.financing.loan if scenario.financing.mode == "loan" else None
    if scenario.financing.mode == "loan" and loan is None:
        from gpuplan.money import LoanTerms

        loan = LoanTerms()
    cloud = scenario.cloud.price_usd_per_gpu_hour or scenario.cloud.provider
    u = owned_utilisation(d.utilisation, scenario.utilisation_target, scenario.backfill)

    def priced(term: str | None) -> TcoResult:
        return tco(option.gpu, cluster.gpus, system=cluster.system, region=scenario.region,
                   years=scenario.horizon_years, utilisation=u, loan=loan, cloud=cloud,
                   term=term, discount_rate=scenario.discount_rate, facility=scenario.facility,
                   residual=scenario.residual,
                   corporate_tax_rate="region" if scenario.corporate_tax == "region" else None,
                   rent_price_change_per_year=scenario.cloud.price_change_per_year, catalog=cat,
                   cluster=cluster)

    fixed = scenario.cloud.term is not None or scenario.cloud.price_usd_per_gpu_hour is not None
    t = priced(scenario.cloud.term) if fixed else \
        cheapest_rent(priced, published_terms(option.gpu, cloud, cat))
    dists: dict[str, Dist | dict[str, Any]] = dict(scenario.risk.distributions)
    r = risk(t, n_samples=scenario.risk.samples, seed=scenario.risk.seed,
             distributions=dists or None)
    api = _hosted_api(scenario)
    return OptionResult(
        label=_label(option), gpu=option.gpu, system=cluster.system, demand=d,
        cluster=cluster, tco=t, risk=r,
        npv_usd=t.npv_usd, breakeven_months=t.breakeven_months,
        probability_own_wins=r.probability_own_wins,
        capex_usd_total=float(t.capex_usd["total"]),
        opex_usd_per_year_total=float(t.opex_usd_per_year["total"]),
        facility_power_w=cluster.power_w.facility, gpus=cluster.gpus,
        utilisation=u, utilisation_without_backfill=d.utilisation, backfill=scenario.backfill,
        breakeven_utilisation=t.breakeven_utilisation,
        breakeven_rent_usd_per_gpu_hour=t.breakeven_rent_usd_per_gpu_hour,
        breakeven_rent_change_per_year=t.breakeven_rent_change_per_year,
        financing_npv_usd=t.financing_npv_usd,
        cost_usd_per_gpu_hour=t.cost_usd_per_gpu_hour, hosted_api=api)


def published_terms(gpu: str, cloud: str | float | None, cat: Catalog) -> list[str]:
    """The rental terms the clouds entry compared with publishes a price for (on demand first)."""
    from gpuplan.money.cloud import TERMS, default_cloud

    entry = default_cloud(gpu, cat) if cloud is None else \
        cat.entry("clouds", str(cloud), "cloud")
    if entry is None:
        return ["on_demand"]
    return [t for t in TERMS if entry.price(t) is not None]


def cheapest_rent(priced: Callable[[str | None], TcoResult], terms: list[str]) -> TcoResult:
    """The TCO whose rent side costs least in present value over the feasible ``terms``.

    Parameters
    ----------
    priced : callable
        Term -> the TCO with the rent priced on that term (the own side is the same).
    terms : list of str
        Terms to try; one refused for the fleet (on demand beyond the entry's
        ``max_on_demand_gpus``) is left out and said in the notes.

    Raises
    ------
    UserError
        When no term can rent the fleet: the first refusal (it names the binding constraint).
    """
    results: list[TcoResult] = []
    refused: list[str] = []
    first: UserError | None = None
    for term in terms:
        try:
            results.append(priced(term))
        except UserError as e:
            if e.field != "term":
                raise
            first = first or e
            refused.append(str(e))
    if not results:
        if first is None:
            raise UserError("cloud: no rental term to compare with", field="cloud")
        raise first
    best = min(results, key=lambda r: r.rent["npv_cost_usd"])
    others = ", ".join(f"{r.rent['term']} {r.rent['npv_cost_usd'] / USD_PER_MUSD:,.1f}M"
                       for r in results if r is not best)
    best.notes.append(f"rent: {best.rent['term']} is the cheapest feasible term for the fleet "
                      f"(NPV of renting {best.rent['npv_cost_usd'] / USD_PER_MUSD:,.1f}M USD"
                      + (f"; {others}" if others else "") + ")")
    best.notes.extend(f"rent: left out: {r}" for r in refused)
    return best


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


def _driver(r: OptionResult) -> str:
    """The clause of the recommendation that names what decides it."""
    parts = [f"; owned fleet busy {r.utilisation:.0%} (backfilled to target, "
             f"{r.utilisation_without_backfill:.0%} without)" if r.backfill == "to_target"
             else f"; owned fleet busy {r.utilisation:.0%} (idle capacity not backfilled)"]
    if r.breakeven_rent_usd_per_gpu_hour is not None:
        parts.append(f"owning wins while rent stays above "
                     f"${r.breakeven_rent_usd_per_gpu_hour:,.2f}/GPU-hour (now "
                     f"${r.tco.rent['price_usd_per_gpu_hour']:,.2f})")
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

    The best option is the one with the highest ``npv_usd`` (the present value of renting minus
    owning: positive means owning is cheaper). If that NPV is positive the advice is to own it;
    otherwise no option beats renting and the advice is to rent, naming the best option as the
    least bad to own. The sentence names the driver (the input whose 10th-90th percentile moves
    the NPV most in the tornado) and the break-even rent price.
    """
    cat = catalog or load_catalog()
    results: list[OptionResult] = []
    notes: list[str] = []
    for o in scenario.hardware_options:
        if progress:
            progress(f"{_label(o)}: demand, cluster, money")
        try:
            results.append(plan_option(scenario, o, cat, base_dir))
        except UserError as e:
            notes.append(f"{_label(o)} left out: {e}")
    if not results:
        raise UserError("no hardware option could be planned: " + "; ".join(notes))
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
        breakeven_months=best.breakeven_months, risk=best.risk, options=results, notes=notes)
