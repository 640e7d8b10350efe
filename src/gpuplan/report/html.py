"""The HTML report: one self-contained file with the plan's tables and plotly charts.

plotly.js is inlined from the installed ``plotly`` package (``plotly.offline.get_plotlyjs()``),
so the report opens offline and loads nothing from the network. All text that came from the
user (scenario name, labels, notes, the scenario YAML) is HTML-escaped; the figures travel as
JSON in a ``<script type="application/json">`` block whose ``<``, ``>`` and ``&`` are escaped,
so no text can close the block. The web app renders the same page with plotly.js and the small
renderer loaded from its own ``/static`` instead of inlined.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from html import escape
from pathlib import Path
from typing import Any

from gpuplan.errors import UserError
from gpuplan.report.charts import PlanLike, all_figures, as_dict, finite, summary_rows
from gpuplan.units import GIGA, KILO, MEGA, W_PER_MW

#: :func:`fmt_num` prints floats from this size on, and below the next one, in scientific
#: notation; from ``WHOLE_NUMBER_FROM`` on without decimals [same unit as the number].
SCIENTIFIC_FROM = 1e7
SCIENTIFIC_BELOW = 1e-3
WHOLE_NUMBER_FROM = 1e4

#: Draws every figure of the JSON block ``gpuplan-figures`` into the div of the same id.
RENDER_JS = """(function () {
  function draw() {
    var block = document.getElementById('gpuplan-figures');
    if (!block || !window.Plotly) { return; }
    var figs = JSON.parse(block.textContent);
    figs.forEach(function (f) {
      var div = document.getElementById(f.id);
      if (div) {
        Plotly.newPlot(div, f.figure.data, f.figure.layout,
                       {responsive: true, displaylogo: false});
      }
    });
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', draw);
  } else { draw(); }
})();
"""

CSS = """
:root { --fg: #1d2433; --muted: #5b6475; --line: #d9dee7; --accent: #1f5fbf; --bg: #fff;
        --good: #1b7f3b; --bad: #b3261e; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0 auto; max-width: 1200px; padding: 0 1.2rem 3rem; }
header.page { border-bottom: 1px solid var(--line); margin-bottom: 1rem; padding: .8rem 0; }
header.page h1 { margin: 0; font-size: 1.5rem; }
nav a { margin-right: 1rem; color: var(--accent); text-decoration: none; }
.meta { color: var(--muted); font-size: .9rem; margin: .2rem 0 0; }
.rec { font-size: 1.15rem; padding: .8rem 1rem; border-left: 4px solid var(--accent);
       background: #f3f6fb; margin: .5rem 0 1rem; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; font-size: .9rem; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .5rem; text-align: left;
         vertical-align: top; }
th { background: #f6f8fb; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.best td { background: #eef7f0; }
.fig { width: 100%; min-height: 420px; margin: .5rem 0 1.5rem; }
details { margin: .4rem 0; }
summary { cursor: pointer; font-weight: 600; }
pre { background: #f6f8fb; padding: .8rem; overflow-x: auto; font-size: .85rem; }
.error { color: var(--bad); white-space: pre-wrap; }
.ok { color: var(--good); }
.pos { color: var(--good); } .neg { color: var(--bad); }
.small { font-size: .85rem; color: var(--muted); }
.cols { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 1.5rem; }
.scroll { overflow-x: auto; }
@media (max-width: 900px) { .cols { grid-template-columns: 1fr; } }
"""

_JSON_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026",
                 0x2028: "\\u2028", 0x2029: "\\u2029"}


def json_for_script(obj: object) -> str:
    """JSON that is safe inside ``<script type="application/json">`` (no ``</script>``).

    NaN and infinities become null (JSON has no such numbers).

    Parameters
    ----------
    obj : object
        Any JSON-serialisable value [—].
    """
    return json.dumps(finite(obj), separators=(",", ":"), allow_nan=False
                      ).translate(_JSON_ESCAPES)


def e(x: object) -> str:
    """HTML-escape anything (quotes included).

    Parameters
    ----------
    x : object
        Any value; None becomes an empty string [—].
    """
    return escape("" if x is None else str(x), quote=True)


# ----------------------------------------------------------------------------------------------
# Number formatting (at the edge: base units in, text out)
# ----------------------------------------------------------------------------------------------


def fmt_usd(x: float | None) -> str:
    """$1.23M, $45.6k, $7.89B.

    Parameters
    ----------
    x : float or None
        An amount [USD].
    """
    if x is None:
        return "—"
    a = abs(x)
    sign = "−" if x < 0 else ""
    for div, suffix in ((GIGA, "B"), (MEGA, "M"), (KILO, "k")):
        if a >= div:
            return f"{sign}${a / div:,.2f}{suffix}"
    return f"{sign}${a:,.0f}"


def fmt_usd_per_hour(x: float | None) -> str:
    """``$2.95``.

    Parameters
    ----------
    x : float or None
        A price [USD per GPU-hour].
    """
    return "—" if x is None else f"${x:,.2f}"


def fmt_mw(w: float | None) -> str:
    """``12.34 MW``; three decimals below 1 MW.

    Parameters
    ----------
    w : float or None
        A power [W].
    """
    if w is None:
        return "—"
    return f"{w / W_PER_MW:,.2f} MW" if w >= W_PER_MW else f"{w / W_PER_MW:,.3f} MW"


def fmt_pct(x: float | None) -> str:
    """``43 %``.

    Parameters
    ----------
    x : float or None
        A fraction (0.43, not 43) [1].
    """
    return "—" if x is None else f"{x * 100:.0f} %"


def fmt_months(m: int | None) -> str:
    """``month 31``, or that there is no break-even within the horizon.

    Parameters
    ----------
    m : int or None
        A month from the start [months].
    """
    return "not within horizon" if m is None else f"month {m}"


def fmt_num(x: object) -> str:
    """Any table cell as text: thousands separated, 4 significant digits, yes/no for booleans.

    Parameters
    ----------
    x : object
        A number in any unit, a boolean, a string or None [—].
    """
    if x is None:
        return "—"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if x != 0 and (abs(x) >= SCIENTIFIC_FROM or abs(x) < SCIENTIFIC_BELOW):
            return f"{x:.4g}"
        return f"{x:,.4g}" if abs(x) < WHOLE_NUMBER_FROM else f"{x:,.0f}"
    return str(x)


SUMMARY_HEADERS = (("option", "Option", False), ("gpus", "GPUs", True),
                   ("facility_power_w", "Facility power", True), ("capex_usd", "CapEx", True),
                   ("opex_usd_per_year", "OpEx / yr", True),
                   ("npv_usd", "NPV own − rent", True), ("breakeven_months", "Break-even", True),
                   ("probability_own_wins", "P(own wins)", True),
                   ("own_usd_per_gpu_hour", "Own $/GPU-h", True),
                   ("rent_usd_per_gpu_hour", "Rent $/GPU-h", True))
_FORMATTERS = {"gpus": fmt_num, "facility_power_w": fmt_mw, "capex_usd": fmt_usd,
               "opex_usd_per_year": fmt_usd, "npv_usd": fmt_usd,
               "breakeven_months": fmt_months, "probability_own_wins": fmt_pct,
               "own_usd_per_gpu_hour": fmt_usd_per_hour,
               "rent_usd_per_gpu_hour": fmt_usd_per_hour}


def formatted_summary(result: PlanLike) -> list[dict[str, Any]]:
    """:func:`~gpuplan.report.charts.summary_rows` as display text (for tables and the web).

    Parameters
    ----------
    result : PlanResult or mapping
        The plan result or its ``model_dump()`` [—].
    """
    out = []
    for r in summary_rows(result):
        row = {k: (_FORMATTERS[k](r[k]) if k in _FORMATTERS else str(r[k]))
               for k, _, _ in SUMMARY_HEADERS}
        row["recommended"] = r["recommended"]
        out.append(row)
    return out


def summary_table_html(result: PlanLike, *, table_id: str = "summary-table") -> str:
    """The per-option summary table (escaped).

    Parameters
    ----------
    result : PlanResult or mapping
        The plan result or its ``model_dump()`` [—].
    table_id : str
        HTML id of the table [—].
    """
    head = "".join(f'<th class="{"num" if num else ""}">{e(t)}</th>'
                   for _, t, num in SUMMARY_HEADERS)
    rows = []
    for r in formatted_summary(result):
        cells = "".join(f'<td class="{"num" if num else ""}" data-key="{e(k)}">{e(r[k])}</td>'
                        for k, _, num in SUMMARY_HEADERS)
        rows.append(f'<tr class="{"best" if r["recommended"] else ""}">{cells}</tr>')
    return (f'<div class="scroll"><table id="{e(table_id)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _table(columns: Sequence[tuple[str, str]], rows: Sequence[Mapping[str, Any]],
           num_keys: AbstractSet[str] = frozenset()) -> str:
    head = "".join(f'<th class="{"num" if k in num_keys else ""}">{e(t)}</th>'
                   for k, t in columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="{"num" if k in num_keys else ""}">{e(fmt_num(r.get(k)))}'
                         f"</td>" for k, _ in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _workload_rows(option: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for w in option["demand"]["workloads"]:
        det = w.get("detail", {})
        bits = []
        if "wall_days" in det:
            bits.append(f"{det['wall_days']:,.1f} days per run")
        if "mfu" in det:
            bits.append(f"MFU {det['mfu'] * 100:.0f} %")
        if "replicas" in det:
            rep = det.get("replica", {})
            bits.append(f"{det['replicas']} replicas × {rep.get('gpus', '?')} GPUs")
        if "meets_slo" in det:
            bits.append("meets SLO" if det["meets_slo"] else "misses SLO")
        if "serve_gpus" in det:
            bits.append(f"serve {det['serve_gpus']} + train {det.get('train_gpus')} GPUs")
        rows.append({"name": w["name"], "kind": w["kind"], "gpus": w["gpus"],
                     "gpu_hours_per_year": w["gpu_hours_per_year"],
                     "always_on": w["always_on"], "detail": "; ".join(bits)})
    return rows


_WORKLOAD_COLS = [("name", "Workload"), ("kind", "Kind"), ("gpus", "GPUs"),
                  ("gpu_hours_per_year", "GPU-hours / yr"), ("always_on", "Always on"),
                  ("detail", "Detail")]
_BOM_COLS = [("item", "Item"), ("category", "Category"), ("quantity", "Qty"),
             ("unit_price_usd", "Unit price [USD]"), ("total_usd", "Total [USD]"),
             ("price_source", "Price source")]
_ASSUMPTION_COLS = [("name", "Assumption"), ("value", "Value"), ("unit", "Unit"),
                    ("source", "Source"), ("as_of", "As of"), ("judgement", "Judgement")]


def _fleet_section(d: Mapping[str, Any]) -> str:
    """How the recommended option's owned fleet was sized, what the rent side contracts and
    when the fleet runs (an empty string for a result without them)."""
    o = next((x for x in d["options"] if x["label"] == d.get("best_option")), None)
    if o is None or not o.get("fleet"):
        return ""
    m = o.get("monthly") or {}
    items = [f"Owned fleet ({o['fleet']['size']}): {o['fleet']['reason']}.",
             o.get("rent_mix_reason", ""),
             f"The owned fleet runs from month {m.get('operating_from_month', 1)}; "
             f"utilisation {fmt_pct(o['utilisation'])} after backfill, "
             f"{fmt_pct(o['utilisation_without_backfill'])} without."]
    items += [f"The owner rents {t['gpus']:,} GPUs {t['term']} at "
              f"{fmt_usd_per_hour(t['price_usd_per_gpu_hour'])} for the peaks."
              for t in o.get("own_burst", [])]
    return ('<section id="fleet"><h2>Fleet, rent mix and delivery</h2><ul>'
            + "".join(f"<li>{e(x)}</li>" for x in items if x) + "</ul></section>")


def render_html_report(result: PlanLike, *, scenario_text: str | None = None,
                       plotly_js_src: str | None = None, render_js_src: str | None = None,
                       nav_html: str = "", generated_at: str | None = None) -> str:
    """The report page as a string.

    Parameters
    ----------
    result : PlanResult or dict
    scenario_text : str, optional
        The scenario YAML, shown (escaped) at the end.
    plotly_js_src, render_js_src : str, optional
        URLs of plotly.js and of the renderer; None inlines them (a self-contained file).
    nav_html : str
        Trusted HTML put above the title (the web app's navigation).
    """
    d = as_dict(result)
    from gpuplan import __version__

    when = generated_at or _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    figs = all_figures(d)
    if plotly_js_src is None:
        from plotly.offline import get_plotlyjs

        plotly_tag = "<script>" + get_plotlyjs().replace("</script", "<\\/script") + "</script>"
    else:
        plotly_tag = f'<script src="{e(plotly_js_src)}"></script>'
    render_tag = (f"<script>{RENDER_JS}</script>" if render_js_src is None
                  else f'<script src="{e(render_js_src)}"></script>')

    parts: list[str] = []
    parts.append(f'<section id="recommendation"><h2>Recommendation</h2>'
                 f'<p class="rec">{e(d["recommendation"])}</p></section>')
    parts.append('<section id="options"><h2>Options</h2>' + summary_table_html(d) +
                 '<p class="small">NPV own − rent is the present value of renting minus owning: '
                 'positive means owning is cheaper. $/GPU-h own is per GPU-hour used; rent is '
                 'the mean rental price over the horizon.</p></section>')
    parts.append(_fleet_section(d))
    parts.append('<section id="charts"><h2>Charts</h2>' + "".join(
        f'<h3>{e(f["title"])}</h3><div class="fig" id="{e(f["id"])}"></div>' for f in figs)
        + "</section>")

    wl = ['<section id="workloads"><h2>Workloads</h2>']
    for o in d["options"]:
        best = o["label"] == d.get("best_option")
        body = (_table(_WORKLOAD_COLS, _workload_rows(o), {"gpus", "gpu_hours_per_year"})
                + f'<p class="small">Owned cluster: {e(fmt_num(o["demand"]["gpus"]))} GPUs, '
                  f'utilisation {e(fmt_pct(o["demand"]["utilisation"]))}.</p>')
        if best:
            wl.append(f"<h3>{e(o['label'])} (recommended)</h3>{body}")
        else:
            wl.append(f"<details><summary>{e(o['label'])}</summary>{body}</details>")
    wl.append("</section>")
    parts.append("".join(wl))

    bn = ['<section id="bottlenecks"><h2>Bottlenecks</h2>']
    for o in d["options"]:
        items = "".join(f"<li>{e(b)}</li>" for b in o["demand"].get("bottlenecks", []))
        bn.append(f"<h3>{e(o['label'])}</h3><ul>{items or '<li>none reported</li>'}</ul>")
    bn.append("</section>")
    parts.append("".join(bn))

    notes = ['<section id="notes"><h2>Notes</h2>']
    plan_notes = list(d.get("notes", [])) + list(d.get("risk", {}).get("notes", []))
    notes.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in plan_notes) + "</ul>"
                 if plan_notes else "")
    for o in d["options"]:
        option_notes = [*o["tco"].get("notes", []), *o["cluster"].get("notes", [])]
        notes.append(f"<details><summary>{e(o['label'])}: cluster and money notes</summary>"
                     "<ul>" + "".join(f"<li>{e(n)}</li>" for n in option_notes)
                     + "</ul></details>")
    notes.append("</section>")
    parts.append("".join(notes))

    bom = ['<section id="bom"><h2>Bill of materials and assumptions</h2>']
    for o in d["options"]:
        lines = o["tco"].get("bom") or o["cluster"].get("bom") or []
        bom.append(f"<details><summary>{e(o['label'])}: BOM ({len(lines)} lines)</summary>"
                   + _table(_BOM_COLS, lines, {"quantity", "unit_price_usd", "total_usd"})
                   + "</details>")
        bom.append(f"<details><summary>{e(o['label'])}: money assumptions with sources"
                   f"</summary>" + _table(_ASSUMPTION_COLS, o["tco"].get("assumptions", []),
                                          {"value"}) + "</details>")
    bom.append("</section>")
    parts.append("".join(bom))

    if scenario_text is not None:
        parts.append('<section id="scenario"><h2>Scenario</h2><details><summary>YAML'
                     f'</summary><pre>{e(scenario_text)}</pre></details></section>')

    title = f"gpuplan: {d['scenario']}"
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{CSS}</style>{plotly_tag}</head><body>"
        f'{nav_html}<header class="page"><h1>{e(d["scenario"])}</h1>'
        f'<p class="meta">region {e(d.get("region"))} · horizon '
        f'{e(fmt_num(d.get("horizon_years")))} years · generated {e(when)} by gpuplan '
        f'{e(__version__)}</p></header>'
        + "".join(parts)
        + f'<script type="application/json" id="gpuplan-figures">{json_for_script(figs)}'
          f"</script>{render_tag}</body></html>\n")


def write_html_report(result: PlanLike, path: str | os.PathLike, *,
                      scenario_text: str | None = None) -> Path:
    """Write the self-contained HTML report to ``path`` atomically.

    Parameters
    ----------
    result : PlanResult or mapping
        The plan result or its ``model_dump()`` [—].
    path : str or PathLike
        The file to write [—].
    scenario_text : str, optional
        The scenario YAML, shown (escaped) at the end [—].

    Raises
    ------
    UserError
        The folder of ``path`` does not exist, or ``path`` is a folder.
    """
    from gpuplan.report.export import atomic_write_text

    p = Path(path)
    if not p.parent.is_dir():
        raise UserError(f"cannot write {str(p)!r}: folder {str(p.parent)!r} does not exist")
    if p.is_dir():
        raise UserError(f"cannot write {str(p)!r}: it is a folder; give a file name")
    return atomic_write_text(p, render_html_report(result, scenario_text=scenario_text))
