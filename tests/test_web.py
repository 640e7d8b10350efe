"""The web app: every API endpoint through FastAPI's test client, and the pages in Chromium."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():  # starlette's notice about its httpx-based client
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from gpuplan.web import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "enterprise-70b.yaml"
# The enterprise example with few Monte Carlo samples (fast).
SCENARIO = """
name: Enterprise 70B
horizon_years: 4
hardware_options:
  - {gpu: h100-sxm, system: dgx-h100}
workloads:
  - {kind: lora, name: monthly LoRA fine-tune, model: llama-3.3-70b, tokens: 2.0e+9,
     runs_per_year: 12, gpus: 8}
  - {kind: serve, name: internal assistant, model: llama-3.3-70b, rate: 20,
     growth_per_year: 0.5, input_tokens: 1500, output_tokens: 300, ttft_ms: 1000,
     tpot_ms: 50, quant: fp8}
cloud: {price_change_per_year: -0.10}
risk: {samples: 500}
"""
EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    d = tmp_path_factory.mktemp("web")
    return create_app(f"sqlite:///{d / 'web.db'}", spec_dir=d)


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app, base_url="http://127.0.0.1")


# ----------------------------------------------------------------------------------------------
# Plan
# ----------------------------------------------------------------------------------------------


def test_plan(client):
    r = client.post("/api/plan", json={"yaml": SCENARIO})
    assert r.status_code == 200
    j = r.json()
    assert j["scenario"] == "Enterprise 70B" and j["recommendation"]
    assert j["options"][0]["tco"]["cash_flows"]["month"][0] == 0
    assert j["risk"]["n_samples"] == 500


@pytest.mark.parametrize("text,needle", [
    ("name: [unclosed", "not valid YAML"),
    (SCENARIO.replace("rate: 20", "rate: -20"), "rate"),
    (SCENARIO.replace("gpu: h100-sxm", "gpu: h900"), "unknown GPU 'h900'"),
    (SCENARIO.replace("gpu: h100-sxm", "gpu: /etc/passwd.yaml"), "catalog names only"),
    (SCENARIO.replace("model: llama-3.3-70b, tokens", "model: /etc, tokens"),
     "catalog names only"),
])
def test_plan_422_with_the_user_error(client, text, needle):
    r = client.post("/api/plan", json={"yaml": text})
    assert r.status_code == 422
    assert needle in r.json()["detail"]


def test_plan_recsys_spec_must_stay_in_spec_dir(client):
    text = SCENARIO.replace(
        "cloud:", "  - {kind: recsys, name: rec, spec: ../../etc/x.yaml, qps: 10, "
                  "samples_per_day: 1.0e+6}\ncloud:")
    r = client.post("/api/plan", json={"yaml": text})
    assert r.status_code == 422 and "spec folder" in r.json()["detail"]


def test_plan_recsys_spec_inside_spec_dir(tmp_path):
    import shutil

    shutil.copy(EXAMPLE.parent / "recsys" / "dlrm-dcnv2.yaml", tmp_path / "dlrm.yaml")
    c = TestClient(create_app(f"sqlite:///{tmp_path / 'w.db'}", spec_dir=tmp_path),
                   base_url="http://127.0.0.1")
    text = """
name: rec
hardware_options: [{gpu: h100-sxm}]
workloads:
  - {kind: recsys, name: rec, spec: dlrm.yaml, qps: 1000, samples_per_day: 1.0e+8}
