"""Generated CLI invocations and scenario files for robustness testing (`make fuzz`).

Every generated input must end with exit status 0 or 2 and never with a traceback. The
generator mixes valid values, boundary values and garbage (negative, zero, NaN, inf, huge,
wrong types, unknown names, non-UTF-8 files, YAML bombs) for every command and flag.
"""

from __future__ import annotations

import functools
import random
import stat
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typer import Typer
    from typer._click import Command
    from typer.testing import Result

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


#: The recommender spec the `recsys` cases read, relative to the working folder (the checkout).
RECSYS_EXAMPLE = "examples/recsys/dlrm-dcnv2.yaml"


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
        return (["recsys", rng.choice([RECSYS_EXAMPLE, "nope.yaml", ""]),
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
    "rate": [5, 0, -1, ".nan", ".inf", "-.inf", 1e30, "x", "[1]", "{a: 1}", "true"],
    "model": ["llama-3.1-8b", "nope", "mixtral-8x7b", "\x1b[31mred", "x" * 5000],
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


#: Deepest nesting generated [levels]: far past the YAML limit (64) and libyaml's (1,000).
DEEP_LEVELS = (65, 1_000, 20_000)
#: A valid llama-style config the config.json fuzz starts from (Llama 3.1 8B's shape).
_CONFIG = {"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
           "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
           "intermediate_size": 14336, "tie_word_embeddings": False,
           "num_local_experts": 8, "num_experts_per_tok": 2}
#: Values a config field is replaced with: wrong types, non-finite, negative, huge, booleans.
CONFIG_VALUES: list[object] = ["abc", "4096", -128, 0, 1.5, True, False, None, [1], {"a": 1},
                               2**64, 1e400, float("nan"), -1e400, 64, 2]
CONFIG_FIELDS = ["hidden_size", "head_dim", "num_local_experts", "num_experts_per_tok",
                 "sliding_window", "mlp_only_layers", "kv_lora_rank", "q_lora_rank",
                 "qk_rope_head_dim", "tie_word_embeddings", "num_key_value_heads",
                 "max_position_embeddings", "model_type", "hidden_act", "moe_layers"]
#: Names of the hostile files :func:`hostile_files` makes; outputs must never replace them.
HOSTILE_OUTPUTS = ("fifo", "link", "y" * 300 + ".html", "missing-folder/x.html", ".",
                   "/proc/gpuplan-fuzz.html")


def deep_yaml(rng: random.Random) -> bytes:
    """A scenario nested past every limit (lists, flow mappings or block mappings)."""
    n = rng.choice(DEEP_LEVELS)
    kind = rng.choice(["list", "flow", "block"])
    if kind == "list":
        return f"name: {'[' * n}{']' * n}\n".encode()
    if kind == "flow":
        return ("name: t\nx: " + "{a: " * n + "1" + "}" * n + "\n").encode()
    n = min(n, 2_000)  # block nesting costs two spaces a level
    return ("x:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(n))).encode()


def config_text(rng: random.Random) -> str:
    """One config.json: a valid one with one to three fields replaced by hostile values."""
    import json

    roll = rng.random()
    if roll < 0.05:
        n = rng.choice(DEEP_LEVELS)
        return "[" * n + "]" * n
    if roll < 0.08:
        return '{"hidden_size": 1e400, "num_hidden_layers": NaN}'
    cfg: dict[str, object] = dict(_CONFIG)
    for _ in range(rng.randint(1, 3)):
        field = rng.choice(CONFIG_FIELDS)
        value = rng.choice(CONFIG_VALUES)
        cfg[field] = [value] if field.endswith("layers") and rng.random() < 0.5 else value
    return json.dumps(cfg)  # NaN and infinities as JSON's NaN / Infinity, as Python writes them


def hostile_files(tmp: Path) -> None:
    """A FIFO, a link to ``target.txt`` and that file in ``tmp``, plus a small valid scenario."""
    import os

    if not (tmp / "fifo").exists() and hasattr(os, "mkfifo"):
        os.mkfifo(tmp / "fifo")
    (tmp / "target.txt").write_text("keep me\n")
    if not (tmp / "link").is_symlink():
        (tmp / "link").symlink_to(tmp / "target.txt")
    (tmp / "ok.yaml").write_text(
        "name: ok\nhardware_options: [{gpu: h100-sxm}]\nworkloads:\n  - {kind: serve, name: s, "
        "model: llama-3.1-8b, rate: 2}\nrisk: {samples: 100}\n")


def hostile_files_intact(tmp: Path) -> bool:
    """Whether no output replaced the FIFO, the link or the file the link points to."""
    fifo = tmp / "fifo"
    return ((not fifo.exists() or stat.S_ISFIFO(fifo.lstat().st_mode))
            and (tmp / "link").is_symlink()
            and (tmp / "target.txt").read_text() == "keep me\n")


def hostile_invocation(rng: random.Random, tmp: Path, i: int) -> list[str]:
    """A config.json fuzz `fit`, a deep or duplicate-key scenario, or a hostile output path."""
    roll = rng.random()
    if roll < 0.4:
        p = tmp / f"config-{i}.json"
        p.write_text(config_text(rng))
        return ["fit", str(p), "--gpu", rng.choice(GPUS[:4]), "--json"]
    if roll < 0.7:
        p = tmp / f"deep-{i}.yaml"
        p.write_bytes(deep_yaml(rng) if rng.random() < 0.6 else
                      b"name: a\nname: b\nhardware_options: [{gpu: h100-sxm, gpu: b200}]\n")
        return ["plan", str(p), "--json"]
    out = rng.choice(HOSTILE_OUTPUTS)
    target = out if out.startswith("/") else str(tmp / out)
    return ["plan", str(tmp / "ok.yaml"), rng.choice(["-o", "--xlsx"]), target, "--json"]


def invocations(n: int, seed: int = 0, tmp: Path | None = None, *,
                rng: random.Random | None = None) -> Iterator[list[str]]:
    """``n`` command lines; with a folder ``tmp``, every tenth is `plan` on a generated scenario
    file and every tenth (another) a hostile case (:func:`hostile_invocation`). ``rng``, when
    given, replaces ``random.Random(seed)``."""
    rng = rng or random.Random(seed)
    if tmp is not None:
        hostile_files(tmp)
    for i in range(n):
        if tmp is not None and i % 10 == 9:
            p = tmp / f"scenario-{i}.yaml"
            p.write_bytes(scenario_text(rng))
            yield ["plan", str(p), "--json"]
        elif tmp is not None and i % 10 == 4:
            yield hostile_invocation(rng, tmp, i)
        else:
            yield cli_invocation(rng)


# ----------------------------------------------------------------------------------------------
# Running the cases: in process, in chunks of fixed seeds (a chunk is the unit of a process pool
# and of a pytest case), each chunk in its own temporary folder
# ----------------------------------------------------------------------------------------------

#: Cases per chunk [1]: chunk ``k`` of seed ``s`` draws from ``random.Random(f"{s}:{k}")``, so a
#: case is the same however many processes share the run.
CHUNK_CASES = 1_000


@functools.cache
def _command() -> Command:
    """The `gpuplan` click command, built once: typer rebuilds it on every
    ``CliRunner.invoke(app)`` (21 ms of the 24 ms an invocation took, measured)."""
    import typer

    from gpuplan.cli.app import app

    return typer.main.get_command(app)


def invoke(args: list[str]) -> Result:
    """Run one `gpuplan` command line in process through typer's test runner, with the command
    built once (typer's runner takes a ``Typer`` and builds its command through the module's
    ``_get_command``, swapped here for the cached one; where a typer version lacks that name
    the runner builds it as before, only slower)."""
    import typer.testing

    from gpuplan.cli.app import app

    runner = typer.testing.CliRunner()
    build = getattr(typer.testing, "_get_command", None)
    if build is None:  # pragma: no cover - another typer layout
        return runner.invoke(app, args)
    def cached(typer_instance: Typer) -> Command:
        return _command()

    typer.testing._get_command = cached
    try:
        return runner.invoke(app, args)
    finally:
        typer.testing._get_command = build


@dataclass
class FuzzReport:
    """What a fuzz run found: cases tried, exit codes, failures (args, what went wrong)."""

    cases: int = 0
    exit_codes: dict[int, int] = field(default_factory=dict)
    failures: list[tuple[list[str], str]] = field(default_factory=list)
    seconds: float = 0.0
    slowest: tuple[float, list[str]] = (0.0, [])

    def add(self, other: FuzzReport) -> None:
        """Merge another chunk's report into this one."""
        self.cases += other.cases
        for code, n in other.exit_codes.items():
            self.exit_codes[code] = self.exit_codes.get(code, 0) + n
        self.failures += other.failures
        self.seconds += other.seconds
        self.slowest = max(self.slowest, other.slowest)


def _failure(r: Result) -> str | None:
    """Why a run is a failure (a traceback, an exit status other than 0 and 2), or None."""
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        return repr(r.exception)
    if r.exit_code not in (0, 2):
        return f"exit status {r.exit_code}"
    if "Traceback" in r.output:
        return "a traceback in the output"
    return None


def run_chunk(seed: int, chunk: int, n: int = CHUNK_CASES) -> FuzzReport:
    """Run the ``n`` cases of chunk ``chunk`` of ``seed`` in a fresh temporary folder.

    Every case runs in process with the folder as its working directory; a failure is a
    traceback, an exit status other than 0 or 2, or a hostile file (FIFO, link) replaced.
    """
    import os

    rep = FuzzReport()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix=f"gpuplan-fuzz-{seed}-{chunk}-") as tmp_name:
        tmp = Path(tmp_name)
        spec = Path(cwd) / RECSYS_EXAMPLE
        if spec.is_file():  # the recsys cases read it relative to the working folder
            (tmp / RECSYS_EXAMPLE).parent.mkdir(parents=True)
            (tmp / RECSYS_EXAMPLE).write_bytes(spec.read_bytes())
        try:
            os.chdir(tmp)  # a stray relative output lands here, never in the caller's folder
            for args in invocations(n, seed, tmp, rng=random.Random(f"{seed}:{chunk}")):
                t0 = time.perf_counter()
                r = invoke(args)
                dt = time.perf_counter() - t0
                rep.cases += 1
                rep.seconds += dt
                rep.slowest = max(rep.slowest, (dt, args))
                rep.exit_codes[r.exit_code] = rep.exit_codes.get(r.exit_code, 0) + 1
                why = _failure(r)
                if why is not None:
                    rep.failures.append((args, why))
                if not hostile_files_intact(tmp):
                    rep.failures.append((args, "replaced a hostile file (FIFO or link)"))
                    break
        finally:
            os.chdir(cwd)
    return rep
