"""Budget inversion: what a budget buys once fabric, storage, facility and an OpEx reserve are paid.

The budget is split into an OpEx reserve (``opex_reserve_fraction``) and CapEx. The largest
whole number of servers whose cluster CapEx (servers, fabric, storage, management, spares,
installation and the facility build) fits the CapEx share is found by doubling then bisection
on the server count, pricing each candidate cluster exactly as ``gpuplan tco`` does (CapEx is
not exactly linear in GPUs: fabric tiers and switch counts step).

What it buys is reported as accelerators, servers, racks, facility power, dense peak FLOP/s,
training runs of a catalog model per year and output tokens served per day.
"""

from __future__ import annotations

import math
from typing import Any, cast

from pydantic import BaseModel, ConfigDict

from gpuplan.catalog import Catalog
from gpuplan.catalog.schema_money import RegionModel
from gpuplan.catalog.systems import pick_system
from gpuplan.checks import check_choice
from gpuplan.cluster import ClusterResult, build_cluster, cluster_system
from gpuplan.errors import UserError
from gpuplan.money._catalog import Assumptions, get_catalog
from gpuplan.money.region import PurchaseCheck, check_purchase_allowed, region_entry
from gpuplan.pipeline.priced import FACILITY_MODES, FacilityMode
from gpuplan.units import HOURS_PER_YEAR, SECONDS_PER_DAY

#: Training tokens per parameter when no token count is given (Chinchilla, Hoffmann et al.
#: 2022).
CHINCHILLA_TOKENS_PER_PARAM = 20.0
#: Largest job used to time one training run [GPUs] (Llama 3 405B trained on 16,384 H100).
MAX_RUN_GPUS = 16384
#: Largest budget [USD].
MAX_BUDGET_USD = 1e13
#: Most accelerators a budget is searched up to [1].
MAX_BUDGET_GPUS = 2**24
#: Rent price [USD per GPU-hour] given to the TCO of an accelerator without a catalog rent:
#: the owned figures a budget reports do not depend on it.
PLACEHOLDER_RENT_USD_PER_GPU_HOUR = 1.0


class TrainingRunOut(BaseModel):
    """The training run a budget's cluster is timed on (``training_run`` of budget)."""

    model_config = ConfigDict(extra="forbid")
    model: str
    tokens: float
    gpus: int
    gpu_hours: float
    wall_days: float
    mfu: float
    tokens_rule: str


class BudgetServingOut(BaseModel):
    """The serving rate a budget's cluster is rated at (``serving`` of budget)."""

    model_config = ConfigDict(extra="forbid")
    model: str
    output_tokens_per_s_per_gpu: float
    input_tokens: int
    output_tokens: int
    replica_gpus: int
    utilisation: float


class BudgetResult(BaseModel):
    """Result of :func:`budget`; ``model_dump()`` is ``gpuplan budget --json``."""

    model_config = ConfigDict(extra="forbid")
    budget_usd: float
    gpu: str
    system: str
    region: str
    facility_mode: str
    opex_reserve_fraction: float
    opex_reserve_usd: float
    capex_budget_usd: float
    gpus: int
    nodes: int
    racks: int
    it_power_w: float
    it_max_power_w: float
    facility_power_w: float
    capex_usd: dict[str, float]
    unspent_usd: float
    opex_usd_per_year: dict[str, float]
    opex_reserve_years: float | None
    peak_flops: float
    peak_flops_by_dtype: dict[str, float]
    cost_usd_per_gpu_hour_own: float
    utilisation: float
    training_runs_per_year: float | None
    training_run: TrainingRunOut | None
    tokens_per_day: float | None
    serving: BudgetServingOut | None
    purchase: PurchaseCheck
    carbon_tco2e_per_year: float
    notes: list[str]


def _check_budget(usd: float, opex_reserve_fraction: float) -> None:
    if isinstance(usd, bool) or not isinstance(usd, (int, float)) or not math.isfinite(usd) \
            or usd <= 0 or usd > MAX_BUDGET_USD:
        raise UserError(f"budget must be a positive number of USD up to {MAX_BUDGET_USD:.0e}, "
                        f"got {usd!r}", field="usd")
    if isinstance(opex_reserve_fraction, bool) or not 0 <= opex_reserve_fraction < 1:
        raise UserError(f"opex_reserve_fraction must be in [0, 1), got {opex_reserve_fraction!r}",
                        field="opex_reserve_fraction")


