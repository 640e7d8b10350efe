"""HTML pages of the web app: editor, report, compare, catalog, API docs.

Plain strings, no template engine. Everything that is not a fixed string of this module goes
through :func:`gpuplan.report.html.e` (HTML escape) or :func:`json_for_script` (JSON inside a
non-executable ``<script type="application/json">`` block); links to saved scenarios are
URL-encoded. Pages carry no inline script, so the Content-Security-Policy can forbid them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response

from gpuplan.errors import UserError
from gpuplan.report.html import (
    CSS,
    e,
    fmt_num,
    json_for_script,
    render_html_report,
    summary_table_html,
)
from gpuplan.web.state import EXAMPLE_SCENARIO, WebState, catalog_json, scenario_view

PAGE_EXTRA_CSS = """
nav.top { padding: .6rem 0; border-bottom: 1px solid var(--line); }
nav.top a { display: inline-block; }
.cols.editor { grid-template-columns: minmax(0, 2fr) minmax(0, 3fr); }
.cols > div { min-width: 0; }
textarea#yaml { width: 100%; min-height: 60vh; white-space: pre; overflow-wrap: normal;
                overflow-x: auto; font: 13px/1.4 ui-monospace, SFMono-Regular,
                Menlo, Consolas, monospace; padding: .5rem; border: 1px solid var(--line); }
.save { margin: .6rem 0; display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; }
.save input { padding: .3rem .4rem; min-width: 0; }
button { padding: .35rem .9rem; cursor: pointer; }
form.pick { display: flex; gap: 1rem; align-items: end; flex-wrap: wrap; margin: .5rem 0 1rem; }
form.pick label { display: flex; flex-direction: column; font-size: .9rem; }
body.wide { max-width: 1880px; }
.workspace { display: grid; gap: 1.2rem; grid-template-columns: minmax(0, 1fr);
             grid-template-areas: "form" "yaml" "results"; }
.workspace > section { min-width: 0; }
#form-pane { grid-area: form; } #yaml-pane { grid-area: yaml; }
#results-pane { grid-area: results; }
@media (min-width: 900px) {
  .workspace { grid-template-columns: minmax(0, 1fr) minmax(0, 1.3fr);
               grid-template-areas: "form yaml" "results results"; } }
@media (min-width: 1500px) {
  .workspace { grid-template-columns: minmax(0, 0.7fr) minmax(0, 1fr) minmax(0, 2.3fr);
               grid-template-areas: "form yaml results"; } }
#results-pane table { font-size: .82rem; }
#results-pane th, #results-pane td { padding: .25rem .35rem; }
form#fields fieldset { border: 1px solid var(--line); margin: 0 0 .7rem; padding: .4rem .7rem; }
form#fields legend { font-weight: 600; }
form#fields label { display: block; margin: .35rem 0; font-size: .9rem; }
form#fields input[type=text], form#fields input[type=number], form#fields select {
  display: block; width: 100%; max-width: 24rem; padding: .25rem .35rem; }
form#fields .help { display: block; color: var(--muted); font-size: .78rem; }
form#fields .gpus { display: grid; grid-template-columns: repeat(auto-fill, minmax(8.5rem, 1fr));
                    gap: .1rem .6rem; }
