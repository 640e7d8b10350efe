"""Rich tables for people. Units are spelled out: GB = 1e9 bytes, GiB = 2**30 bytes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from gpuplan.units import (
    BYTES_PER_GB,
    BYTES_PER_TB,
    GIGA,
    HOURS_PER_MONTH,
    KILO,
    MEGA,
    SECONDS_PER_HOUR,
    W_PER_MW,
    WH_PER_KWH,
)

if TYPE_CHECKING:
    from gpuplan.cluster.result import ClusterResult
    from gpuplan.demand.fitting import FitResult
    from gpuplan.demand.layouts import LayoutOut
    from gpuplan.demand.recsys import RecsysResult
    from gpuplan.demand.serving import ServeResult
    from gpuplan.demand.training import TrainResult
    from gpuplan.money.montecarlo import RiskResult
    from gpuplan.money.types import TcoResult
    from gpuplan.pipeline.buying import BudgetResult
    from gpuplan.pipeline.planner import PlanResult
    from gpuplan.validation import ValidationReport

#: Decimal units for display [bytes]: GB = 1e9 bytes, TB = 1e12 bytes, kB = 1e3 bytes.
GB = BYTES_PER_GB
TB = BYTES_PER_TB
KB = KILO
#: Display scales: billions and millions [count], MWh [Wh], milliseconds [ms per s].
BILLION = GIGA
MILLION = MEGA
WH_PER_MWH = MEGA
MS_PER_S = KILO
#: Amounts from this size on are printed without decimals [same unit as the amount].
WHOLE_NUMBER_FROM = 1000
#: Tornado cells from this size on are printed without decimals [USD or input unit].
TORNADO_WHOLE_FROM = 100
#: Width used when stdout is not a terminal (logs, pipes, the README's pasted output).
PIPE_WIDTH = 160


def console() -> Console:
    """A rich console; a fixed width when stdout is not a terminal."""
    c = Console(highlight=False)
    if not c.is_terminal:
        c = Console(highlight=False, width=PIPE_WIDTH)
    return c


def gb(x: float | None) -> str:
    """``x`` [bytes] in GB (1e9 bytes) with one decimal, or a dash.

    Parameters
    ----------
    x : float or None
        A size [bytes].
    """
    return "—" if x is None else f"{x / GB:,.1f}"


def _layout_str(l: LayoutOut | None) -> str:
    if l is None:
        return "—"
    parts = [f"tp={l.tp}", f"pp={l.pp}", f"dp={l.dp}"]
    if l.cp > 1:
        parts.append(f"cp={l.cp}")
    if l.ep > 1:
        parts.append(f"ep={l.ep}")
    if l.vpp > 1:
        parts.append(f"vpp={l.vpp}")
    if l.zero:
        parts.append(f"zero={l.zero}")
    if l.recompute != "none":
        parts.append(f"recompute={l.recompute}")
    return ",".join(parts)


def fit_report(res: FitResult) -> None:
    """Memory per GPU by part, the fewest GPUs that fit, and the all-GPU ranking if asked.

    Parameters
    ----------
    res : FitResult
        The result of ``gpuplan fit`` [—].
    """
    c = console()
    c.print(f"[bold]{res.model}[/] on [bold]{res.gpu}[/] — {res.mode}, {res.dtype}"
            + (f", KV {res.kv_dtype}" if res.mode == "inference" else "")
            + f", seq {res.seq_len:,}, batch {res.batch}")
    c.print(f"parameters {res.params / BILLION:,.2f} B (active "
            f"{res.active_params / BILLION:,.2f} B); "
            f"KV cache {res.kv_cache_bytes_per_token / KB:,.1f} KB per token")
    t = Table(header_style="bold")
    t.add_column("per GPU (GB = 1e9 B)")
    t.add_column(f"at {_layout_str(res.evaluated_layout)}", justify="right")
    if res.layout is not None:
        t.add_column(f"at {_layout_str(res.layout)}", justify="right")
    pb, mb = res.per_gpu_bytes, res.min_layout_per_gpu_bytes
    for k in ("weights", "gradients", "optimizer", "activations", "kv_cache", "overhead", "total"):
        row = [k.replace("_", " "), gb(getattr(pb, k))]
        if mb is not None:
            row.append(gb(getattr(mb, k)))
        t.add_row(*row, style="bold" if k == "total" else None)
    t.add_row("GPU memory", gb(res.gpu_memory_bytes),
              *([gb(res.gpu_memory_bytes)] if mb is not None else []))
    c.print(t)
    verdict = "[green]fits[/]" if res.fits else "[red]does not fit[/]"
    c.print(f"{_layout_str(res.evaluated_layout)} ({res.evaluated_layout.gpus} GPU): {verdict}")
    if res.min_gpus is not None:
        c.print(f"fewest GPUs: [bold]{res.min_gpus}[/] {res.gpu} with {_layout_str(res.layout)}")
    else:
        c.print(f"[red]no layout within the search limits fits on {res.gpu}[/]")
    for n in res.notes:
        c.print(f"[dim]note: {n}[/]")
    if res.ranking:
        t = Table(title="Every catalog GPU", header_style="bold")
        for col in ("gpu", "GPUs needed", "layout", "memory GB", "price USD", "cost USD"):
            t.add_column(col, justify="left" if col in ("gpu", "layout") else "right")
        for r in res.ranking:
            t.add_row(r.gpu, str(r.min_gpus or "—"), _layout_str(r.layout), gb(r.gpu_memory_bytes),
                      f"{r.price_usd_per_gpu:,.0f}" if r.price_usd_per_gpu else "—",
                      f"{r.cost_usd:,.0f}" if r.cost_usd else "—")
        c.print(t)


def train_report(res: TrainResult) -> None:
    """Layout, step time, MFU, memory, goodput, wall clock and cost; where a step goes.

    Parameters
    ----------
    res : TrainResult
        The result of ``gpuplan train`` [—].
    """
    c = console()
    c.print(f"[bold]{res.model}[/] {res.mode} on [bold]{res.gpus:,} × {res.gpu}[/] — "
            f"{res.tokens:.3g} tokens, "
            f"seq {res.seq_len:,}, global batch {res.global_batch_tokens:,} tokens, {res.dtype}")
    t = Table(header_style="bold")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    rows = [
        ("layout", _layout_str(res.layout)),
        ("step time", f"{res.step_time_s:,.3f} s"),
        ("throughput", f"{res.tokens_per_s:,.0f} tokens/s"),
        ("MFU / HFU", f"{res.mfu:.1%} / {res.hfu:.1%}"),
        ("memory per GPU", f"{res.memory_per_gpu_bytes / GB:,.1f} of "
                           f"{res.gpu_memory_bytes / GB:,.1f} GB"),
        ("goodput", f"{res.goodput:.1%}"),
        ("wall clock", f"{res.wall_days:,.1f} days (ideal {res.ideal_wall_days:,.1f})"),
        ("GPU-hours", f"{res.gpu_hours:,.0f}"),
        ("energy", f"{res.energy_wh / WH_PER_MWH:,.1f} MWh" if res.energy_wh >= WH_PER_MWH
         else f"{res.energy_wh / WH_PER_KWH:,.1f} kWh"),
    ]
    if res.cost_usd.own is not None:
        rows.append(("cost own", f"${res.cost_usd.own:,.0f}"))
    if res.cost_usd.rent is not None:
        rows.append(("cost rent", f"${res.cost_usd.rent:,.0f}"))
    for k, v in rows:
        t.add_row(k, v)
    c.print(t)
    b = Table(title="Where one step goes", header_style="bold")
    b.add_column("part")
    b.add_column("seconds", justify="right")
    b.add_column("share", justify="right")
    for part, part_s in res.breakdown.items():
        if part_s > 0:
            b.add_row(part.removesuffix("_s").replace("_", " "), f"{part_s:,.3f}",
                      f"{part_s / res.step_time_s:.0%}")
    c.print(b)
    c.print(f"bottleneck: {res.bottleneck}")
    top = Table(title=f"Top {len(res.top)} of {res.feasible_candidates:,} layouts that fit "
                      f"({res.candidates_evaluated:,} evaluated)", header_style="bold")
    for col in ("layout", "step s", "MFU", "memory GB", "why"):
        top.add_column(col, justify="left" if col in ("layout", "why") else "right")
    for cand in res.top:
        top.add_row(_layout_str(cand.layout), f"{cand.step_time_s:,.3f}", f"{cand.mfu:.1%}",
                    gb(cand.memory_per_gpu_bytes), cand.why)
    c.print(top)
    for n in res.notes:
        c.print(f"[dim]note: {n}[/]")


def _num(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:,.3g}" if abs(x) < WHOLE_NUMBER_FROM else f"{x:,.0f}"


def validation_report(rep: ValidationReport) -> None:
    """Every case predicted vs published, then the summary per quantity (headline rows only).

    Parameters
    ----------
    rep : ValidationReport
        The result of ``gpuplan validate`` [—].

    Notes
    -----
    The ``in`` column marks the headline rows (✓); a row kept out shows its reason in place of
    the layout; a row with a published layout also shows what gpuplan's own search picks and how
    much faster it claims to be. ``training`` is median and worst |error| over every headline
    training row.
    """
    c = console()
    t = Table(title="Predicted vs published", header_style="bold")
    for col in ("case", "quantity", "predicted", "published", "error", "in",
                "layout · convention / why out or skipped"):
        t.add_column(col, justify="right" if col in ("predicted", "published", "error")
                     else "left")
    for r in rep.cases:
        err = "—" if r.relative_error is None else f"{r.relative_error:+.1%}"
        own = (f"own search {r.search_layout} claims {r.search_speedup:+.0%}"
               if r.search_layout and r.search_speedup is not None else None)
        why = r.skipped or (f"out: {r.reason}" if not r.headline else
                            " · ".join(x for x in (r.layout, r.convention, own) if x))
        t.add_row(r.id, r.quantity, _num(r.predicted), _num(r.published), err,
                  "✓" if r.headline else "—", why)
    c.print(t)
    s = Table(title="Summary (|relative error|, headline rows)", header_style="bold")
    for col in ("quantity", "cases", "median", "worst", "worst case"):
        s.add_column(col, justify="left" if col in ("quantity", "worst case") else "right")
    rows = [*rep.summary, *([rep.training] if rep.training else [])]
    for row in rows:
        s.add_row(row.quantity, str(row.cases), f"{row.median_abs_error:.1%}",
                  f"{row.worst_abs_error:.1%}", row.worst_case)
    c.print(s)
    if rep.training:
        c.print(f"training, headline rows: median {rep.training.median_abs_error:.1%}, worst "
                f"{rep.training.worst_abs_error:.1%} ({rep.training.worst_case}) over "
                f"{rep.training.cases} rows")
    c.print(f"{rep.excluded} row(s) out of the headline (reason in the table); "
            f"{rep.skipped} case(s) skipped")


def serve_report(res: ServeResult) -> None:
    """The replica shape, its throughput and latency against the targets, the fleet size.

    Parameters
    ----------
    res : ServeResult
        The result of ``gpuplan serve`` [—].
    """
    c = console()
    r = res.replica
    c.print(f"[bold]{res.model}[/] on [bold]{res.gpu}[/] — {res.input_tokens:,} in / "
            f"{res.output_tokens:,} out tokens per request"
            + (f", {res.rate_requests_per_s:,g} requests/s" if res.rate_requests_per_s else ""))
    t = Table(header_style="bold")
    t.add_column("replica")
    t.add_column("value", justify="right")
    rows = [
        ("shape", f"tp={r.tp}, pp={r.pp}" + (f", ep={r.ep}" if r.ep > 1 else "")
         + f" ({r.gpus} GPU), {r.quant} weights, {r.kv_dtype} KV"),
        ("batch (max concurrency)", f"{r.batch:,} ({r.max_concurrency:,})"),
        ("output tokens/s", f"{r.output_tokens_per_s:,.0f}"),
        ("output tokens/s per GPU", f"{res.output_tokens_per_s_per_gpu:,.0f}"),
        ("TTFT p99", f"{r.ttft_s * MS_PER_S:,.1f} ms"
         + (f" (target {res.ttft_target_s * MS_PER_S:,.0f})" if res.ttft_target_s else "")),
        ("TPOT", f"{r.tpot_s * MS_PER_S:,.2f} ms"
         + (f" (target {res.tpot_target_s * MS_PER_S:,.0f})" if res.tpot_target_s else "")),
        ("memory per GPU", f"{gb(r.memory_per_gpu_bytes)} GB"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    c.print(t)
    if res.demand_output_tokens_per_s:
        c.print(f"demand {res.demand_output_tokens_per_s:,.0f} output tokens/s + "
                f"{res.headroom:.0%} headroom → [bold]{res.replicas:,} "
                f"{'replica' if res.replicas == 1 else 'replicas'}, {res.gpus:,} "
                f"{'GPU' if res.gpus == 1 else 'GPUs'}[/]")
    c.print(f"bottleneck: {res.bottleneck}")
    c.print(("[green]meets[/]" if res.meets_slo else "[red]misses[/]") + " the latency targets; "
            f"{res.candidates_evaluated:,} shapes evaluated")
    for n in res.notes:
        c.print(f"[dim]note: {n}[/]")


def recsys_report(res: RecsysResult) -> None:
    """Embedding tables, placement, sharding, training step, serving capacity.

    Parameters
    ----------
    res : RecsysResult
        The result of a recommender-model plan [—].
    """
    c = console()
    c.print(f"[bold]{res.model}[/] on [bold]{res.gpus:,} × {res.gpu}[/] — global batch "
            f"{res.global_batch:,} samples")
    t = Table(header_style="bold")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    p = res.placement
    rows = [
        ("embedding tables", f"{res.embedding_params / BILLION:,.2f} B rows×dims, "
                             f"{gb(res.embedding_bytes)} GB (+{gb(res.embedding_optimizer_bytes)} "
                             f"GB optimizer state)"),
        ("dense parameters", f"{res.dense_params / MILLION:,.1f} M"),
        ("lookups per sample", f"{res.lookups_per_sample:,.0f}"),
        ("placement (HBM / host / SSD)", f"{gb(p.hbm_bytes)} / {gb(p.host_bytes)} / "
                                         f"{gb(p.ssd_bytes)} GB"),
        ("GPUs to hold it in HBM", f"{res.gpus_for_memory:,}"),
        ("sharding (table / column / grid / row-wise)",
         f"{res.sharding.table_wise} / {res.sharding.column_wise} / {res.sharding.grid} / "
         f"{res.sharding.row_wise}"),
        ("memory per GPU", f"{gb(res.memory_per_gpu_bytes)} of {gb(res.gpu_memory_bytes)} GB"),
        ("training step", f"{res.step_time_s * MS_PER_S:,.2f} ms"),
        ("training throughput", f"{res.train_samples_per_s:,.0f} samples/s "
                                f"({res.train_samples_per_s_per_gpu:,.0f} per GPU)"),
    ]
    if res.retrain_gpu_hours is not None and res.retrain_wall_s is not None:
        rows.append(("retraining cycle", f"{res.retrain_samples:,.3g} samples, "
                                         f"{res.retrain_wall_s / SECONDS_PER_HOUR:,.1f} h, "
                                         f"{res.retrain_gpu_hours:,.0f} GPU-hours"))
    rows.append(("serving", f"{res.serve_qps_per_gpu:,.0f} queries/s per GPU"
                 + (f" at p99 ≤ {res.serve.p99_slo_s * MS_PER_S:,.0f} ms" if res.serve.p99_slo_s
                    else " (offline)")))
    if res.serve_gpus is not None:
        rows.append(("serving fleet", f"{res.serve_gpus:,} GPUs for {res.serve_qps:,.0f} "
                                      f"queries/s"))
    for k, v in rows:
        t.add_row(k, v)
    c.print(t)
    c.print(f"bottleneck: {res.bottleneck}")
    for n in res.notes:
        c.print(f"[dim]note: {n}[/]")


def cluster_report(res: ClusterResult) -> None:
    """The physical cluster (tables drawn by :mod:`gpuplan.report.cluster_tables`).

    Parameters
    ----------
    res : ClusterResult
        The result of ``gpuplan cluster`` [—].
    """
    from gpuplan.report.cluster_tables import cluster_report as _report

    _report(res, console=console())


def plan_report(res: PlanResult) -> None:
    """The recommendation, every hardware option, the workloads of the best one, its risk.

    Parameters
    ----------
    res : PlanResult
        The result of ``gpuplan plan`` [—].
    """
    c = console()
    c.print(f"[bold]{res.scenario}[/] — {res.horizon_years:g} years, region {res.region}")
    c.print(f"[bold green]recommendation:[/] {res.recommendation}")
    t = Table(title="Hardware options", header_style="bold")
    for col in ("option", "GPUs", "facility MW", "CapEx USD", "OpEx USD/yr", "NPV own−rent USD",
                "break-even", "P(own wins)", "own $/GPU-h", "rent $/GPU-h",
                "break-even rent $/GPU-h", "utilisation (no backfill)"):
        t.add_column(col, justify="left" if col == "option" else "right")
    for o in res.options:
        own = o.cost_usd_per_gpu_hour.get("own")
        rent = o.cost_usd_per_gpu_hour.get("rent")
        t.add_row(o.label, f"{o.gpus:,}", f"{o.facility_power_w / W_PER_MW:,.2f}",
                  f"{o.capex_usd_total:,.0f}", f"{o.opex_usd_per_year_total:,.0f}",
                  f"{o.npv_usd:,.0f}",
                  f"month {o.breakeven_months}" if o.breakeven_months else "never",
                  f"{o.probability_own_wins:.0%}",
                  f"{own:,.2f}" if isinstance(own, (int, float)) else "—",
                  f"{rent:,.2f}" if isinstance(rent, (int, float)) else "—",
                  "—" if o.breakeven_rent_usd_per_gpu_hour is None
                  else f"{o.breakeven_rent_usd_per_gpu_hour:,.2f}",
                  f"{o.utilisation:.0%} ({o.utilisation_without_backfill:.0%})")
    c.print(t)
    best = next(o for o in res.options if o.label == res.best_option)
    c.print("rent mix: " + "; ".join(
        f"{m['gpus']:,} GPUs {m['term']} at ${m['price_usd_per_gpu_hour']:,.2f}/GPU-h "
        f"({m['source'][:60]})" for m in best.tco.rent["mix"])
        + (f"; break-even rent change {best.breakeven_rent_change_per_year:+.1%}/year"
           if best.breakeven_rent_change_per_year is not None else "")
        + f"; financing NPV ${best.financing_npv_usd / MEGA:,.1f}M")
    irr, beu = best.tco.irr, best.breakeven_utilisation
    c.print(f"{best.label}: NPV ${best.npv_usd / MEGA:,.1f}M; IRR "
            + ("—" if irr is None else f"{irr:.1%}") + "; break-even month "
            + (str(best.breakeven_months) if best.breakeven_months else "never")
            + "; break-even utilisation " + ("—" if beu is None else f"{beu:.0%}")
            + "; break-even rent " + ("—" if best.breakeven_rent_usd_per_gpu_hour is None
                                      else f"${best.breakeven_rent_usd_per_gpu_hour:,.2f}")
            + f"/GPU-h; P(own wins) {best.probability_own_wins:.0%}")
    if best.fleet is not None:
        c.print(f"owned fleet ({best.fleet.size}): {best.fleet.reason}")
    if best.rent_mix_reason:
        c.print(best.rent_mix_reason)
    if best.own_burst:
        c.print("owner rents for the peaks: " + "; ".join(
            f"{m['gpus']:,} GPUs {m['term']} at ${m['price_usd_per_gpu_hour']:,.2f}/GPU-h"
            for m in best.own_burst))
    prof = best.demand.profile
    if prof is not None and best.monthly is not None:
        busy = [h / HOURS_PER_MONTH for h in prof.gpu_hours_per_month]
        yearly = [sum(busy[i:i + 12]) / len(busy[i:i + 12]) for i in range(0, len(busy), 12)]
        c.print(f"demand profile ({prof.months} months): GPUs busy, mean of each year "
                + ", ".join(f"{x:,.0f}" for x in yearly) + f"; needed at once up to "
                f"{max(prof.peak_gpus_per_month):,}; backfill "
                f"{sum(best.monthly.backfill_gpu_hours):,.0f} GPU-hours")
    w = Table(title=f"Workloads on {best.label}", header_style="bold")
    for col in ("workload", "kind", "GPUs", "GPU-hours/yr", "bottleneck"):
        w.add_column(col, justify="right" if col in ("GPUs", "GPU-hours/yr") else "left")
    for row in best.demand.workloads:
        w.add_row(row.name, row.kind, f"{row.gpus:,}", f"{row.gpu_hours_per_year:,.0f}",
                  str(row.detail.get("bottleneck", "")))
    c.print(w)
    r = best.risk.model_dump()
    if r.get("npv_usd"):
        pct = r["npv_usd"]
        c.print("risk (NPV own−rent, USD): " + ", ".join(
            f"{k} {v:,.0f}" for k, v in pct.items()) + f"; P(own wins) "
            f"{r.get('probability_own_wins', 0):.0%} over {r.get('n_samples', 0):,} samples")
    for n in res.notes:
        c.print(f"[dim]note: {n}[/]")


def _usd(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def tco_report(res: TcoResult) -> None:
    """CapEx and OpEx by item, own vs rent (NPV, IRR, break-even), an owned GPU-hour by line.

    Parameters
    ----------
    res : TcoResult
        The result of ``gpuplan tco`` [—].
    """
    c = console()
    c.print(f"[bold]{res.gpus:,} × {res.gpu}[/] in {res.nodes:,} × {res.system}, "
            f"{res.racks:,} racks, region {res.region}, {res.years:g} years, facility "
            f"{res.facility_mode}, utilisation {res.utilisation:.0%}, discount rate "
            f"{res.discount_rate:.1%}")
    t = Table(title="CapEx and yearly OpEx (USD)", header_style="bold")
    t.add_column("CapEx item")
    t.add_column("USD", justify="right")
    t.add_column("OpEx item")
    t.add_column("USD / year", justify="right")
    cap = list(res.capex_usd.items())
    op = list(res.opex_usd_per_year.items())
    blank: tuple[str, float | None] = ("", None)
    for i in range(max(len(cap), len(op))):
        (ck, cv), (ok, ov) = (cap[i] if i < len(cap) else blank), (op[i] if i < len(op) else blank)
        style = "bold" if "total" in (ck, ok) else None
        t.add_row(ck, _usd(cv) if ck else "", ok, _usd(ov) if ok else "", style=style)
    c.print(t)
    own, rent = res.cost_usd_per_gpu_hour.get("own"), res.cost_usd_per_gpu_hour.get("rent")
    s = Table(title="Own vs rent", header_style="bold")
    s.add_column("quantity")
    s.add_column("value", justify="right")
    rows = [
        ("NPV cost of owning", _usd(res.own.get("npv_cost_usd"))),
        ("NPV cost of renting", _usd(res.rent.get("npv_cost_usd"))
         + f" ({res.rent.get('cloud')}, {res.rent.get('price_usd_per_gpu_hour', 0):,.2f} $/GPU-h "
           f"as of {res.rent.get('price_as_of')})"),
        ("NPV rent − own (positive: owning is cheaper)", _usd(res.npv_usd)),
        ("IRR of owning instead of renting", "—" if res.irr is None else f"{res.irr:.1%}"),
        ("break-even", f"month {res.breakeven_months}" if res.breakeven_months else "never"),
        ("break-even utilisation", "—" if res.breakeven_utilisation is None
         else f"{res.breakeven_utilisation:.0%}"),
        ("cost per GPU-hour own / rent", f"{own:,.2f} / {rent:,.2f} USD"
         if isinstance(own, (int, float)) and isinstance(rent, (int, float)) else "—"),
        ("facility power", f"{res.facility_power_w / W_PER_MW:,.2f} MW"),
        ("carbon", f"{res.carbon_tco2e_per_year:,.0f} tCO2e / year"),
    ]
    if res.loan is not None:
        ln = res.loan
        rows.append(("loan", f"{ln.amount_usd:,.0f} USD at {ln.rate:.2%} ({ln.amortisation}, "
                             f"{ln.term_years:g}+{ln.extension_years:g} y), interest "
                             f"{ln.total_interest_usd:,.0f} USD"))
    for k, v in rows:
        s.add_row(k, v)
    c.print(s)
    bd = res.cost_usd_per_gpu_hour.get("own_breakdown") or {}
    if bd:
        b = Table(title="An owned GPU-hour, line by line (USD)", header_style="bold")
        b.add_column("item")
        b.add_column("USD / GPU-hour", justify="right")
        for item, usd in bd.items():
            if usd:
                b.add_row(item, f"{usd:,.3f}", style="bold" if item == "total" else None)
        c.print(b)
    for n in res.notes:
        c.print(f"[dim]note: {n}[/]")


def risk_report(rk: RiskResult) -> None:
    """Monte Carlo NPV percentiles and the tornado of NPV swings per input.

    Parameters
    ----------
    rk : RiskResult
        The Monte Carlo result of ``gpuplan tco --risk`` [—].
    """
    c = console()
    c.print(f"Monte Carlo ({rk.n_samples:,} draws, seed {rk.seed}): NPV rent − own "
            + ", ".join(f"{k} {v:,.0f}" for k, v in rk.npv_usd.items())
            + f"; P(owning wins) {rk.probability_own_wins:.0%}")
    t = Table(title="Tornado (NPV swing per input)", header_style="bold")
    keys = list(rk.tornado[0]) if rk.tornado else []
    for k in keys:
        t.add_column(str(k), justify="left" if k in ("input", "name") else "right")
    for row in rk.tornado:
        t.add_row(*[f"{v:,.0f}" if isinstance(v, float) and abs(v) >= TORNADO_WHOLE_FROM else
                    (f"{v:,.3g}" if isinstance(v, float) else str(v)) for v in row.values()])
    c.print(t)


def budget_report(res: BudgetResult) -> None:
    """Every scalar of what a budget buys.

    Parameters
    ----------
    res : BudgetResult
        The result of ``gpuplan budget`` [—].
    """
    c = console()
    d = res.model_dump()
    t = Table(title=f"What {res.budget_usd:,.0f} USD buys", header_style="bold")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    for k, v in d.items():
        if isinstance(v, (dict, list)) or v is None:
            continue
        if isinstance(v, float):
            v = f"{v:,.4g}" if abs(v) < WHOLE_NUMBER_FROM else f"{v:,.0f}"
        t.add_row(k, str(v))
    c.print(t)
    for n in d.get("notes", []) or []:
        c.print(f"[dim]note: {n}[/]")


def section_rows(title: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """A plain table of homogeneous rows (store listings).

    Parameters
    ----------
    title : str
        Table title [—].
    rows : sequence of mapping
        Rows with the same keys (the first row's keys are the columns) [—].
    """
    c = console()
    t = Table(title=title, header_style="bold")
    keys = list(rows[0]) if rows else []
    for k in keys:
        t.add_column(str(k), overflow="fold")
    for r in rows:
        t.add_row(*[str(r.get(k, "")) for k in keys])
    c.print(t)