class _ClusterPricer:
    """CapEx [USD] of clusters of whole servers of one accelerator, cached by server count."""

    def __init__(self, gpu: str, system: str | None, cat: Catalog, reg: RegionModel,
                 facility: str, cluster_kwargs: dict[str, Any]) -> None:
        self.gpu, self.system, self.cat, self.reg, self.facility = gpu, system, cat, reg, facility
        self.kw = cluster_kwargs
        self.server, _ = cluster_system(cat, cat.accelerator(gpu), system)
        self.gpus_per_node = int(self.server.accelerators_per_node.value)
        self._cache: dict[int, tuple[float, ClusterResult]] = {}

    def capex(self, nodes: int) -> tuple[float, ClusterResult]:
        """(CapEx [USD], cluster) of ``nodes`` servers, priced as ``gpuplan tco`` does."""
        from gpuplan.money.owning import price_cluster

        if nodes not in self._cache:
            cl = build_cluster(self.gpu, nodes * self.gpus_per_node, system=self.system,
                               catalog=self.cat, **self.kw)
            cap, _, _ = price_cluster(cl, self.cat, self.reg, self.facility, Assumptions(), [])
            self._cache[nodes] = (cap["total"], cl)
        return self._cache[nodes]

    def largest_within(self, capex_budget_usd: float) -> tuple[float, ClusterResult]:
        """The largest cluster whose CapEx fits ``capex_budget_usd`` [USD]: doubling, then
        bisection on the server count (CapEx steps with fabric tiers, so it is not linear)."""
        lo, hi = 1, 2
        while self.capex(hi)[0] <= capex_budget_usd:
            lo, hi = hi, hi * 2
            if hi * self.gpus_per_node > MAX_BUDGET_GPUS:
                raise UserError("the budget buys more than 16.7M accelerators; not modelled",
                                field="usd")
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.capex(mid)[0] <= capex_budget_usd:
                lo = mid
            else:
                hi = mid
        return self.capex(lo)


def budget(usd: float, gpu: str, *, region: str = "us", system: str | None = None,
           years: float = 5, opex_reserve_fraction: float | None = None,
           facility: str = "build", utilisation: float | None = None,
           model_for_runs: str | None = None, run_tokens: float | None = None,
           run_gpus: int | None = None, serve_model: str | None = None,
           as_of: str | None = None, catalog: Catalog | None = None,
           cluster_kwargs: dict[str, Any] | None = None) -> BudgetResult:
    """How many accelerators, servers and MW ``usd`` buys, and what they do per year.

    Parameters
    ----------
    usd : float
        Budget [USD].
    gpu : str
        Accelerator id [—].
    region : str
        ``regions`` id (prices, export rules) [—].
    system : str, optional
        System id; default the cluster builder's choice [—].
    years : float
        Years of operation the OpEx is reported over [years].
    opex_reserve_fraction : float, optional
        Share of the budget kept for operating costs [fraction]; default catalog
        ``opex-reserve``.
    facility : {"build", "colocation"}
        Build the data centre out of the budget, or rent colocation (paid from the reserve).
    utilisation : float, optional
        Share of hours used [fraction] for runs per year and tokens per day.
    model_for_runs : str, optional
        Catalog model: training runs per year of ``run_tokens`` tokens (default 20 tokens per
        parameter) on ``run_gpus`` accelerators (default min(cluster, 16,384)).
    run_tokens : float, optional
        Tokens per training run [tokens].
    run_gpus : int, optional
        Accelerators per training run [1].
    serve_model : str, optional
        Catalog model served (default ``model_for_runs``): output tokens per day, all GPUs.
    as_of : str, optional
        Purchase date for the export rules (default today).
    catalog : Catalog, optional
        Default the built-in catalog.
    cluster_kwargs : dict, optional
        Passed to the cluster builder.

    Raises
    ------
    UserError
        A bad budget, an export-refused purchase, or a budget below one server.
    """
    from gpuplan.money.cloud import default_rent_usd_per_gpu_hour
    from gpuplan.money.owning import tco

    cat = get_catalog(catalog)
    if opex_reserve_fraction is None:
        opex_reserve_fraction = Assumptions().cost(cat, "opex-reserve", "opex_reserve_fraction")
    _check_budget(usd, opex_reserve_fraction)
    fac = cast(FacilityMode, check_choice("facility", facility, FACILITY_MODES))
    acc = cat.accelerator(gpu)
    reg = region_entry(region, cat)
    purchase = check_purchase_allowed(acc.id, reg.id, cat, as_of=as_of)
    if system is not None:
        pick_system(cat, acc.id, system)  # a system that does not hold ``gpu`` is a UserError
    capex_budget = usd * (1.0 - opex_reserve_fraction)
    pricer = _ClusterPricer(acc.id, system, cat, reg, fac, dict(cluster_kwargs or {}))
    one_server_usd = pricer.capex(1)[0]
    if one_server_usd > capex_budget:
        raise UserError(f"{capex_budget:,.0f} USD of CapEx (after a {opex_reserve_fraction:.0%} "
                        f"OpEx reserve) buys less than one {pricer.server.id} "
                        f"({one_server_usd:,.0f} USD with its share of fabric and facility)",
                        field="usd")
    spent, cl = pricer.largest_within(capex_budget)
    rent = default_rent_usd_per_gpu_hour(acc.id, cat)
    cloud = rent if rent is not None else PLACEHOLDER_RENT_USD_PER_GPU_HOUR
    t = tco(acc.id, cl.gpus, region=reg.id, years=years, utilisation=utilisation,
            facility=fac, cloud=cloud, as_of=as_of, catalog=cat, cluster=cl)
    reserve = usd * opex_reserve_fraction
    opex_total = t.opex_usd_per_year["total"]
    u = t.utilisation
    runs, run_info = None, None
    if model_for_runs is not None:
        run_info, runs = _runs_per_year(model_for_runs, acc.id, cl.gpus, u, run_tokens, run_gpus,
                                        cat)
    sm = serve_model or model_for_runs
    serving = _serving(sm, acc.id, u, cat) if sm is not None else None
    tokens_day = None if serving is None else \
        serving.output_tokens_per_s_per_gpu * cl.gpus * SECONDS_PER_DAY * u
    return BudgetResult(
        budget_usd=float(usd), gpu=acc.id, system=cl.system, region=reg.id,
        facility_mode=fac, opex_reserve_fraction=opex_reserve_fraction,
        opex_reserve_usd=reserve, capex_budget_usd=capex_budget, gpus=cl.gpus, nodes=cl.nodes,
        racks=cl.racks, it_power_w=float(cl.power_w.it), it_max_power_w=float(cl.power_w.it_max),
        facility_power_w=float(cl.power_w.facility), capex_usd=t.capex_usd,
        unspent_usd=capex_budget - spent, opex_usd_per_year=t.opex_usd_per_year,
        opex_reserve_years=reserve / opex_total if opex_total > 0 else None,
        peak_flops=cl.gpus * acc.peak("bf16"),
        peak_flops_by_dtype={d: cl.gpus * v.value for d, v in acc.peak_flops_per_s.items()},
        cost_usd_per_gpu_hour_own=t.cost_usd_per_gpu_hour["own"], utilisation=u,
        training_runs_per_year=runs, training_run=run_info, tokens_per_day=tokens_day,
        serving=serving, purchase=purchase, carbon_tco2e_per_year=t.carbon_tco2e_per_year,
        notes=list(t.notes))