form#fields .gpus label { margin: .1rem 0; white-space: nowrap; }
form#fields:disabled, fieldset:disabled { opacity: .5; }
.progress { display: flex; gap: .6rem; align-items: center; flex-wrap: wrap; }
.progress progress { flex: 1 1 10rem; min-width: 0; height: 1rem; }
#results.stale { opacity: .35; filter: grayscale(1); }
#results[hidden] { display: none; }
"""
PAGE_CSS = CSS + PAGE_EXTRA_CSS

NAV = ('<nav class="top"><a href="/">Editor</a><a href="/compare">Compare</a>'
       '<a href="/catalog">Catalog</a><a href="/api/docs">API</a></nav>')
PLOTLY_SRC = "/static/plotly.min.js"
RENDER_SRC = "/static/report.js"


#: The editor's workspace: the form, the YAML, the results (filled in by /static/editor.js).
EDITOR_HTML = (
    '<div class="workspace">'
    '<section id="form-pane" aria-label="common fields"><form id="fields" autocomplete="off">'
    '<fieldset id="fields-set"><legend>Scenario</legend>'
    '<label>Name<input type="text" id="f-name" name="name" maxlength="200"></label>'
    '<label>Horizon [years]<input type="number" id="f-horizon_years" name="horizon_years" '
    'min="0.1" max="30" step="any"></label>'
    '<label>Region<select id="f-region" name="region"></select></label>'
    '<label>Financing<select id="f-financing" name="financing"><option value="cash">cash'
    '</option><option value="loan">loan</option></select></label></fieldset>'
    '<fieldset><legend>GPUs to compare</legend><div class="gpus" id="f-gpus"></div>'
    '<span class="help" id="help-gpus"></span></fieldset>'
    '<fieldset><legend>Workloads</legend><div id="f-workloads"></div></fieldset>'
    '<p class="small">Field help comes from the <a href="/api/schema">scenario JSON Schema'
    '</a>. A form edit rewrites the YAML (its comments are not kept).</p>'
    '<p id="form-error" class="error" hidden></p></form></section>'
    '<section id="yaml-pane"><label for="yaml"><b>Scenario (YAML)</b></label>'
    '<textarea id="yaml" spellcheck="false" autocomplete="off">{example}</textarea>'
    '<div class="save"><input id="save-name" placeholder="name" maxlength="100" '
    'aria-label="scenario name"><input id="save-comment" placeholder="comment" '
    'maxlength="2000" aria-label="comment"><button id="save" type="button">Save'
    '</button><span id="save-status" class="small"></span></div>'
    '<h3>Saved scenarios</h3><ul id="saved"></ul></section>'
    '<section id="results-pane" aria-live="polite">'
    '<div class="progress"><progress id="progress" max="1" value="0"></progress>'
    '<button id="cancel" type="button" disabled>Cancel</button></div>'
    '<p id="status" class="small">loading…</p>'
    '<p class="small">Each plan may compute for at most {limit} s on the server.</p>'
    '<p id="error" class="error" hidden></p>'
    '<div id="results"><h2>Recommendation</h2><p id="recommendation" class="rec"></p>'
    '<div class="scroll"><table id="summary-table"><thead></thead><tbody></tbody>'
    '</table></div><div id="chart" class="fig"></div></div></section></div>')


def page(title: str, body: str, scripts: tuple[str, ...] = (), body_class: str = "") -> str:
    """A page with the site's navigation; ``scripts`` are URLs on this server."""
    tags = "".join(f'<script src="{e(s)}"></script>' for s in scripts)
    cls = f' class="{e(body_class)}"' if body_class else ""
    return ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)} · gpuplan</title><style>{PAGE_CSS}</style></head><body{cls}>"
            f"{NAV}{body}{tags}</body></html>\n")


def _header(title: str, meta: str = "") -> str:
    return (f'<header class="page"><h1>{e(title)}</h1>'
            + (f'<p class="meta">{e(meta)}</p>' if meta else "") + "</header>")


def _error_page(title: str, msg: str, status: int) -> HTMLResponse:
    return HTMLResponse(page(title, _header(title) + f'<p class="error">{e(msg)}</p>'),
                        status_code=status)


def scenario_link(name: str, revision: int | None = None) -> str:
    q = f"?revision={int(revision)}" if revision is not None else ""
    return f"/report/{quote(name, safe='')}{q}"


# ----------------------------------------------------------------------------------------------
# Catalog page helpers
# ----------------------------------------------------------------------------------------------

_SOURCE_KEYS = ("source", "as_of")
_LEAF_KEYS = {"value", "source", "as_of", "note", "unit", "usd_year"}


def flatten_entry(v: Any, prefix: str = "", src: tuple[str, str] = ("", ""),
                  out: list[tuple[str, Any, str, str, str]] | None = None
                  ) -> list[tuple[str, Any, str, str, str]]:
    """(field, value, source, as_of, note) rows of a catalog entry, nested keys dotted."""
    out = [] if out is None else out
    if isinstance(v, dict):
        if any(k in v for k in _SOURCE_KEYS):
            src = (str(v.get("source") or src[0]), str(v.get("as_of") or src[1]))
        if "value" in v and set(v) <= _LEAF_KEYS:
            out.append((prefix, v.get("value"), *src, str(v.get("note") or "")))
            return out
        for k, x in v.items():
            if k in _SOURCE_KEYS:
                continue
            flatten_entry(x, f"{prefix}.{k}" if prefix else str(k), src, out)
    elif isinstance(v, list):
        if all(not isinstance(x, (dict, list)) for x in v):
            if v:
                out.append((prefix, ", ".join(map(str, v)), *src, ""))
        else:
            for i, x in enumerate(v):
                flatten_entry(x, f"{prefix}[{i}]", src, out)
    elif v is not None and v != "":
        out.append((prefix, v, *src, ""))
    return out


