"""Plotly figures of a plan, as plain dicts (``{"data": [...], "layout": {...}}``).

Every function takes a :class:`~gpuplan.pipeline.planner.PlanResult` or its ``model_dump()`` and
only
arranges or sums numbers the pipeline already computed: no formula of the model lives here.
The dicts are JSON-serialisable and are drawn by plotly.js (``Plotly.newPlot(div, data,
layout)``) in the HTML report and the web app; plotly's Python package is not needed to build
them.

Conversions at this edge: money axes are in million USD, power in kW (the keys say so).

Fields of the plan result read here (the contract with :mod:`gpuplan.pipeline.planner`):

- ``options[].label``, ``.gpus``, ``.npv_usd``, ``.breakeven_months``, ``.probability_own_wins``,
  ``.facility_power_w``, ``.cost_usd_per_gpu_hour{own,rent}``
- ``options[].tco.capex_usd{category..., total}``, ``.opex_usd_per_year{..., total}``,
  ``.cash_flows{month, own_usd, rent_usd, own_minus_rent_usd, cumulative_own_minus_rent_usd}``
  (outflows negative), ``.loan.schedule[]{period, month, opening_usd, interest_usd,
  principal_usd, payment_usd, closing_usd}`` or ``loan: None``
- ``options[].cluster.power_w{it, it_max, facility, pue, by_category}``
- ``options[].risk.npv_usd{p5, p10, p25, p50, p75, p90, p95, mean, std}``,
  ``.baseline_npv_usd``, ``.tornado[]{input, scale, low_value, high_value, npv_low_usd,
  npv_high_usd, swing_usd}``, ``.n_samples``
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import accumulate
from typing import TYPE_CHECKING, Any, TypeAlias

from gpuplan.units import USD_PER_MUSD, W_PER_KW

if TYPE_CHECKING:
    from gpuplan.pipeline.planner import PlanResult

#: What the report functions accept: a plan result or its ``model_dump()`` (the JSON edge).
PlanLike: TypeAlias = "PlanResult | Mapping[str, Any]"

#: plotly's default qualitative palette (D3 category10), so own/rent lines of one option share
#: a colour.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")
#: The keys of ``capex_usd`` / ``opex_usd_per_year`` that are totals, not categories.
TOTAL_KEYS = ("total",)
_BASE_LAYOUT: dict[str, Any] = {
    "margin": {"l": 70, "r": 30, "t": 60, "b": 60},
    "legend": {"orientation": "h", "y": -0.2},
    "hovermode": "closest",
}


def as_dict(result: PlanLike) -> dict[str, Any]:
    """The plan result as a plain dict (accepts a pydantic model or its dump).

    Parameters
    ----------
    result : PlanResult or mapping
        The plan result or its ``model_dump()`` [—].
    """
    if hasattr(result, "model_dump"):
        return dict(result.model_dump())
    if isinstance(result, dict):
        return result
    if isinstance(result, Mapping):
        return dict(result)
    raise TypeError(f"expected a PlanResult or its model_dump(), got {type(result).__name__}")


def finite(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None (JSON null: a gap in a plot).

    Parameters
    ----------
    obj : object
        Any JSON-like value (numbers in any unit) [—].
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def _colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _layout(title: str, **kw: Any) -> dict[str, Any]:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in _BASE_LAYOUT.items()}
    out["title"] = {"text": title}
    out.update(kw)
    return out


def _musd(x: float | None) -> float | None:
    """``x`` [USD] in million USD; None stays None (a gap in a plot)."""
    return None if x is None else float(x) / USD_PER_MUSD


def _musd_of(x: float) -> float:
    """``x`` [USD] in million USD, for a value that is always present."""
    return float(x) / USD_PER_MUSD


def capex_total_usd(option: Mapping[str, Any]) -> float:
    """An option's total capex [USD]: ``tco.capex_usd.total`` (the categories summed if absent).

    Parameters
    ----------
    option : mapping
        One entry of the plan's ``options`` (``model_dump()`` form) [—].
    """
    c = option.get("tco", {}).get("capex_usd", {})
    if "total" in c:
        return float(c["total"])
    return float(sum(v for k, v in c.items() if k not in TOTAL_KEYS))


def opex_total_usd_per_year(option: Mapping[str, Any]) -> float:
    """An option's yearly opex [USD/yr]: ``tco.opex_usd_per_year.total`` (or the sum).

    Parameters
    ----------
    option : mapping
        One entry of the plan's ``options`` (``model_dump()`` form) [—].
    """
    c = option.get("tco", {}).get("opex_usd_per_year", {})
    if "total" in c:
        return float(c["total"])
    return float(sum(v for k, v in c.items() if k not in TOTAL_KEYS))


def summary_rows(result: PlanLike) -> list[dict[str, Any]]:
    """One row per option with the key figures (base units), the recommended one flagged.

    Parameters
    ----------
    result : PlanResult or mapping
        The plan result or its ``model_dump()`` [—].
    """
    d = as_dict(result)
    rows = []
    for o in d["options"]:
        cph = o.get("cost_usd_per_gpu_hour") or {}
        rows.append({
            "option": o["label"],
            "gpu": o["gpu"],
            "system": o["system"],
            "recommended": o["label"] == d.get("best_option"),
            "gpus": o["gpus"],
            "facility_power_w": o["facility_power_w"],
            "capex_usd": capex_total_usd(o),
            "opex_usd_per_year": opex_total_usd_per_year(o),
            "npv_usd": o["npv_usd"],
            "breakeven_months": o["breakeven_months"],
            "probability_own_wins": o["probability_own_wins"],
            "own_usd_per_gpu_hour": cph.get("own"),
            "rent_usd_per_gpu_hour": cph.get("rent"),
            "utilisation": o.get("demand", {}).get("utilisation"),
        })
    return rows


def _option(d: Mapping[str, Any], option: str | int | None) -> Mapping[str, Any]:
    opts = d["options"]
    if option is None:
        option = d.get("best_option")
    if isinstance(option, int):
        return opts[option]
    for o in opts:
        if o["label"] == option:
            return o
    return opts[0]


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------


def cumulative_cost_figure(result: PlanLike) -> dict[str, Any]:
    """Cumulative cash out of owning and of renting, month by month, per option.

    The monthly cash flows (outflows negative) are summed from month 0; the own line of an
    option carries a star at its break-even month (``breakeven_months``), when there is one.

    Parameters
    ----------
    result : PlanResult or mapping
        The plan result or its ``model_dump()`` [—].
    """
    d = as_dict(result)
    data: list[dict[str, Any]] = []
    for i, o in enumerate(d["options"]):
        cf = o["tco"]["cash_flows"]
        months = list(cf["month"])
        own = [-x / USD_PER_MUSD for x in accumulate(cf["own_usd"])]
        rent = [-x / USD_PER_MUSD for x in accumulate(cf["rent_usd"])]
        c = _colour(i)
        data.append({"type": "scatter", "mode": "lines", "name": f"{o['label']}: own",
                     "x": months, "y": own, "line": {"color": c, "width": 2},
                     "legendgroup": o["label"],
                     "hovertemplate": "month %{x}: $%{y:,.2f}M<extra>own</extra>"})
        data.append({"type": "scatter", "mode": "lines", "name": f"{o['label']}: rent",
                     "x": months, "y": rent, "line": {"color": c, "width": 2, "dash": "dash"},
                     "legendgroup": o["label"],
                     "hovertemplate": "month %{x}: $%{y:,.2f}M<extra>rent</extra>"})
        be = o.get("breakeven_months")
        if be is not None and be in months:
            k = months.index(be)
            data.append({"type": "scatter", "mode": "markers+text",
                         "name": f"{o['label']}: break-even, month {be}",
                         "x": [be], "y": [own[k]], "text": [f"break-even: month {be}"],
                         "textposition": "top right", "legendgroup": o["label"],
                         "marker": {"symbol": "star", "size": 14, "color": c,
                                    "line": {"color": "#000", "width": 1}}})
    return {"data": data, "layout": _layout(
        "Cumulative cash out: own vs rent",
        xaxis={"title": {"text": "month"}},
        yaxis={"title": {"text": "cumulative cash out [million USD]"}, "tickformat": ",.2f"})}


def capex_figure(result: PlanLike) -> dict[str, Any]:
    """CapEx by category, one stacked bar per option (``tco.capex_usd``).

    Parameters
    ----------
    result : PlanResult or mapping
        The plan result or its ``model_dump()`` [—].
    """
    d = as_dict(result)
    labels = [o["label"] for o in d["options"]]
    cats: list[str] = []
    for o in d["options"]:
        for k in o["tco"]["capex_usd"]:
            if k not in TOTAL_KEYS and k not in cats:
                cats.append(k)
    data = []
    for i, k in enumerate(cats):
        ys = [_musd(o["tco"]["capex_usd"].get(k, 0.0)) for o in d["options"]]
        if not any(ys):
            continue
        data.append({"type": "bar", "name": k.replace("_", " "), "x": labels, "y": ys,
                     "marker": {"color": _colour(i)},
                     "hovertemplate": "%{x}: $%{y:,.3f}M<extra>" + k + "</extra>"})
    return {"data": data, "layout": _layout(
        "CapEx by category", barmode="stack",
        yaxis={"title": {"text": "capex [million USD]"}, "tickformat": ",.2f"})}


def power_figure(result: PlanLike) -> dict[str, Any]:
    """Power per option: IT at nameplate by category, and at load with the facility overhead.

    Two stacked bars per option. "IT nameplate" stacks ``power_w.by_category`` (their sum is
    ``it_max``); "at load" stacks the typical IT power ``it`` and the facility overhead
    ``facility - it`` (cooling and power distribution at the PUE), which sum to ``facility``.

    Parameters
    ----------
    result : PlanResult or mapping
        The plan result or its ``model_dump()`` [—].
    """
    d = as_dict(result)
    xs_n, xs_l = [], []
    cats: list[str] = []
    for o in d["options"]:
        xs_n.append(f"{o['label']} · IT nameplate")
        xs_l.append(f"{o['label']} · at load")
        for k in o["cluster"]["power_w"].get("by_category", {}):
            if k not in cats:
                cats.append(k)
    data = []
    for i, k in enumerate(cats):
        ys = [o["cluster"]["power_w"].get("by_category", {}).get(k, 0.0) / W_PER_KW
              for o in d["options"]]
        if not any(ys):
            continue
        data.append({"type": "bar", "name": f"IT max: {k}", "x": xs_n, "y": ys,
                     "marker": {"color": _colour(i)},
                     "hovertemplate": "%{x}: %{y:,.1f} kW<extra>" + k + "</extra>"})
    it = [o["cluster"]["power_w"]["it"] / W_PER_KW for o in d["options"]]
    fac = [o["cluster"]["power_w"]["facility"] / W_PER_KW for o in d["options"]]
    data.append({"type": "bar", "name": "IT at load", "x": xs_l, "y": it,
                 "marker": {"color": "#4c78a8"},
                 "hovertemplate": "%{x}: %{y:,.1f} kW<extra>IT at load</extra>"})
    data.append({"type": "bar", "name": "facility overhead (PUE)", "x": xs_l,
                 "y": [f - i for f, i in zip(fac, it)], "marker": {"color": "#bab0ac"},
                 "customdata": [o["cluster"]["power_w"].get("pue") for o in d["options"]],
                 "hovertemplate": "%{x}: %{y:,.1f} kW (PUE %{customdata})"
                                  "<extra>facility overhead</extra>"})
    return {"data": data, "layout": _layout(
        "Power: IT nameplate by category, and facility power at load", barmode="stack",
        yaxis={"title": {"text": "power [kW]"}, "tickformat": ",.0f"})}


#: Percentile keys of ``risk.npv_usd`` the distribution figure uses.
NPV_PERCENTILES = ("p5", "p10", "p25", "p50", "p75", "p90", "p95")


def npv_distribution_figure(result: PlanLike) -> dict[str, Any]:
    """Monte Carlo NPV(own − rent) per option, as a box drawn from stored percentiles.

    The risk stage keeps percentiles, not samples, so this is a box built from them: box p25 to
    p75, line at p50, whiskers p5 and p95, dashed mean ± sd; p10 and p90 are dots and the
    deterministic (baseline) NPV a diamond. Above zero, owning wins.

    Parameters
    ----------
    result : PlanResult or mapping
        The plan result or its ``model_dump()`` [—].
    """
    d = as_dict(result)
    data: list[dict[str, Any]] = []
    labels = []
    for i, o in enumerate(d["options"]):
        r = o["risk"]
        q = r["npv_usd"]
        lab = o["label"]
        labels.append(lab)
        c = _colour(i)
        data.append({
            "type": "box", "name": lab, "x": [lab],
            "q1": [_musd(q["p25"])], "median": [_musd(q["p50"])], "q3": [_musd(q["p75"])],
            "lowerfence": [_musd(q["p5"])], "upperfence": [_musd(q["p95"])],
            "mean": [_musd(q.get("mean"))], "sd": [_musd(q.get("std"))],
            "boxmean": "sd", "marker": {"color": c}, "showlegend": False,
            "hoverinfo": "y+name"})
        data.append({"type": "scatter", "mode": "markers", "name": f"{lab}: p10 / p90",
                     "x": [lab, lab], "y": [_musd(q["p10"]), _musd(q["p90"])],
                     "marker": {"color": c, "size": 7}, "showlegend": False,
                     "text": ["p10", "p90"],
                     "hovertemplate": "%{text}: $%{y:,.2f}M<extra></extra>"})
        data.append({"type": "scatter", "mode": "markers", "name": f"{lab}: baseline",
                     "x": [lab], "y": [_musd(r.get("baseline_npv_usd", o["npv_usd"]))],
                     "marker": {"color": "#000", "symbol": "diamond", "size": 9},
                     "showlegend": False,
                     "hovertemplate": "baseline: $%{y:,.2f}M<extra></extra>"})
    n = max((o["risk"].get("n_samples", 0) for o in d["options"]), default=0)
    return {"data": data, "layout": _layout(
        f"NPV own − rent under uncertainty ({n:,} Monte Carlo samples; box from percentiles)",
        yaxis={"title": {"text": "NPV own − rent [million USD] (> 0: owning wins)"},
               "tickformat": ",.2f", "zeroline": True, "zerolinewidth": 2},
        xaxis={"type": "category"},
        annotations=[{"text": "box p25–p75, line p50, whiskers p5/p95, dashed mean ± sd, "
                              "dots p10/p90, ◆ baseline (percentiles only: samples not kept)",
                      "xref": "paper", "yref": "paper", "x": 0, "y": 1.06,
                      "showarrow": False, "font": {"size": 11}, "xanchor": "left"}],
        showlegend=False)}


def tornado_figure(result: PlanLike, option: str | int | None = None) -> dict[str, Any]:
    """Tornado of one option (default: the recommended one) from ``risk.tornado``.

    Each input's bar spans the NPV at its low and high value around the baseline NPV; largest
    swing at the top.

    Parameters
    ----------
    result : PlanResult or mapping
        The plan result or its ``model_dump()`` [—].
    option : str, int or None
        Option label or index; None: the recommended option [—].
    """
    d = as_dict(result)
    o = _option(d, option)
    r = o["risk"]
    base = _musd_of(r.get("baseline_npv_usd", o["npv_usd"]))
    rows = sorted(r.get("tornado", []), key=lambda t: float(t.get("swing_usd", 0.0)))
    names = [str(t["input"]).replace("_", " ") for t in rows]

    def _fmt(t: Mapping[str, Any], side: str) -> str:
        v = t.get(f"{side}_value")
        unit = "×" if t.get("scale") == "multiplier" else ""
        return f"{side} {v:.4g}{unit}" if isinstance(v, (int, float)) else side

    data = [
        {"type": "bar", "orientation": "h", "name": "input at its low value", "y": names,
         "x": [_musd_of(t["npv_low_usd"]) - base for t in rows], "base": base,
         "marker": {"color": "#d62728"}, "opacity": 0.85,
         "text": [_fmt(t, "low") for t in rows],
         "hovertemplate": "%{y}, %{text}: NPV $%{x:,.2f}M<extra></extra>"},
        {"type": "bar", "orientation": "h", "name": "input at its high value", "y": names,
         "x": [_musd_of(t["npv_high_usd"]) - base for t in rows], "base": base,
         "marker": {"color": "#2ca02c"}, "opacity": 0.85,
         "text": [_fmt(t, "high") for t in rows],
         "hovertemplate": "%{y}, %{text}: NPV $%{x:,.2f}M<extra></extra>"},
    ]
    return {"data": data, "layout": _layout(
        f"Tornado: NPV own − rent, {o['label']}", barmode="overlay",
        xaxis={"title": {"text": "NPV own − rent [million USD]"}, "tickformat": ",.2f"},
        yaxis={"automargin": True},
        shapes=[{"type": "line", "x0": base, "x1": base, "yref": "paper", "y0": 0, "y1": 1,
                 "line": {"color": "#000", "width": 1, "dash": "dot"}}],
        margin={"l": 190, "r": 30, "t": 60, "b": 60})}


def loan_figure(result: PlanLike, option: str | int | None = None) -> dict[str, Any] | None:
    """Loan schedule of one option: principal and interest per period, balance after it.

    None when the option has no loan (cash purchase).

    Parameters
    ----------
    result : PlanResult or mapping
        The plan result or its ``model_dump()`` [—].
    option : str, int or None
        Option label or index; None: the recommended option [—].
    """
    d = as_dict(result)
    o = _option(d, option)
    loan = o["tco"].get("loan")
    if not loan or not loan.get("schedule"):
        return None
    s = loan["schedule"]
    months = [row["month"] for row in s]
    data = [
        {"type": "bar", "name": "principal", "x": months,
         "y": [_musd(row["principal_usd"]) for row in s], "marker": {"color": "#1f77b4"},
         "hovertemplate": "month %{x}: $%{y:,.3f}M<extra>principal</extra>"},
        {"type": "bar", "name": "interest", "x": months,
         "y": [_musd(row["interest_usd"]) for row in s], "marker": {"color": "#ff7f0e"},
         "hovertemplate": "month %{x}: $%{y:,.3f}M<extra>interest</extra>"},
        {"type": "scatter", "mode": "lines+markers", "name": "balance after payment",
         "x": months, "y": [_musd(row["closing_usd"]) for row in s], "yaxis": "y2",
         "line": {"color": "#000"},
         "hovertemplate": "month %{x}: $%{y:,.2f}M<extra>balance</extra>"},
    ]
    return {"data": data, "layout": _layout(
        f"Loan schedule: {o['label']} ({loan.get('amortisation', '')}, "
        f"{loan.get('rate', 0) * 100:.2f} % a year)", barmode="stack",
        xaxis={"title": {"text": "month"}},
        yaxis={"title": {"text": "payment [million USD]"}, "tickformat": ",.3f"},
        yaxis2={"title": {"text": "balance [million USD]"}, "overlaying": "y", "side": "right",
                "tickformat": ",.2f", "rangemode": "tozero"})}


#: Range of the rent-price axis of the break-even chart, as fractions of the larger of the
#: price now and the break-even price [fraction].
BREAKEVEN_PRICE_AXIS = (0.5, 1.5)


def breakeven_figures(result: PlanLike, option: str | int | None = None
                      ) -> list[dict[str, Any]]:
    """Break-even charts of one option (default: the recommended one).

    NPV(own - rent) against the first-month rent price (a straight line: the rent bill is linear
    in the price) through the price now and the break-even price; the PV of owning against the
    PV of renting the used hours over utilisation (they cross at the break-even utilisation);
    NPV against the yearly rent price change (the sensitivity rows and the break-even point).

    Parameters
    ----------
    result : PlanResult or mapping
        The plan result or its ``model_dump()`` [—].
    option : str, int or None
        Option label or index; None: the recommended option [—].

    Returns
    -------
    list of dict
        ``[{"id", "title", "figure"}, ...]``; a chart whose break-even is unknown is left out.
    """
    d = as_dict(result)
    o = _option(d, option)
    t = o["tco"]
    out: list[dict[str, Any]] = []
    p_star, p0 = o.get("breakeven_rent_usd_per_gpu_hour"), t["rent"]["price_usd_per_gpu_hour"]
    if isinstance(p_star, (int, float)) and p0 != p_star:
        slope = _musd_of(o["npv_usd"]) / (p0 - p_star)
        top = max(p0, p_star)
        xs = [BREAKEVEN_PRICE_AXIS[0] * min(p0, p_star), BREAKEVEN_PRICE_AXIS[1] * top]
        out.append({"id": "fig-breakeven-price", "title": "Break-even rent price", "figure": {
            "data": [
                {"type": "scatter", "mode": "lines", "name": "NPV own − rent", "x": xs,
                 "y": [slope * (x - p_star) for x in xs], "line": {"color": "#1f77b4"}},
                {"type": "scatter", "mode": "markers+text", "name": "points",
                 "x": [p_star, p0], "y": [0.0, _musd_of(o["npv_usd"])],
                 "text": [f"break-even ${p_star:,.2f}", f"{t['rent']['term']} now ${p0:,.2f}"],
                 "textposition": "top center", "marker": {"size": 9, "color": "#000"}}],
            "layout": _layout(f"Break-even rent price: {o['label']}",
                              xaxis={"title": {"text": "rent, first month [USD per GPU-hour]"}},
                              yaxis={"title": {"text": "NPV own − rent [million USD]"}})}})
    u_star = o.get("breakeven_utilisation")
    own_pv = t["own"]["npv_cost_usd"]
    if isinstance(u_star, (int, float)) and u_star > 0:
        full = own_pv / u_star
        out.append({"id": "fig-breakeven-utilisation", "title": "Break-even utilisation",
                    "figure": {"data": [
                        {"type": "scatter", "mode": "lines", "name": "owning (PV of costs)",
                         "x": [0, 1], "y": [_musd_of(own_pv)] * 2, "line": {"color": "#d62728"}},
                        {"type": "scatter", "mode": "lines",
                         "name": "renting the used hours (PV)", "x": [0, 1],
                         "y": [0.0, _musd_of(full)], "line": {"color": "#2ca02c"}}],
                        "layout": _layout(
                            f"Break-even utilisation {u_star:.0%}: {o['label']}",
                            xaxis={"title": {"text": "utilisation [fraction]"},
                                   "tickformat": ".0%"},
                            yaxis={"title": {"text": "present value [million USD]"}})}})
    g_star = o.get("breakeven_rent_change_per_year")
    rows = t.get("sensitivity", {}).get("rent_price_change_per_year", [])
    if isinstance(g_star, (int, float)) and rows:
        pts = sorted([(float(r["value"]), _musd_of(r["npv_usd"])) for r in rows]
                     + [(float(g_star), 0.0)])
        out.append({"id": "fig-breakeven-decline", "title": "Break-even rent price change",
                    "figure": {"data": [
                        {"type": "scatter", "mode": "lines+markers", "name": "NPV own − rent",
                         "x": [p[0] for p in pts], "y": [p[1] for p in pts],
                         "line": {"color": "#9467bd"}}],
                        "layout": _layout(
                            f"Break-even rent price change {g_star:+.1%}/year: {o['label']}",
                            xaxis={"title": {"text": "rent price change [fraction per year]"},
                                   "tickformat": "+.0%"},
                            yaxis={"title": {"text": "NPV own − rent [million USD]"}})}})
    return out


def profile_figure(result: PlanLike, option: str | int | None = None) -> dict[str, Any] | None:
    """The monthly demand of one option (default the recommended) against its owned fleet.

    Stacked busy GPUs of each workload (GPU-hours of the month / 730.5 h) and the backfill,
    with the owned fleet, the GPUs needed at once and the rent mix's reserved base as lines.
    None when the result has no profile.
    """
    o = _option(as_dict(result), option)
    prof, m = o["demand"].get("profile"), o.get("monthly")
    if not prof or not m:
        return None
    hm = m["owned_capacity_gpu_hours"] / max(o["gpus"], 1)        # hours of a month
    x = list(range(1, prof["months"] + 1))
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "stackgroup": "d", "name": w["name"], "x": x,
         "y": [h / hm for h in w["gpu_hours_per_month"]], "line": {"color": _colour(i)}}
        for i, w in enumerate(prof["workloads"])]
    data.append({"type": "scatter", "mode": "lines", "stackgroup": "d", "name": "backfill",
                 "x": x, "y": [h / hm for h in m["backfill_gpu_hours"]],
                 "line": {"color": "#c7c7c7"}})
    lines = [("owned fleet (runs when built)", m.get("owned_gpus") or [o["gpus"]] * len(x),
              "#000"),
             ("needed at once", prof["peak_gpus_per_month"], "#d62728")]
    base = [t for t in o["tco"]["rent"]["mix"] if t["term"] != "on_demand"]
    if base:
        lines.append((f"rent: {base[0]['term']} base", [base[0]["gpus"]] * len(x), "#2ca02c"))
    data += [{"type": "scatter", "mode": "lines", "name": n, "x": x, "y": y,
              "line": {"color": c, "dash": "dash"}} for n, y, c in lines]
    return {"data": data, "layout": _layout(
        f"Monthly demand and fleet: {o['label']}", xaxis={"title": {"text": "month"}},
        yaxis={"title": {"text": "GPUs busy (month mean) [count]"}})}


def all_figures(result: PlanLike) -> list[dict[str, Any]]:
    """Every figure of the report, in order: ``[{"id", "title", "figure"}, ...]``.

    Cumulative cost, CapEx, power and the NPV distribution for all options together; a tornado
    per option; the break-even charts of the recommended option; a loan schedule per option that
    has a loan. Ids are fixed strings and indices
    (safe as HTML ids).

    Parameters
    ----------
    result : PlanResult or mapping
        The plan result or its ``model_dump()`` [—].
    """
    d = as_dict(result)
    out = [
        {"id": "fig-cumulative", "title": "Cumulative cost", "figure": cumulative_cost_figure(d)},
        {"id": "fig-capex", "title": "CapEx", "figure": capex_figure(d)},
        {"id": "fig-power", "title": "Power", "figure": power_figure(d)},
        {"id": "fig-npv", "title": "NPV distribution", "figure": npv_distribution_figure(d)},
    ]
    for i, o in enumerate(d["options"]):
        if o["risk"].get("tornado"):
            out.append({"id": f"fig-tornado-{i}", "title": f"Tornado: {o['label']}",
                        "figure": tornado_figure(d, i)})
    out.extend(breakeven_figures(d))
    prof = profile_figure(d)
    if prof is not None:
        out.append({"id": "fig-profile", "title": "Demand profile", "figure": prof})
    for i, o in enumerate(d["options"]):
        f = loan_figure(d, i)
        if f is not None:
            out.append({"id": f"fig-loan-{i}", "title": f"Loan: {o['label']}", "figure": f})
    return out