def _serving(model: str, gpu: str, utilisation: float, cat: Catalog) -> BudgetServingOut:
    """Output tokens per second per GPU of ``model`` served at the default SLOs."""
    from gpuplan.demand.serving import serve

    sr = serve(model, gpu, catalog=cat)
    return BudgetServingOut(model=sr.model,
                            output_tokens_per_s_per_gpu=sr.output_tokens_per_s_per_gpu,
                            input_tokens=sr.input_tokens, output_tokens=sr.output_tokens,
                            replica_gpus=sr.replica.gpus, utilisation=utilisation)


def _runs_per_year(model: str, gpu: str, gpus: int, utilisation: float, tokens: float | None,
                   run_gpus: int | None, cat: Catalog) -> tuple[TrainingRunOut, float]:
    """Training runs of ``model`` per year on ``gpus`` accelerators at ``utilisation``.

    Notes
    -----
    runs/year = N x HOURS_PER_YEAR x u / GPU-hours per run, with the run timed by
    :func:`gpuplan.demand.training.train` on ``run_gpus`` accelerators (default the largest
    power of two up to min(N, 16,384) with a feasible layout).
    """
    from gpuplan.demand.arch import arch_from_config, param_counts
    from gpuplan.demand.training import train

    name, cfg, _ = cat.model(model)
    rule = "given"
    if tokens is None:
        rule = "20 tokens per parameter (Chinchilla, Hoffmann et al. 2022)"
        params = param_counts(arch_from_config(cfg, name)).total
        tokens = CHINCHILLA_TOKENS_PER_PARAM * params
    if run_gpus is not None:
        if run_gpus > gpus:
            raise UserError(f"run_gpus {run_gpus} is more than the {gpus} accelerators bought",
                            field="run_gpus")
        r = train(name, gpu, run_gpus, tokens, catalog=cat)
    else:
        # The largest power of two up to min(cluster, 16,384) that has a layout (halving on
        # failure): powers of two divide every tp/pp/cp/dp product.
        n = 2 ** int(math.log2(min(gpus, MAX_RUN_GPUS)))
        while True:
            try:
                r = train(name, gpu, n, tokens, catalog=cat)
                break
            except UserError:
                if n <= 1:
                    raise
                n //= 2
    runs = gpus * HOURS_PER_YEAR * utilisation / r.gpu_hours
    return (TrainingRunOut(model=r.model, tokens=r.tokens, gpus=r.gpus, gpu_hours=r.gpu_hours,
                           wall_days=r.wall_days, mfu=r.mfu, tokens_rule=rule), runs)
