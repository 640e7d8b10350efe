"""The web API against its own OpenAPI spec (schemathesis), in process through ASGI.

Every operation in ``/api/openapi.json`` is called with generated requests — valid ones and
ones that break the schema (wrong types, out-of-range numbers, missing fields) — and each answer
must not be a server error and must match the response schema of the spec. Free-text fields
(model, GPU, scenario YAML) rarely hit a real catalog name at random, so a second, hand-written
hypothesis test sends catalog names with numbers drawn over the whole accepted range (and just
outside it) to the compute endpoints, where the arithmetic is: no 5xx there either.

Bounded: 15 fuzzed examples per operation (the plan endpoints run the whole pipeline when the
YAML happens to be valid) plus schemathesis' deterministic coverage cases (boundary and
out-of-range values of every parameter: ~1,850 of the ~2,030 requests); the app's lifespan is
answered by the test so the plan workers start once. Measured: 13 s for the module on this
2-core machine (30 s when every operation restarted the worker processes, ~100 s under load).
"""

from __future__ import annotations

import math
import tempfile
import warnings
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance  # noqa: E402

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from gpuplan.web import create_app  # noqa: E402

#: Host names the in-process clients send (schemathesis' ASGI client says "testserver").
HOSTS = ("testserver", "127.0.0.1", "localhost")
EXAMPLES_PER_OPERATION = 15
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
SCENARIO = """
name: tiny
horizon_years: 3
hardware_options:
  - {gpu: h100-sxm, system: dgx-h100}
workloads:
  - {kind: serve, name: chat, model: llama-3.1-8b, rate: 2, input_tokens: 500,
     output_tokens: 100}
risk: {samples: 100}
"""


# Built at import (schemathesis parametrizes at collection time); the store is a throw-away
# SQLite file in a temporary folder removed when the interpreter exits. Nothing is saved
# until the first test runs.
_TMP = tempfile.TemporaryDirectory(prefix="gpuplan-api-schema-")
APP = create_app(f"sqlite:///{Path(_TMP.name) / 's.db'}", spec_dir=_TMP.name,
                 allowed_hosts=HOSTS)


async def _app_without_lifespan(scope, receive, send):
    """APP with its lifespan answered here: schemathesis starts and stops an ASGI app's
    lifespan around every test (every operation), which started and stopped the plan worker
    processes 24 times (8 s of the module's 30 s). Without it the pool starts on the first plan
    (as documented for test clients) and is closed once, by the ``web_app`` fixture."""
    if scope["type"] != "lifespan":
        await APP(scope, receive, send)
        return
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


schema = schemathesis.openapi.from_asgi("/api/openapi.json", _app_without_lifespan)


@pytest.fixture(scope="module")
def web_app():
    # Something saved, so that the scenario endpoints also answer 200 for one name.
    c = TestClient(APP, base_url="http://127.0.0.1")
    r = c.post("/api/scenarios", json={"name": "saved", "yaml": SCENARIO})
    assert r.status_code == 201, r.text
    yield APP
    APP.state.gpuplan.pool.close()


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(web_app, case):
    response = case.call()
    case.validate_response(response, checks=CHECKS)


def _detail(response):
    try:
        return response.json().get("detail")
    except Exception:
        return None


def _resolve(spec, node):
    while "$ref" in node:
        node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _accepts(spec, node, value) -> bool:
    """Does the (small subset of) JSON Schema ``node`` accept ``value``'s JSON type?"""
    node = _resolve(spec, node)
    if "anyOf" in node or "oneOf" in node:
        return any(_accepts(spec, n, value) for n in node.get("anyOf", node.get("oneOf")))
    t = node.get("type")
    return t is None or {"array": list, "string": str, "object": dict}.get(t, object) \
        is type(value)


@pytest.mark.parametrize("path", ["/api/fit?model=nope&gpu=h100-sxm",
                                  "/api/cluster?gpu=nope&gpus=8",
                                  "/api/tco?gpu=h100-sxm&gpus=8&region=nope",
                                  "/api/budget?usd=1e9&gpu=h100-sxm&region=nope"])
def test_user_error_422_matches_declared_schema(web_app, path):
    c = TestClient(web_app, base_url="http://127.0.0.1")
    r = c.get(path)
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert "nope" in detail  # names the value
    assert r.json()["field"] is None or isinstance(r.json()["field"], str)
    spec = web_app.openapi()
    op = spec["paths"][path.split("?")[0]]["get"]
    declared = _resolve(spec, op["responses"]["422"]["content"]["application/json"]["schema"])
    branches = [_resolve(spec, b) for b in declared.get("anyOf", [declared])]
    assert any(_accepts(spec, b["properties"]["detail"], detail) for b in branches)


