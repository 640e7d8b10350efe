"""CLI / web API / Python API parity: the same inputs give the same JSON on every interface.

Each command runs through typer's runner with ``--json`` and through the matching web route
(FastAPI's test client), with the same inputs; the two JSON documents must be equal, key for
key and value for value (``train`` and ``serve`` include ``cost_usd``: pricing is the
pipeline's, not the CLI's). ``gpuplan.train`` / ``gpuplan.serve`` must give the same too, and a
user mistake must be the same message, naming the flag on the CLI and the field on the web.
Inputs are small (an 8B model, 64 GPUs, a few hundred Monte Carlo draws) to keep this fast.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from typer.testing import CliRunner

with warnings.catch_warnings():  # starlette's notice about its httpx-based client
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

import gpuplan
from gpuplan.cli.app import app as cli_app
from gpuplan.errors import UserError
from gpuplan.web import create_app

M, G = "llama-3.1-8b", "h100-sxm"
SCENARIO = f"""
name: parity
horizon_years: 3
hardware_options:
  - {{gpu: {G}, system: dgx-h100}}
  - {{gpu: h200}}
workloads:
  - {{kind: train, name: pretrain, model: {M}, tokens: 5.0e+11, runs_per_year: 12, gpus: 64}}
  - {{kind: serve, name: chat, model: {M}, rate: 5, input_tokens: 1000, output_tokens: 200}}
