"""Generated CLI invocations and scenario files for robustness testing (`make fuzz`).

Every generated input must end with exit status 0 or 2 and never with a traceback. The
generator mixes valid values, boundary values and garbage (negative, zero, NaN, inf, huge,
wrong types, unknown names, non-UTF-8 files, YAML bombs) for every command and flag.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

MODELS = ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "deepseek-v3", "gpt2", "qwen3-30b-a3b",
          "nope-model", "", "../../etc/passwd", "LLAMA-3.1-8B"]
GPUS = ["h100-sxm", "h200", "b200", "a100-80gb", "mi300x", "l40s", "h20", "tpu-v5e", "gb200",
        "nope-gpu", "", "H100-SXM"]
NUMBERS = ["1", "8", "64", "1024", "0", "-1", "nan", "inf", "-inf", "1e30", "1e-30", "3.5", "abc",
           "", "2147483648", "1e12", "0.5", "99999999999999999999"]
LAYOUTS = ["tp=8", "tp=8,pp=2", "tp=3", "pp=1000", "zero=9", "recompute=full,zero=3", "fsdp",
           "tp=", "=8", "tp=8,tp=4", "ep=8", "foo=bar", "tp=1e3", ",,,", "cp=2,vpp=2"]
DTYPES = ["bf16", "fp16", "fp8", "int8", "int4", "fp4", "fp64", "x"]
MODES = ["inference", "train", "finetune", "lora", "qlora", "x"]
REGIONS = ["us", "eu", "cn", "mars", ""]
LOANS = ["share=0.7,term=3,ext=2", "share=2", "term=-1", "kind=balloon", "garbage", "share=0.5"]


def _opt(rng: random.Random, flag: str, values: list[str], p: float = 0.5) -> list[str]:
    return [flag, rng.choice(values)] if rng.random() < p else []


def cli_invocation(rng: random.Random) -> list[str]:
    """One random `gpuplan` command line."""
    cmd = rng.choice(["fit", "train", "serve", "cluster", "tco", "budget", "catalog", "recsys"])
    n = lambda: rng.choice(NUMBERS)  # noqa: E731
    if cmd == "fit":
        return (["fit", rng.choice(MODELS), "--gpu", rng.choice(GPUS)]
                + _opt(rng, "--mode", MODES) + _opt(rng, "--dtype", DTYPES)
                + _opt(rng, "--kv-dtype", DTYPES, 0.2) + _opt(rng, "--seq-len", NUMBERS)
                + _opt(rng, "--batch", NUMBERS) + _opt(rng, "--layout", LAYOUTS)
                + (["--all-gpus"] if rng.random() < 0.1 else []) + ["--json"])
    if cmd == "train":
        return (["train", rng.choice(MODELS), "--gpu", rng.choice(GPUS), "--gpus", n(),
                 "--tokens", n()] + _opt(rng, "--seq-len", NUMBERS)
                + _opt(rng, "--global-batch-tokens", NUMBERS, 0.3)
                + _opt(rng, "--dtype", DTYPES, 0.3) + _opt(rng, "--mode", MODES, 0.3)
                + _opt(rng, "--layout", LAYOUTS, 0.3)
                + _opt(rng, "--rent-usd-per-gpu-hour", NUMBERS, 0.2) + ["--json"])
    if cmd == "serve":
        return (["serve", rng.choice(MODELS), "--gpu", rng.choice(GPUS)]
                + _opt(rng, "--quant", DTYPES + ["auto"]) + _opt(rng, "--rate", NUMBERS)
                + _opt(rng, "--input-tokens", NUMBERS) + _opt(rng, "--output-tokens", NUMBERS)
                + _opt(rng, "--ttft-ms", NUMBERS) + _opt(rng, "--tpot-ms", NUMBERS)
                + _opt(rng, "--tp", NUMBERS, 0.3) + _opt(rng, "--tokens-per-day", NUMBERS, 0.2)
                + _opt(rng, "--speculative-acceptance", NUMBERS, 0.2) + ["--json"])
    if cmd == "cluster":
        return (["cluster", "--gpu", rng.choice(GPUS), "--gpus", n()]
                + _opt(rng, "--rack-power-kw", NUMBERS, 0.4)
                + _opt(rng, "--fabric", ["infiniband-ndr-400g", "infiniband-xdr-800g",
                                         "spectrum-x-400g", "x"], 0.3)
                + _opt(rng, "--oversubscription", NUMBERS, 0.3)
                + _opt(rng, "--dataset-tb", NUMBERS, 0.3) + ["--json"])
    if cmd == "tco":
        return (["tco", "--gpu", rng.choice(GPUS), "--gpus", n()]
                + _opt(rng, "--years", NUMBERS) + _opt(rng, "--region", REGIONS)
                + _opt(rng, "--utilisation", NUMBERS) + _opt(rng, "--loan", LOANS)
                + _opt(rng, "--discount-rate", NUMBERS, 0.3) + _opt(rng, "--cloud", NUMBERS, 0.3)
                + _opt(rng, "--risk-samples", ["0", "100", "-5", "x"], 0.3) + ["--json"])
    if cmd == "budget":
        return (["budget", n(), "--gpu", rng.choice(GPUS)] + _opt(rng, "--region", REGIONS)
                + _opt(rng, "--opex-reserve", NUMBERS, 0.3) + ["--json"])
    if cmd == "recsys":
        return (["recsys", rng.choice(["examples/recsys/dlrm-dcnv2.yaml", "nope.yaml", ""]),
                 "--gpu", rng.choice(GPUS)] + _opt(rng, "--gpus", NUMBERS)
                + _opt(rng, "--qps", NUMBERS) + _opt(rng, "--p99-ms", NUMBERS) + ["--json"])
    return ["catalog", rng.choice(["gpus", "models", "systems", "clouds", "regions", "x"]),
            "--json"]


#: Values tried for each piece of a generated scenario: valid, boundary and wrong-typed.
SCENARIO_PIECES: dict[str, list[str | float | None]] = {
    "name": ["t", "", None, 5, "x" * 300],
    "horizon_years": [3, 0, -1, "nan", 1e9, "five"],
    "region": ["us", "cn", "mars", 7],
    "facility": ["build", "colocation", "cave"],
    "gpu": ["h100-sxm", "b200", "nope", "h20", 3],
    "rate": [5, 0, -1, ".nan", ".inf", 1e30, "x"],
    "model": ["llama-3.1-8b", "nope", "mixtral-8x7b"],
}


def scenario_text(rng: random.Random) -> bytes:
    """One random scenario document (mostly YAML, sometimes hostile bytes)."""
    roll = rng.random()
    if roll < 0.03:
        return b"\xff\xfe\x00\x01garbage"
    if roll < 0.06:  # a billion-laughs style alias bomb
        return (b"a: &a ['x','x','x','x','x','x','x','x','x']\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                b"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
                b"name: bomb\nhardware_options: *f\n")
    if roll < 0.08:
        return b"!!python/object/apply:os.system ['echo pwned']\n"
    if roll < 0.10:
        return b""
    c = {k: rng.choice(v) for k, v in SCENARIO_PIECES.items()}

    def y(v: str | float | None) -> str:
        return "null" if v is None else (repr(v) if isinstance(v, str) else str(v))

    return (f"name: {y(c['name'])}\nhorizon_years: {y(c['horizon_years'])}\n"
            f"region: {y(c['region'])}\nfacility: {y(c['facility'])}\n"
            f"hardware_options: [{{gpu: {y(c['gpu'])}}}]\n"
            f"workloads:\n  - kind: serve\n    name: s\n    model: {y(c['model'])}\n"
            f"    rate: {y(c['rate'])}\nrisk: {{samples: 200}}\n").encode()


def invocations(n: int, seed: int = 0, tmp: Path | None = None) -> Iterator[list[str]]:
    """``n`` command lines; every tenth is `plan` on a generated scenario file in ``tmp``."""
    rng = random.Random(seed)
    for i in range(n):
        if tmp is not None and i % 10 == 9:
            p = tmp / f"scenario-{i}.yaml"
            p.write_bytes(scenario_text(rng))
            yield ["plan", str(p), "--json"]
        else:
            yield cli_invocation(rng)