def _catalog_section(title: str, entries: list[dict[str, Any]], anchor: str) -> str:
    items = []
    for d in entries:
        rows = "".join(
            f"<tr><td>{e(f)}</td><td class=\"num\">{e(fmt_num(v))}</td><td>{e(s)}</td>"
            f"<td>{e(a)}</td><td>{e(n)}</td></tr>"
            for f, v, s, a, n in flatten_entry({k: x for k, x in d.items()
                                                if k not in ("id", "name")}))
        items.append(
            f'<details class="entry" data-id="{e(d.get("id"))}"><summary>{e(d.get("id"))}'
            f' — {e(d.get("name", ""))}</summary><table><thead><tr><th>Field</th>'
            f'<th class="num">Value</th><th>Source</th><th>As of</th><th>Note</th></tr>'
            f"</thead><tbody>{rows}</tbody></table></details>")
    return (f'<section id="{e(anchor)}"><h2>{e(title)} ({len(entries)})</h2>'
            + "".join(items) + "</section>")


# ----------------------------------------------------------------------------------------------
# Routes
# ----------------------------------------------------------------------------------------------


def add_pages(app: FastAPI, state: WebState) -> None:
    """Register the HTML pages on ``app``: editor, report, compare, catalog, API docs."""
    _add_editor_and_report(app, state)
    _add_compare(app, state)
    _add_catalog_and_docs(app, state)


def _add_editor_and_report(app: FastAPI, state: WebState) -> None:
    from gpuplan.store import NotFound

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def editor() -> HTMLResponse:
        example = EXAMPLE_SCENARIO.read_text(encoding="utf-8")
        body = (_header("Scenario editor", "Fill in the form or edit the YAML: the plan is "
                                           "recomputed as you type.") + EDITOR_HTML.format(
            example=e(example), limit=e(f"{state.pool.time_limit_s:g}")))
        return HTMLResponse(page("Editor", body, (PLOTLY_SRC, "/static/editor.js"),
                                 body_class="wide"))

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/report/{name}", response_class=HTMLResponse, include_in_schema=False)
    def report(name: str, revision: int | None = Query(None, ge=1)) -> HTMLResponse:
        try:
            rev = state.store.get(name, revision)
            history = state.store.history(name)
            result = state.result_of(rev)
        except NotFound as err:
            return _error_page("Not found", str(err), 404)
        except UserError as err:
            return _error_page("Cannot plan this scenario", str(err), 422)
        items = "".join(
            f'<li><a href="{e(scenario_link(name, r.revision))}">revision {r.revision}</a> · '
            f"{e(r.created_at)} · {e(r.author)}"
            + (f" · {e(r.comment)}" if r.comment else "")
            + (f"<details><summary>changes</summary><pre>{e(r.diff)}</pre></details>"
               if r.diff else "") + "</li>" for r in reversed(history))
        download = f"/api/scenarios/{quote(name, safe='')}/report?" + urlencode(
            {"revision": rev.revision, "download": "true"})
        nav = (NAV + f'<p class="small">Saved scenario <b>{e(name)}</b>, revision '
               f'{rev.revision} of {len(history)} · <a href="{e(download)}">download the '
               f'self-contained report</a></p><details id="history"><summary>History '
               f"({len(history)} revisions)</summary><ul>{items}</ul></details>")
        html = render_html_report(result, scenario_text=rev.yaml_text, plotly_js_src=PLOTLY_SRC,
                                  render_js_src=RENDER_SRC, nav_html=nav)
        return HTMLResponse(html.replace("</style>", PAGE_EXTRA_CSS + "</style>", 1))