risk: {{samples: 200}}
"""

#: command -> (CLI arguments, web method, web path, query or JSON body)
CASES: dict[str, tuple[list[str], str, str, dict[str, Any]]] = {
    "fit": (["fit", M, "--gpu", G, "--mode", "train", "--seq-len", "2048"],
            "GET", "/api/fit", {"model": M, "gpu": G, "mode": "train", "seq_len": 2048}),
    "train": (["train", M, "--gpu", G, "--gpus", "64", "--tokens", "1e11"],
              "GET", "/api/train", {"model": M, "gpu": G, "gpus": 64, "tokens": 1e11}),
    "train-priced": (["train", M, "--gpu", G, "--gpus", "64", "--tokens", "1e11",
                      "--rent-usd-per-gpu-hour", "2.5", "--no-failures"],
                     "GET", "/api/train", {"model": M, "gpu": G, "gpus": 64, "tokens": 1e11,
                                           "rent_usd_per_gpu_hour": 2.5,
                                           "no_failures": True}),
    "serve": (["serve", M, "--gpu", G, "--rate", "5", "--ttft-ms", "500"],
              "GET", "/api/serve", {"model": M, "gpu": G, "rate": 5, "ttft_ms": 500}),
    "serve-server": (["serve", M, "--gpu", G, "--scenario", "server", "--ttft-ms", "2000",
                      "--tpot-ms", "200"],
                     "GET", "/api/serve", {"model": M, "gpu": G, "scenario": "server",
                                           "ttft_ms": 2000, "tpot_ms": 200}),
    "serve-engine": (["serve", M, "--gpu", G, "--engine", "vllm", "--output-tokens", "1024"],
                     "GET", "/api/serve", {"model": M, "gpu": G, "engine": "vllm",
                                           "output_tokens": 1024}),
    "cluster": (["cluster", "--gpu", G, "--gpus", "64", "--dataset-tb", "10"],
                "GET", "/api/cluster", {"gpu": G, "gpus": 64, "dataset_tb": 10}),
    "tco": (["tco", "--gpu", G, "--gpus", "64", "--years", "4", "--loan", "share=0.5,term=3",
             "--risk-samples", "200"],
            "GET", "/api/tco", {"gpu": G, "gpus": 64, "years": 4, "loan": "share=0.5,term=3",
                                "risk_samples": 200}),
    "tco-cloud-price": (["tco", "--gpu", G, "--gpus", "64", "--cloud", "2.1"],
                        "GET", "/api/tco", {"gpu": G, "gpus": 64, "cloud": "2.1"}),
    "budget": (["budget", "5e7", "--gpu", G, "--model", M],
               "GET", "/api/budget", {"usd": 5e7, "gpu": G, "model": M}),
    "plan": (["plan", "{scenario}"], "POST", "/api/plan", {"yaml": SCENARIO}),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    d = tmp_path_factory.mktemp("parity")
    return TestClient(create_app(f"sqlite:///{d / 'web.db'}", spec_dir=d),
                      base_url="http://127.0.0.1")


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("parity-scenario") / "parity.yaml"
    p.write_text(SCENARIO, encoding="utf-8")
    return p


def _cli_json(args: list[str]) -> dict[str, Any]:
    r = CliRunner().invoke(cli_app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _web(client: TestClient, method: str, path: str, data: dict[str, Any]) -> Any:
    if method == "GET":
        return client.get(path, params=data)
    return client.post(path, json=data)


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where ``a`` and ``b`` differ (keys, lengths, values), for a readable failure."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}.{k}: only on the {'CLI' if k in a else 'web'}"
               for k in sorted(set(a) ^ set(b))]
        return out + [d for k in a.keys() & b.keys()
                      for d in _differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items on the CLI, {len(b)} on the web"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: CLI {a!r}, web {b!r}"]


@pytest.mark.parametrize("case", list(CASES))
def test_cli_and_web_give_the_same_json(case, client, scenario_file):
    args, method, path, data = CASES[case]
    cli = _cli_json([str(scenario_file) if a == "{scenario}" else a for a in args])
    r = _web(client, method, path, data)
    assert r.status_code == 200, r.text
    web = r.json()
    assert list(cli) == list(web)  # same keys, in the same order
    assert not _differences(cli, web)
    assert cli == web


def test_train_and_serve_are_priced_on_every_interface(client):
    """The pipeline prices a run and a fleet: the web does not answer null costs (issue 15)."""
    from gpuplan.money import default_rent_usd_per_gpu_hour

    rent = default_rent_usd_per_gpu_hour(G, gpuplan.load_catalog())
    train = client.get("/api/train", params=CASES["train"][3]).json()
    assert train["cost_usd"]["rent"] == pytest.approx(train["gpu_hours"] * rent, rel=1e-12)
    assert train["cost_usd"]["own"] > 0
    serve = client.get("/api/serve", params=CASES["serve"][3]).json()
    assert serve["cost_usd"]["rent_usd_per_gpu_hour"] == rent
    assert serve["cost_usd"]["rent_usd_per_hour"] == pytest.approx(rent * serve["gpus"])
    assert serve["cost_usd"]["own_usd_per_million_output_tokens"] > 0


def test_python_api_is_the_cli_json():
    """``gpuplan.train`` / ``gpuplan.serve`` are the priced pipeline functions the CLI calls."""
    r = gpuplan.train(M, G, 64, 1e11)
    assert json.loads(json.dumps(r.model_dump())) == _cli_json(CASES["train"][0])
    s = gpuplan.serve(M, G, rate=5, ttft_ms=500)
    assert json.loads(json.dumps(s.model_dump())) == _cli_json(CASES["serve"][0])


@pytest.mark.parametrize("args, path, query, field", [
    (["train", M, "--gpu", G, "--gpus", "64", "--tokens", "1e11", "--global-batch-tokens", "100"],
     "/api/train", {"model": M, "gpu": G, "gpus": 64, "tokens": 1e11,
                    "global_batch_tokens": 100}, "global_batch_tokens"),
    (["tco", "--gpu", G, "--gpus", "64", "--loan", "share=2"],
     "/api/tco", {"gpu": G, "gpus": 64, "loan": "share=2"}, None),
    (["budget", "1000", "--gpu", G], "/api/budget", {"usd": 1000, "gpu": G}, "usd"),
])
def test_a_user_error_is_the_same_mistake_on_both(client, args, path, query, field):
    """Same message: the CLI writes the parameter as its flag, the web names it as ``field``."""
    r = CliRunner().invoke(cli_app, [*args, "--json"])
    assert r.exit_code == 2
    line = r.stderr.strip()
    assert line.startswith("gpuplan: error: ") and "\n" not in line
    w = client.get(path, params=query)
    assert w.status_code == 422
    body = w.json()
    if field is not None:
        assert body["field"] == field
    err = UserError(body["detail"], field=body["field"])
    assert line == "gpuplan: error: " + err.as_flag_message()
