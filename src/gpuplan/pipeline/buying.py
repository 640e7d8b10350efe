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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from gpuplan.catalog import Catalog
from gpuplan.errors import UserError
from gpuplan.money._catalog import Assumptions, get_catalog
from gpuplan.money.cluster_source import get_cluster, pick_system
from gpuplan.money.region import check_purchase_allowed, region_entry
from gpuplan.units import HOURS_PER_YEAR, SECONDS_PER_DAY

#: Training tokens per parameter when no token count is given (Chinchilla, Hoffmann et al.
#: 2022).
CHINCHILLA_TOKENS_PER_PARAM = 20.0
#: Largest job used to time one training run [GPUs] (Llama 3 405B trained on 16,384 H100).
MAX_RUN_GPUS = 16384
MAX_BUDGET_USD = 1e13


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
    training_run: dict[str, Any] | None
    tokens_per_day: float | None
    serving: dict[str, Any] | None
    purchase: dict[str, Any]
    carbon_tco2e_per_year: float
    notes: list[str]


def budget(usd: float, gpu: str, *, region: str = "us", system: str | None = None,
           years: float = 5, opex_reserve_fraction: float | None = None,
           facility: Literal["build", "colocation"] = "build", utilisation: float | None = None,
           model_for_runs: str | None = None, run_tokens: float | None = None,
           run_gpus: int | None = None, serve_model: str | None = None,
           as_of: str | None = None, catalog: Catalog | None = None,
           cluster_kwargs: dict | None = None) -> BudgetResult:
    """How many accelerators, servers and MW ``usd`` buys, and what they do per year.

    Parameters
    ----------
    usd : float
        Budget [USD].
    gpu : str
        Accelerator id.
    region : str
        ``regions`` id (prices, export rules).
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
    serve_model : str, optional
        Catalog model served (default ``model_for_runs``): output tokens per day, all GPUs.

    Raises
    ------
    UserError
        A bad budget, an export-refused purchase, or a budget below one server.
    """
    from gpuplan.money.owning import price_cluster, tco

    cat = get_catalog(catalog)
    if isinstance(usd, bool) or not isinstance(usd, (int, float)) or not math.isfinite(usd) \
            or usd <= 0 or usd > MAX_BUDGET_USD:
        raise UserError(f"budget must be a positive number of USD up to {MAX_BUDGET_USD:.0e}, "
                        f"got {usd!r}")
    a = Assumptions()
    if opex_reserve_fraction is None:
        opex_reserve_fraction = a.cost(cat, "opex-reserve", "opex_reserve_fraction")
    if isinstance(opex_reserve_fraction, bool) or not 0 <= opex_reserve_fraction < 1:
        raise UserError(f"--opex-reserve must be in [0, 1), got {opex_reserve_fraction!r}")
    acc = cat.accelerator(gpu)
    reg = region_entry(region, cat)
    purchase = check_purchase_allowed(acc.id, reg.id, cat, as_of=as_of)
    sysm = pick_system(acc.id, system, cat) if system is not None else None
    capex_budget = usd * (1.0 - opex_reserve_fraction)
    kw = dict(cluster_kwargs or {})
    cache: dict[int, tuple] = {}

    def capex_for(nodes: int):
        if nodes not in cache:
            per = per_node[0]
            cl = get_cluster(acc.id, nodes * per, system=system, catalog=cat, **kw)
            cap, _, _ = price_cluster(cl, cat, reg, facility, Assumptions(), [])
            cache[nodes] = (cap["total"], cl)
        return cache[nodes]

    probe = get_cluster(acc.id, 1, system=system, catalog=cat, **kw)
    per_node = [max(1, probe.gpus // max(probe.nodes, 1))]
    if sysm is None:
        sysm = cat.systems.get(probe.system)
    if capex_for(1)[0] > capex_budget:
        raise UserError(f"{capex_budget:,.0f} USD of CapEx (after a {opex_reserve_fraction:.0%} "
                        f"OpEx reserve) buys less than one {probe.system} "
                        f"({capex_for(1)[0]:,.0f} USD with its share of fabric and facility)")
    lo, hi = 1, 2
    while capex_for(hi)[0] <= capex_budget:
        lo, hi = hi, hi * 2
        if hi * per_node[0] > 2**24:
            raise UserError("the budget buys more than 16.7M accelerators; not modelled")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if capex_for(mid)[0] <= capex_budget:
            lo = mid
        else:
            hi = mid
    spent, cl = capex_for(lo)
    notes: list[str] = []
    rent = None
    from gpuplan.money.cloud import default_rent_usd_per_gpu_hour

    rent = default_rent_usd_per_gpu_hour(acc.id, cat)
    t = tco(acc.id, cl.gpus, region=reg.id, years=years, utilisation=utilisation,
            facility=facility, cloud=rent if rent is not None else 1.0, as_of=as_of,
            catalog=cat, cluster=cl)
    notes += t.notes
    reserve = usd * opex_reserve_fraction
    opex_total = t.opex_usd_per_year["total"]
    u = t.utilisation
    peaks = {d: cl.gpus * v.value for d, v in acc.peak_flops_per_s.items()}
    peak = cl.gpus * acc.peak("bf16")

    runs = None
    run_info = None
    if model_for_runs is not None:
        run_info, runs = _runs_per_year(model_for_runs, acc.id, cl.gpus, u, run_tokens, run_gpus,
                                        cat)
    tokens_day = None
    serving = None
    sm = serve_model or model_for_runs
    if sm is not None:
        from gpuplan.demand.serving import serve

        sr = serve(sm, acc.id, catalog=cat)
        tokens_day = sr.output_tokens_per_s_per_gpu * cl.gpus * SECONDS_PER_DAY * u
        serving = {"model": sr.model, "output_tokens_per_s_per_gpu":
                   sr.output_tokens_per_s_per_gpu, "input_tokens": sr.input_tokens,
                   "output_tokens": sr.output_tokens, "replica_gpus": sr.replica.gpus,
                   "utilisation": u}
    return BudgetResult(
        budget_usd=float(usd), gpu=acc.id, system=cl.system, region=reg.id,
        facility_mode=facility, opex_reserve_fraction=opex_reserve_fraction,
        opex_reserve_usd=reserve, capex_budget_usd=capex_budget, gpus=cl.gpus, nodes=cl.nodes,
        racks=cl.racks, it_power_w=float(cl.power_w.it), it_max_power_w=float(cl.power_w.it_max),
        facility_power_w=float(cl.power_w.facility), capex_usd=t.capex_usd,
        unspent_usd=capex_budget - spent, opex_usd_per_year=t.opex_usd_per_year,
        opex_reserve_years=reserve / opex_total if opex_total > 0 else None,
        peak_flops=peak, peak_flops_by_dtype=peaks,
        cost_usd_per_gpu_hour_own=t.cost_usd_per_gpu_hour["own"], utilisation=u,
        training_runs_per_year=runs, training_run=run_info, tokens_per_day=tokens_day,
        serving=serving, purchase=purchase.model_dump(),
        carbon_tco2e_per_year=t.carbon_tco2e_per_year, notes=notes)


def _runs_per_year(model: str, gpu: str, gpus: int, utilisation: float, tokens: float | None,
                   run_gpus: int | None, cat: Catalog) -> tuple[dict[str, Any], float]:
    """Training runs of ``model`` per year on ``gpus`` accelerators at ``utilisation``.

    Notes
    -----
    runs/year = N x 8,766 h x u / GPU-hours per run, with the run timed by
    :func:`gpuplan.demand.training.train` on ``run_gpus`` accelerators (default the largest power of two
    up to min(N, 16,384) with a feasible layout).
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
            raise UserError(f"--run-gpus {run_gpus} is more than the {gpus} accelerators bought")
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
    return ({"model": r.model, "tokens": r.tokens, "gpus": r.gpus, "gpu_hours": r.gpu_hours,
             "wall_days": r.wall_days, "mfu": r.mfu, "tokens_rule": rule}, runs)