def _add_compare(app: FastAPI, state: WebState) -> None:
    from gpuplan.store import NotFound, unified_diff

    @app.get("/compare", response_class=HTMLResponse, include_in_schema=False)
    def compare(a: str | None = Query(None, max_length=100),
                b: str | None = Query(None, max_length=100),
                ra: int | None = Query(None, ge=1),
                rb: int | None = Query(None, ge=1)) -> HTMLResponse:
        names = [s["name"] for s in state.store.list()]

        def select(field: str, chosen: str | None) -> str:
            opts = "".join(f'<option value="{e(n)}"{" selected" if n == chosen else ""}>'
                           f"{e(n)}</option>" for n in names)
            return (f'<label>Scenario {field.upper()}<select name="{field}" id="pick-{field}">'
                    f"{opts}</select></label>")

        form = (f'<form class="pick" method="get" action="/compare">{select("a", a)}'
                f'{select("b", b)}<button type="submit">Compare</button></form>')
        body = _header("Compare saved scenarios") + form
        if not names:
            body += '<p class="small">No saved scenarios yet: save one from the editor.</p>'
        if not (a and b):
            return HTMLResponse(page("Compare", body))
        try:
            va, vb = scenario_view(state, a, ra), scenario_view(state, b, rb)
        except NotFound as err:
            return HTMLResponse(page("Compare", body + f'<p class="error">{e(err)}</p>'),
                                status_code=404)
        except UserError as err:
            return HTMLResponse(page("Compare", body + f'<p class="error">{e(err)}</p>'),
                                status_code=422)
        from gpuplan.report.charts import cumulative_cost_figure

        cols, figs = [], []
        for key, v in (("a", va), ("b", vb)):
            cols.append(
                f'<div class="side" id="side-{key}"><h2><a href="'
                f'{e(scenario_link(v["name"], v["revision"]))}">{e(v["name"])}</a> '
                f'<span class="small">revision {v["revision"]}</span></h2>'
                f'<p class="small">{e(v["scenario"])} · saved {e(v["created_at"])} by '
                f'{e(v["author"])}</p><p class="rec">{e(v["recommendation"])}</p>'
                + summary_table_html(v["result"], table_id=f"summary-{key}")
                + f'<div class="fig" id="fig-{key}"></div></div>')
            figs.append({"id": f"fig-{key}", "figure": cumulative_cost_figure(v["result"])})
        diff = unified_diff(va["yaml_text"], vb["yaml_text"], f"{a}@{va['revision']}",
                            f"{b}@{vb['revision']}")
        body += (f'<div class="cols">{"".join(cols)}</div><h2>Scenario differences</h2>'
                 f'<pre id="yaml-diff">{e(diff) or "(identical)"}</pre>'
                 f'<script type="application/json" id="gpuplan-figures">'
                 f"{json_for_script(figs)}</script>")
        return HTMLResponse(page(f"{a} vs {b}", body, (PLOTLY_SRC, RENDER_SRC)))



def _add_catalog_and_docs(app: FastAPI, state: WebState) -> None:
    @app.get("/catalog", response_class=HTMLResponse, include_in_schema=False)
    def catalog_page() -> HTMLResponse:
        cat = state.catalog
        parts = [_header("Catalog", "Every number with its source and date. JSON: "
                                    "/api/catalog/{gpus,systems,models,clouds,regions}"),
                 '<p><a href="#gpus">GPUs</a> · <a href="#systems">Systems</a> · '
                 '<a href="#models">Models</a> · <a href="#clouds">Clouds</a> · '
                 '<a href="#regions">Regions</a></p>']
        for kind, title in (("gpus", "GPUs"), ("systems", "Systems"), ("models", "Models"),
                            ("clouds", "Cloud prices"), ("regions", "Regions")):
            entries = next(iter(catalog_json(cat, kind).values()))
            parts.append(_catalog_section(title, entries, kind))
        return HTMLResponse(page("Catalog", "".join(parts)))

    @app.get("/api/docs", response_class=HTMLResponse, include_in_schema=False)
    def api_docs(request: Request) -> HTMLResponse:
        spec = app.openapi()
        rows = []
        for path, ops in spec.get("paths", {}).items():
            for method, op in ops.items():
                params = "".join(
                    f"<li><code>{e(p.get('name'))}</code> ({e(p.get('in'))}"
                    f"{', required' if p.get('required') else ''}): "
                    f"{e(_schema_text(p.get('schema', {})))}"
                    + (f" — {e(p.get('description'))}" if p.get("description") else "")
                    + "</li>" for p in op.get("parameters", []))
                body = op.get("requestBody", {}).get("content", {}).get("application/json")
                if body:
                    ref = body.get("schema", {}).get("$ref", "")
                    params += f"<li>JSON body: <code>{e(ref.rsplit('/', 1)[-1])}</code></li>"
                rows.append(f"<h3><code>{e(method.upper())} {e(path)}</code></h3>"
                            f"<p>{e(op.get('summary', ''))}</p><ul>{params}</ul>")
        head = _header("API", "OpenAPI document: /api/openapi.json. Errors: 422 "
                              "{\"detail\": message, \"field\": parameter} for a user error, "
                              "404 unknown saved scenario, 413 body over the limit.")
        return HTMLResponse(page("API", head + "".join(rows)))


def _schema_text(s: dict[str, Any]) -> str:
    if "anyOf" in s:
        return " | ".join(_schema_text(x) for x in s["anyOf"])
    if "enum" in s:
        return " | ".join(map(str, s["enum"]))
    t = s.get("type", "")
    bounds = [f"{k} {s[k]}" for k in ("minimum", "maximum", "exclusiveMinimum",
                                      "exclusiveMaximum", "maxLength") if k in s]
    default = f", default {s['default']}" if "default" in s else ""
    return t + (f" ({', '.join(bounds)})" if bounds else "") + default
