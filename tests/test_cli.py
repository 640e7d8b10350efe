"""The CLI through typer's runner: JSON contract, human output, exit status 2 on mistakes."""

import json

import pytest
from typer.testing import CliRunner

from gpuplan.cli.app import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, list(args))


def test_fit_json_contract():
    r = run("fit", "llama-3.1-70b", "--gpu", "h100-sxm", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    for key in ("params", "active_params", "per_gpu_bytes", "gpu_memory_bytes", "fits", "min_gpus",
                "layout"):
        assert key in d
    assert set(d["per_gpu_bytes"]) == {"weights", "gradients", "optimizer", "activations",
                                       "kv_cache", "overhead", "total"}
    assert d["per_gpu_bytes"]["total"] == sum(v for k, v in d["per_gpu_bytes"].items()
                                              if k != "total")
    # JSON round-trips through the typed result
    from gpuplan.demand.fitting import FitResult

    assert FitResult.model_validate(d).model_dump() == d


def test_fit_human():
    r = run("fit", "llama-3.1-8b", "--gpu", "h100-sxm", "--mode", "finetune")
    assert r.exit_code == 0, r.output
    assert "fewest GPUs" in r.stdout and "optimizer" in r.stdout


@pytest.mark.parametrize("kind,key", [("gpus", "accelerators"), ("systems", "systems"),
                                      ("models", "models")])
def test_catalog_commands(kind, key):
    r = run("catalog", kind, "--json")
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)[key]) >= 5
    human = run("catalog", kind)
    assert human.exit_code == 0 and len(human.stdout.splitlines()) > 5


@pytest.mark.parametrize("args,needle", [
    (["fit", "llama-9", "--gpu", "h100-sxm"], "unknown model"),
    (["fit", "llama-3.1-8b", "--gpu", "h1000"], "unknown GPU"),
    (["fit", "llama-3.1-8b", "--gpu", "h100-sxm", "--layout", "tp=3"], "tp=3"),
    (["fit", "llama-3.1-8b", "--gpu", "h100-sxm", "--seq-len", "0"], "--seq-len"),
    (["fit", "llama-3.1-8b", "--gpu", "h100-sxm", "--mode", "x"], "--mode"),
    (["fit", "/nonexistent/config.json", "--gpu", "h100-sxm"], "config.json"),
    (["fit", "llama-3.1-8b", "--gpu", "h100-sxm", "--catalog", "/nope.yaml"], "does not exist"),
])
def test_user_errors_exit_2(args, needle):
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert needle in r.stderr
    assert "Traceback" not in r.output
    assert len(r.stderr.strip().splitlines()) == 1


def test_bad_number_exits_2():
    r = run("fit", "llama-3.1-8b", "--gpu", "h100-sxm", "--seq-len", "abc")
    assert r.exit_code == 2


def test_config_missing_field(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"num_hidden_layers": 2}))
    r = run("fit", str(tmp_path), "--gpu", "h100-sxm")
    assert r.exit_code == 2 and "missing a needed field" in r.stderr


def test_console_script_main(capsys):
    from gpuplan.cli.app import main

    with pytest.raises(SystemExit) as e:
        main(["fit", "nope-model", "--gpu", "h100-sxm"])
    assert e.value.code == 2


def test_python_api_mirrors_the_cli():
    import gpuplan

    for name in ("fit", "train", "serve", "plan_recsys", "build_cluster", "tco", "budget", "plan",
                 "load_scenario", "validate", "load_catalog"):
        assert callable(getattr(gpuplan, name)), name
    import gpuplan.demand.fitting  # importing the module must not hide the function

    r = gpuplan.fit("llama-3.1-8b", "h100-sxm")
    assert r.model_dump()["params"] == r.params
    with pytest.raises(AttributeError):
        gpuplan.no_such_thing  # noqa: B018


@pytest.mark.parametrize("args,needles", [
    (["train", "llama-3.1-8b", "--gpu", "h100-sxm", "--gpus", "8", "--tokens", "1e9",
      "--rent-usd-per-gpu-hour", "20000"], ["--rent-usd-per-gpu-hour", "20000"]),
    (["serve", "llama-3.1-8b", "--gpu", "h100-sxm", "--own-usd-per-gpu-hour", "-1"],
     ["--own-usd-per-gpu-hour", "-1"]),
    (["budget", "5e7", "--gpu", "h100-sxm", "--opex-reserve", "1.5"],
     ["--opex-reserve-fraction", "1.5"]),
    (["budget", "5e7", "--gpu", "h100-sxm", "--facility", "tent"], ["--facility", "tent"]),
    (["tco", "--gpu", "h100-sxm", "--gpus", "8", "--risk-samples", "-5"],
     ["--risk-samples", "-5"]),
    (["tco", "--gpu", "h100-sxm", "--gpus", "8", "--residual", "nope"], ["--residual", "nope"]),
])
def test_errors_below_the_cli_name_the_flag(args, needles):
    """The pipeline names the parameter; the CLI writes it as the flag the user typed."""
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert all(n in r.stderr for n in needles), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_flag_aliases_give_the_same_answer():
    """``--opex-reserve`` / ``--rent-price-change`` are kept beside the parameter-named flags."""
    a = run("budget", "5e7", "--gpu", "h100-sxm", "--opex-reserve", "0.2", "--json")
    b = run("budget", "5e7", "--gpu", "h100-sxm", "--opex-reserve-fraction", "0.2", "--json")
    assert a.exit_code == b.exit_code == 0, a.output + b.output
    assert json.loads(a.stdout) == json.loads(b.stdout)
    assert json.loads(a.stdout)["opex_reserve_fraction"] == 0.2
    a = run("tco", "--gpu", "h100-sxm", "--gpus", "8", "--rent-price-change", "-0.1", "--json")
    b = run("tco", "--gpu", "h100-sxm", "--gpus", "8", "--rent-price-change-per-year", "-0.1",
            "--json")
    assert json.loads(a.stdout) == json.loads(b.stdout)
    assert json.loads(a.stdout)["inputs"]["rent_price_change_per_year"] == -0.1