risk: {samples: 200}
"""
    r = c.post("/api/plan", json={"yaml": text})
    assert r.status_code == 200, r.text
    assert r.json()["workloads"][0]["kind"] == "recsys"


def test_plan_preview(client):
    r = client.post("/api/plan/preview", json={"yaml": SCENARIO})
    assert r.status_code == 200
    j = r.json()
    assert j["summary"][0]["option"] == "h100-sxm (dgx-h100)"
    assert j["summary"][0]["gpus"] == str(j["numbers"][0]["gpus"])
    assert j["figures"]["cumulative"]["data"]
    assert [h[0] for h in j["summary_headers"]][:2] == ["option", "gpus"]


def test_body_limit_413(client):
    big = json.dumps({"yaml": "#" * (2**20 + 1)})
    r = client.post("/api/plan", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413

    def chunks():  # no Content-Length: the streamed bytes are counted
        for _ in range(20):
            yield b"x" * 65536

    r = client.post("/api/plan", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_host_and_cross_site_guards(app, client):
    other = TestClient(app)  # Host: testserver, not a loopback name
    assert other.get("/api/catalog/gpus").status_code == 400
    r = client.post("/api/plan", json={"yaml": SCENARIO},
                    headers={"origin": "http://evil.example"})
    assert r.status_code == 403
    r = client.post("/api/plan", json={"yaml": SCENARIO},
                    headers={"origin": "http://127.0.0.1:9999"})  # another local port
    assert r.status_code == 403
    r = client.post("/api/plan", json={"yaml": SCENARIO}, headers={"origin": "http://127.0.0.1"})
    assert r.status_code == 200
    h = client.get("/").headers
    assert "script-src 'self'" in h["content-security-policy"]
    assert h["x-content-type-options"] == "nosniff" and h["x-frame-options"] == "DENY"


# ----------------------------------------------------------------------------------------------
# Single questions and the catalog
# ----------------------------------------------------------------------------------------------


def test_fit_train_serve_cluster(client):
    r = client.get("/api/fit", params={"model": "llama-3.3-70b", "gpu": "h100-sxm"})
    assert r.status_code == 200 and {"fits", "min_gpus", "per_gpu_bytes"} <= r.json().keys()
    r = client.get("/api/train", params={"model": "llama-3.1-8b", "gpu": "h100-sxm",
                                         "gpus": 8, "tokens": 1e9})
    assert r.status_code == 200 and r.json()["wall_days"] > 0
    r = client.get("/api/serve", params={"model": "llama-3.1-8b", "gpu": "h100-sxm",
                                         "rate": 5})
    assert r.status_code == 200 and r.json()["gpus"] >= 1
    r = client.get("/api/cluster", params={"gpu": "h100-sxm", "gpus": 64})
    assert r.status_code == 200 and r.json()["nodes"] == 8


def test_train_and_serve_are_priced(client):
    """The pipeline fills ``cost_usd`` on the web too (it used to answer nulls)."""
    r = client.get("/api/train", params={"model": "llama-3.1-8b", "gpu": "h100-sxm",
                                         "gpus": 8, "tokens": 1e9,
                                         "rent_usd_per_gpu_hour": 3.0})
    j = r.json()
    assert j["cost_usd"]["rent"] == pytest.approx(j["gpu_hours"] * 3.0)
    assert j["cost_usd"]["own"] > 0  # the catalog's owned GPU-hour
    r = client.get("/api/serve", params={"model": "llama-3.1-8b", "gpu": "h100-sxm", "rate": 5,
                                         "own_usd_per_gpu_hour": 1.5})
    c = r.json()["cost_usd"]
    assert c["own_usd_per_gpu_hour"] == 1.5
    assert c["own_usd_per_hour"] == pytest.approx(1.5 * r.json()["gpus"])
    assert c["rent_usd_per_gpu_hour"] > 0


def test_tco_and_budget(client):
    r = client.get("/api/tco", params={"gpu": "h100-sxm", "gpus": 64, "years": 3,
                                       "risk_samples": 100, "seed": 7})
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["gpus"] == 64 and j["years"] == 3 and "inputs" in j
    assert j["risk"]["n_samples"] == 100 and j["risk"]["seed"] == 7
    assert client.get("/api/tco", params={"gpu": "h100-sxm", "gpus": 64}).json()["risk"] is None
    r = client.get("/api/budget", params={"usd": 5e7, "gpu": "h100-sxm"})
    assert r.status_code == 200, r.text
    b = r.json()
    assert b["capex_usd"]["total"] <= b["capex_budget_usd"] == pytest.approx(5e7 * (
        1 - b["opex_reserve_fraction"]))
    r = client.get("/api/budget", params={"usd": 5e7, "gpu": "h100-sxm",
                                          "serve_model": "../x.json"})
    assert r.status_code == 422 and "catalog names only" in r.json()["detail"]


def test_user_error_422_names_the_field(client):
    r = client.get("/api/train", params={"model": "llama-3.1-8b", "gpu": "h100-sxm", "gpus": 8,
                                         "tokens": 1e9, "global_batch_tokens": 10})
    assert r.status_code == 422
    j = r.json()
    assert j["field"] == "global_batch_tokens" and j["detail"].startswith("global_batch_tokens")
    r = client.get("/api/tco", params={"gpu": "h100-sxm", "gpus": 8, "loan": "term=-1"})
    assert r.status_code == 422 and set(r.json()) == {"detail", "field"}
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]["UserErrorDetail"]
    assert schema["required"] == ["detail"] and "field" in schema["properties"]


def test_web_modules_have_no_import_cycle():
    """state and pages never import the app module; the app imports them (one direction)."""
    import ast

    import gpuplan.web

    folder = Path(gpuplan.web.__file__).parent
    imports = {}
    for f in folder.glob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
        imports[f.stem] = {n.rsplit(".", 1)[-1] for n in names if n.startswith("gpuplan.web.")}
    for low in ("state", "pages", "api", "security"):
        assert "app" not in imports[low], low
    assert "pages" not in imports["api"] and "api" not in imports["pages"]


@pytest.mark.parametrize("path,params,needle", [
    ("/api/fit", {"model": "llama-3.3-70b", "gpu": "h900"}, "unknown GPU"),
    ("/api/fit", {"model": "../../config.json", "gpu": "h100-sxm"}, "catalog names only"),
    ("/api/train", {"model": "llama-3.1-8b", "gpu": "h100-sxm", "gpus": 8, "tokens": 1e9,
                    "layout": "tp=3"}, ""),
    ("/api/serve", {"model": "nope", "gpu": "h100-sxm"}, "unknown model"),
    ("/api/cluster", {"gpu": "h100-sxm", "gpus": 64, "system": "dgx-nope"}, "system"),
    ("/api/cluster", {"gpu": "h100-sxm", "gpus": 0}, ""),  # FastAPI's own validation
])
def test_single_questions_422(client, path, params, needle):
    r = client.get(path, params=params)
    assert r.status_code == 422
    assert needle in json.dumps(r.json()["detail"])


@pytest.mark.parametrize("kind,key", [("gpus", "accelerators"), ("systems", "systems"),
                                      ("models", "models"), ("clouds", "clouds"),
                                      ("regions", "regions")])
def test_catalog(client, kind, key):
    r = client.get(f"/api/catalog/{kind}")
    assert r.status_code == 200
    entries = r.json()[key]
    assert entries and all("id" in x for x in entries)
    assert "source" in json.dumps(entries)


def test_catalog_unknown_kind(client):
    r = client.get("/api/catalog/fabrics")
    assert r.status_code == 404 and "accepted: gpus" in r.json()["detail"]


# ----------------------------------------------------------------------------------------------
# Saved scenarios
# ----------------------------------------------------------------------------------------------


def test_scenarios_crud_report_compare(client):
    r = client.post("/api/scenarios", json={"name": "crud-a", "yaml": SCENARIO,
                                            "author": "ana", "comment": "first"})
    assert r.status_code == 201 and r.json()["revision"] == 1
    r = client.post("/api/scenarios", json={"name": "crud-a",
                                            "yaml": SCENARIO.replace("rate: 20", "rate: 80")})
    assert r.json()["revision"] == 2
    assert client.post("/api/scenarios", json={"name": "crud-b", "yaml": SCENARIO}
                       ).status_code == 201

    names = [s["name"] for s in client.get("/api/scenarios").json()["scenarios"]]
    assert {"crud-a", "crud-b"} <= set(names)

    j = client.get("/api/scenarios/crud-a").json()
    assert j["revision"]["revision"] == 2 and "rate: 80" in j["revision"]["yaml_text"]
    assert j["revision"]["result"]["scenario"] == "Enterprise 70B"
    assert [h["revision"] for h in j["history"]] == [1, 2]
    assert j["history"][0]["author"] == "ana"
    assert re.search(r"^\+.*rate: 80", j["history"][1]["diff"], re.M)
    assert client.get("/api/scenarios/crud-a", params={"revision": 1}
                      ).json()["revision"]["revision"] == 1

    r = client.get("/api/scenarios/crud-a/report")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src 'unsafe-inline'" in r.headers["content-security-policy"]
    assert not re.search(r"<script[^>]*\bsrc=", r.text) and len(r.text) > 1_000_000
    r = client.get("/api/scenarios/crud-a/report", params={"download": "true", "revision": 1})
    assert 'filename="crud-a-r1.html"' in r.headers["content-disposition"]

    r = client.get("/api/compare", params={"a": "crud-a", "b": "crud-b"})
    assert r.status_code == 200
    j = r.json()
    assert j["a"]["name"] == "crud-a" and j["b"]["name"] == "crud-b"
    assert j["a"]["summary"][0]["gpus"] > j["b"]["summary"][0]["gpus"]  # 80 vs 20 requests/s
    assert re.search(r"^-.*rate: 80", j["yaml_diff"], re.M)
    assert re.search(r"^\+.*rate: 20", j["yaml_diff"], re.M)

    assert client.delete("/api/scenarios/crud-b").json()["deleted_revisions"] == 1
    assert client.get("/api/scenarios/crud-b").status_code == 404
    assert client.get("/api/scenarios/crud-b/report").status_code == 404
    assert client.get("/api/compare", params={"a": "crud-a", "b": "crud-b"}).status_code == 404
    assert client.delete("/api/scenarios/crud-b").status_code == 404


@pytest.mark.parametrize("body,needle", [
    ({"name": "../x", "yaml": SCENARIO}, "not accepted"),
    ({"name": "ok", "yaml": "name: x\n"}, "hardware_options"),
    ({"name": "ok"}, "yaml"),
])
def test_save_422(client, body, needle):
    r = client.post("/api/scenarios", json=body)
    assert r.status_code == 422 and needle in json.dumps(r.json()["detail"])


def test_pages_escape_user_text(client):
    text = SCENARIO.replace("name: Enterprise 70B", f"name: '{EVIL}'")
    r = client.post("/api/scenarios", json={"name": "xss", "yaml": text,
                                            "comment": "<img src=x onerror=alert(1)>",
                                            "author": "<b>mallory</b>"})
    assert r.status_code == 201
    for path in ("/report/xss", "/compare?a=xss&b=xss", "/api/scenarios/xss/report"):
        html = client.get(path).text
        assert EVIL not in html and "<img src=x" not in html and "<b>mallory" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# ----------------------------------------------------------------------------------------------
# Pages and static files
# ----------------------------------------------------------------------------------------------


def test_pages_and_static(client):
    home = client.get("/").text
    assert 'id="yaml"' in home and "hardware_options" in home and "rate: 20" in home
    assert '<script src="/static/plotly.min.js"></script>' in home
    assert not re.search(r"<script[^>]*\bsrc=[\"']?https?:", home)
    assert not re.search(r"<script>(?!</script>)", home)  # no inline scripts
    r = client.get("/static/plotly.min.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert len(r.content) > 1_000_000
    assert client.get("/static/editor.js").status_code == 200
    assert "Plotly.newPlot" in client.get("/static/report.js").text
    for bad in ("/static/..%2Fapp.py", "/static/%2e%2e/app.py", "/static/nope.js"):
        assert client.get(bad).status_code == 404
    cat = client.get("/catalog").text
    assert "h100-sxm" in cat and "Source" in cat and "regions" in cat
    docs = client.get("/api/docs").text
    assert "/api/plan" in docs and "/api/compare" in docs
    spec = client.get("/api/openapi.json").json()
    assert {"/api/plan", "/api/fit", "/api/train", "/api/serve", "/api/cluster", "/api/tco",
            "/api/budget", "/api/catalog/{kind}", "/api/scenarios", "/api/scenarios/{name}",
            "/api/scenarios/{name}/report", "/api/compare"} <= spec["paths"].keys()
    assert client.get("/report/nothing-saved").status_code == 404
    assert client.get("/compare").status_code == 200


def test_serve_binds_loopback_by_default(monkeypatch, capsys):
    import uvicorn

    from gpuplan.errors import UserError
    from gpuplan.web import serve

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    serve(store_url="sqlite://")
    app, kw = calls[-1]
    assert kw["host"] == "127.0.0.1" and kw["port"] == 8000
    assert TestClient(app).get("/api/catalog/gpus").status_code == 400  # Host checked
    assert capsys.readouterr().err == ""
    serve(host="0.0.0.0", port=9000, store_url="sqlite://")
    assert "not loopback" in capsys.readouterr().err
    assert TestClient(calls[-1][0]).get("/api/catalog/gpus").status_code == 200
    with pytest.raises(UserError, match="port"):
        serve(port=0)


# ----------------------------------------------------------------------------------------------
# In a browser
# ----------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server(tmp_path):
    import uvicorn

    port = _free_port()
    app = create_app(f"sqlite:///{tmp_path / 'browser.db'}", spec_dir=tmp_path)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at "
                    "/usr/bin/chromium (apt-get install chromium; never `playwright install`)")
def test_browser_edit_save_compare(live_server):
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                    headless=True)
        try:
            page = browser.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(live_server + "/")
            page.wait_for_selector("body[data-plan-renders='1']", state="attached",
                                   timeout=30000)
            gpus = page.locator('#summary-table tbody tr:first-child td[data-key="gpus"]')
            before = gpus.inner_text()
            assert int(before.replace(",", "")) > 0
            assert page.locator("#recommendation").inner_text()
            trace = "document.getElementById('chart').data[0].y.slice(-1)[0]"
            chart_before = page.evaluate(trace)

            text = page.input_value("#yaml")
            assert "rate: 20" in text
            page.fill("#yaml", text.replace("rate: 20", "rate: 80"))  # fires `input`
            page.wait_for_selector("body[data-plan-renders='2']", state="attached",
                                   timeout=30000)
            after = gpus.inner_text()
            assert int(after.replace(",", "")) > int(before.replace(",", ""))
            assert page.evaluate(trace) > chart_before  # more GPUs cost more to own

            page.fill("#save-name", "browser-80")
            page.click("#save")
            page.wait_for_selector("body[data-last-saved='browser-80@1']", state="attached")
            page.fill("#yaml", text)  # back to 20 requests/s
            page.wait_for_selector("body[data-plan-renders='3']", state="attached",
                                   timeout=30000)
            assert gpus.inner_text() == before
            page.fill("#save-name", "browser-20")
            page.click("#save")
            page.wait_for_selector("body[data-last-saved='browser-20@1']", state="attached")
            page.wait_for_selector("#saved li >> text=browser-20")

            page.goto(live_server + "/compare?a=browser-80&b=browser-20")
            page.wait_for_selector("#fig-a .main-svg")
            page.wait_for_selector("#fig-b .main-svg")
            assert "browser-80" in page.inner_text("#side-a h2")
            assert "browser-20" in page.inner_text("#side-b h2")
            a = page.inner_text('#summary-a tbody tr:first-child td[data-key="gpus"]')
            b = page.inner_text('#summary-b tbody tr:first-child td[data-key="gpus"]')
            assert (a, b) == (after, before)
            assert "rate: 80" in page.inner_text("#yaml-diff")

            page.goto(live_server + "/report/browser-80")
            page.wait_for_selector("#fig-cumulative .main-svg")
            assert page.locator(".js-plotly-plot").count() >= 4
        finally:
            browser.close()
    assert not problems, problems