# ----------------------------------------------------------------------------------------------
# Catalog names with numbers over (and just past) the accepted ranges
# ----------------------------------------------------------------------------------------------

GPUS = ["h100-sxm", "h200", "b200", "a100-80gb", "mi300x"]
MODELS = ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "deepseek-v3", "qwen2.5-7b"]


@pytest.fixture(scope="module")
def client(web_app):
    return TestClient(web_app, base_url="http://127.0.0.1")


@pytest.fixture(scope="module")
def names(cat):
    gpus = [g for g in GPUS if g in cat.accelerators] or sorted(cat.accelerators)[:3]
    models = [m for m in MODELS if m in cat.models] or sorted(cat.models)[:3]
    return gpus, models


def _num(lo: float, hi: float, *, integer: bool):
    """A number in [lo, hi], its edges, or just outside (the API must say 422, not 500)."""
    if integer:
        inside = st.integers(int(lo), int(hi))
        edges = st.sampled_from([int(lo), int(hi), int(lo) - 1, int(hi) + 1, 0, -1])
    else:
        inside = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
        edges = st.sampled_from([lo, hi, -1.0, 0.0, hi * 10, math.inf, math.nan, 1e30])
    return st.one_of(inside, edges)


def _query(draw, spec):
    q = {}
    for key, (lo, hi, integer, optional) in spec.items():
        if optional and draw(st.booleans()):
            continue
        v = draw(_num(lo, hi, integer=integer))
        q[key] = v if integer else repr(v)
    return q


FIT = {"seq_len": (1, 2**22, True, True), "batch": (1, 2**20, True, True)}
TRAIN = {"gpus": (1, 2**24, True, False), "tokens": (1.0, 1e16, False, False),
         "seq_len": (1, 2**22, True, True), "global_batch_tokens": (1.0, 1e10, False, True),
         "rent_usd_per_gpu_hour": (0.01, 1e4, False, True)}
SERVE = {"input_tokens": (1, 2**22, True, True), "output_tokens": (1, 2**22, True, True),
         "rate": (1e-6, 1e9, False, True), "ttft_ms": (1e-3, 1e7, False, True),
         "tpot_ms": (1e-3, 1e7, False, True), "max_batch": (1, 2**20, True, True),
         "headroom": (0.0, 10.0, False, True), "tp": (1, 1024, True, True)}
CLUSTER = {"gpus": (1, 2**24, True, False), "rack_power_kw": (0.01, 1e4, False, True),
           "oversubscription": (1.0, 64.0, False, True), "dataset_tb": (0.0, 1e9 - 1, False, True)}
TCO = {"gpus": (1, 2**24, True, False), "years": (0.25, 30.0, False, True),
       "utilisation": (0.01, 1.0, False, True), "discount_rate": (-0.49, 1.0, False, True),
       "risk_samples": (0, 2000, True, True)}
BUDGET = {"usd": (1e5, 1e13, False, False), "years": (0.25, 30.0, False, True),
          "opex_reserve_fraction": (0.0, 0.99, False, True)}


@st.composite
def compute_requests(draw, names):
    gpus, models = names
    route = draw(st.sampled_from(["fit", "train", "serve", "cluster", "tco", "budget"]))
    q = {"gpu": draw(st.sampled_from(gpus))}
    if route in ("fit", "train", "serve"):
        q["model"] = draw(st.sampled_from(models))
    q |= _query(draw, {"fit": FIT, "train": TRAIN, "serve": SERVE, "cluster": CLUSTER,
                       "tco": TCO, "budget": BUDGET}[route])
    if route == "fit":
        q["mode"] = draw(st.sampled_from(["inference", "train", "finetune", "lora", "qlora"]))
    return route, q


def test_compute_endpoints_never_5xx(client, names):
    seen = {}

    @settings(max_examples=40, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(compute_requests(names))
    def run(req):
        route, q = req
        r = client.get(f"/api/{route}", params=q)
        assert r.status_code < 500, (route, q, r.text[:500])
        assert r.status_code in (200, 422), (route, q, r.status_code, r.text[:300])
        if r.status_code == 422:
            assert r.json()["detail"], (route, q)
        seen[r.status_code] = seen.get(r.status_code, 0) + 1

    run()
    assert seen.get(200, 0) > 0 and seen.get(422, 0) > 0, seen
