"""`make bench`: print figures (wall times); never fails on time.

Cold-start times are measured by spawning the installed console script, as a user would: with
``PYTHONDONTWRITEBYTECODE`` removed from the environment (a user's Python writes ``.pyc`` files;
without them every run recompiles all sources, ~80 ms) and after one warm-up run, which writes
the ``.pyc`` files and the validated-catalog cache (docs/catalog.md), as any second run finds
them. "Warm disk": the files are in the page cache.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

REPEATS = 7
ROOT = Path(__file__).resolve().parent.parent


def _exe() -> str:
    venv = ROOT / ".venv" / "bin" / "gpuplan"
    return str(venv) if venv.exists() else (shutil.which("gpuplan") or "gpuplan")


#: Cold-start target of ``gpuplan fit|serve|train`` [s] (issue 13, item 10).
COLD_START_TARGET_S = 0.25
#: The commands of the cold-start block: what a new user types first.
COLD_START_COMMANDS = {
    "fit": ["fit", "llama-3.1-70b", "--gpu", "h100-sxm", "--json"],
    "serve": ["serve", "llama-3.1-70b", "--gpu", "h100-sxm", "--json"],
    "train": ["train", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "1024", "--tokens",
              "1e12", "--json"],
    "plan": ["plan", "examples/hyperscaler-20b-loan.yaml", "--json"],
}


def _user_env() -> dict[str, str]:
    """The environment of a user's shell: ``.pyc`` files are written (and so found)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def cold(args: list[str], repeats: int = REPEATS) -> tuple[float, float]:
    """Median and minimum wall time [s] of a fresh process running ``gpuplan args``.

    One unmeasured warm-up run first (it writes ``.pyc`` files and the catalog cache).
    """
    env = _user_env()
    subprocess.run([_exe(), *args], check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([_exe(), *args], check=True, stdout=subprocess.DEVNULL, env=env,
                       cwd=ROOT)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def cold_start_block() -> None:
    """Cold start of fit, serve, train and plan (warm disk, ``.pyc`` and catalog cache)."""
    for name, args in COLD_START_COMMANDS.items():
        med, mn = cold(args)
        target = f"target < {COLD_START_TARGET_S} s" if name != "plan" else "target —"
        label = "cold start: gpuplan " + " ".join(args)
        label = label if len(label) <= 62 else label[:58] + " ..."
        print(f"{label:62s} {med:9.3f} {mn:8.3f}  {target}")


def warm(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    print(f"{'benchmark':62s} {'median s':>9s} {'min s':>8s}")
    cold_start_block()
    rows = []
    rows.append(("cold: gpuplan --help", *cold(["--help"]), "target —"))
    rows.append(("cold: gpuplan fit llama-3.1-70b --gpu h100-sxm --json",
                 *cold(["fit", "llama-3.1-70b", "--gpu", "h100-sxm", "--json"]), "target < 0.3 s"))
    rows.append(("cold: gpuplan fit deepseek-v3 --gpu h200 --mode train --json",
                 *cold(["fit", "deepseek-v3", "--gpu", "h200", "--mode", "train", "--json"], 3),
                 ""))
    from gpuplan.catalog import load_catalog
    from gpuplan.demand.fitting import fit

    cat = load_catalog()
    t_inf = warm(lambda: fit("llama-3.1-70b", "h100-sxm", catalog=cat))
    t_train = warm(lambda: fit("llama-3.1-405b", "h100-sxm", mode="train", seq_len=8192,
                               catalog=cat), 3)
    t_all = warm(lambda: fit("llama-3.1-70b", "h100-sxm", all_gpus=True, catalog=cat), 3)
    for name, med, mn, note in rows:
        print(f"{name:62s} {med:9.3f} {mn:8.3f}  {note}")
    print(f"{'warm: fit llama-3.1-70b inference (in process)':62s} {t_inf:9.4f}")
    print(f"{'warm: fit llama-3.1-405b train, min-GPU layout search':62s} {t_train:9.4f}")
    print(f"{'warm: fit llama-3.1-70b --all-gpus':62s} {t_all:9.4f}")

    # Training search (issue 3): the full search for Llama 3.1 405B on 16,384 H100s.
    from gpuplan.demand.training import train

    res = {}

    def search():
        res["r"] = train("llama-3.1-405b", "h100-sxm", 16384, 15.6e12, seq_len=8192,
                         global_batch_tokens=16 * 2**20, catalog=cat)

    t_search = warm(search, 5)
    r = res["r"]
    print(f"{'warm: train llama-3.1-405b, 16,384 h100-sxm, full search':62s} {t_search:9.4f}  "
          f"target < 1 s; {r.candidates_evaluated:,} candidates "
          f"({r.feasible_candidates:,} fit); best "
          + ",".join(f"{k}={v}" for k, v in r.layout.model_dump().items() if k != "gpus")
          + f"; MFU {r.mfu:.1%}")
    res_own = {}
    t_own = warm(lambda: res_own.update(r=train("llama-3.1-405b", "h100-sxm", 16384, 15.6e12,
                                                 seq_len=8192, catalog=cat)), 5)
    ro = res_own["r"]
    print(f"{'warm: train llama-3.1-405b, 16,384 h100-sxm, own batch choice':62s} {t_own:9.4f}  "
          f"target < 0.1 s; {ro.candidates_evaluated:,} candidates; batch "
          f"{ro.global_batch_tokens / 2**20:.1f}M tokens; best "
          + ",".join(f"{k}={v}" for k, v in ro.layout.model_dump().items() if k != "gpus"))
    rate = layout_evaluations_per_s(cat)
    print(f"{'layout evaluations per second (memory + step time, 1e6 grid)':62s} {rate:12,.0f}")
    t_cold_train = cold(["train", "llama-3.1-405b", "--gpu", "h100-sxm", "--gpus", "16384",
                         "--tokens", "15.6e12", "--seq-len", "8192", "--json"], 3)
    print(f"{'cold: gpuplan train llama-3.1-405b ... --json':62s} {t_cold_train[0]:9.3f}")

    # Serving (issue 4): the full SLO search for Llama 3.1 70B on H100, every weight format.
    from gpuplan.demand.serving import serve

    sres = {}

    def slo_search():
        sres["r"] = serve("llama-3.1-70b", "h100-sxm", quant="auto", rate=20, ttft_ms=1000,
                          tpot_ms=50, catalog=cat)

    t_serve = warm(slo_search, 5)
    sr = sres["r"]
    print(f"{'warm: serve llama-3.1-70b h100-sxm, SLO search (quant auto)':62s} {t_serve:9.4f}  "
          f"target < 0.5 s; {sr.candidates_evaluated:,} shapes; best tp={sr.replica.tp} "
          f"{sr.replica.quant} batch {sr.replica.batch}")
    t_cold_serve = cold(["serve", "llama-3.1-70b", "--gpu", "h100-sxm", "--quant", "auto",
                         "--rate", "20", "--ttft-ms", "1000", "--tpot-ms", "50", "--json"], 3)
    print(f"{'cold: gpuplan serve llama-3.1-70b ... --json':62s} {t_cold_serve[0]:9.3f}")

    # Cluster builder (issue 5): 1 to 1,000,000 GPUs.
    from gpuplan.cluster import build_cluster

    for n in (8, 1024, 16384, 131072, 1_000_000):
        t_c = warm(lambda n=n: build_cluster("h100-sxm", n, catalog=cat), 5)
        print(f"{'warm: cluster h100-sxm ' + format(n, ',') + ' GPUs':62s} {t_c:9.4f}  "
              f"target < 0.1 s")
    t_cold_cluster = cold(["cluster", "--gpu", "b200", "--gpus", "100000", "--json"], 3)
    print(f"{'cold: gpuplan cluster --gpu b200 --gpus 100000 --json':62s} {t_cold_cluster[0]:9.3f}")

    # Economics (issue 6): 10^5 Monte Carlo samples of a full TCO.
    from gpuplan.money.bench import bench_risk

    for loan in (False, True):
        b = bench_risk(loan=loan)
        label = "with a monthly loan" if loan else "cash purchase"
        print(f"{'risk: 1e5 Monte Carlo samples of a 1,024 H100 TCO, ' + label:62s} "
              f"{b['seconds']:9.4f}  target < 1 s")
    from gpuplan.money import tco

    t_tco = warm(lambda: tco("h100-sxm", 16384, catalog=cat), 3)
    print(f"{'warm: tco 16,384 h100-sxm (cluster + money)':62s} {t_tco:9.4f}")

    # The whole pipeline (issue 7): the enterprise example, both hardware options.
    from gpuplan.pipeline.planner import plan
    from gpuplan.pipeline.scenario import load_scenario

    sc = load_scenario(ROOT / "examples" / "enterprise-70b.yaml")
    t_plan = warm(lambda: plan(sc, catalog=cat, base_dir=ROOT / "examples"), 3)
    print(f"{'warm: plan examples/enterprise-70b.yaml (2 options, 10k MC)':62s} {t_plan:9.4f}")
    flag = load_scenario(ROOT / "examples" / "hyperscaler-20b-loan.yaml")
    for samples, target in ((100, "< 2 s (no Monte Carlo to speak of)"), (100_000, "< 4 s")):
        s = flag.model_copy(update={"risk": flag.risk.model_copy(update={"samples": samples})})
        t0 = time.perf_counter()
        plan(s, catalog=cat, base_dir=ROOT / "examples")
        dt = time.perf_counter() - t0
        label = f"plan flagship hyperscaler-20b-loan, {samples:,} MC samples"
        print(f"{label:62s} "
              f"{dt:9.3f}  target {target}")
    t_cold_plan = cold(["plan", "examples/hyperscaler-20b-loan.yaml", "--json"], 3)
    print(f"{'cold: gpuplan plan examples/hyperscaler-20b-loan.yaml --json':62s} "
          f"{t_cold_plan[0]:9.3f}")

    # Web API under load on loopback (issues 7, 8 and 16: 1 and 20 clients, cached and new
    # plans; target p95 < 0.1 s for cached plans at 20 clients, 503 + queue length when full).
    from web_load import describe, run_all

    for w in run_all(30.0):
        print(describe(w) + (" (target p95 < 100 ms)" if not w["unique"] else ""))

    # Peak memory of the largest documented Monte Carlo runs, each in its own process
    # (issue 16: tco at the 10^7-sample limit; 20 options x 10^6 samples; target < ~1 GB).
    from memory import run_all as memory_runs

    for line in memory_runs():
        print(line)

    # Peers, in throwaway venvs (never project dependencies).
    from peers import llm_analysis_infer_seconds, llm_analysis_train_seconds

    ipeer = llm_analysis_infer_seconds()
    if "seconds" in ipeer:
        print(f"{'peer: llm-analysis ' + ipeer['version'] + ', one inference estimate (70B)':62s} "
              f"{ipeer['seconds']:9.6f}  gpuplan's whole SLO search / one llm-analysis "
              f"estimate = {t_serve / ipeer['seconds']:,.0f}x")
    else:
        print(f"peer llm-analysis (infer) unavailable: {ipeer['error']}")

    peer = llm_analysis_train_seconds()
    one_layout = t_search / max(r.candidates_evaluated, 1)
    if "seconds" in peer:
        print(f"{'peer: llm-analysis ' + peer['version'] + ', one layout of Llama 2 70B':62s} "
              f"{peer['seconds']:9.6f}")
        print(f"{'gpuplan: time per layout inside the 405B search':62s} {one_layout:9.6f}  "
              f"ratio llm-analysis / gpuplan = {peer['seconds'] / one_layout:,.0f}x")
    else:
        print(f"peer llm-analysis unavailable: {peer['error']}")
    print(f"python {sys.version.split()[0]}")


def layout_evaluations_per_s(cat) -> float:
    """Memory model + step-time model on a synthetic grid of 10^6 layouts of Llama 3.1 405B."""
    import numpy as np

    from gpuplan.demand.arch import arch_from_config
    from gpuplan.demand.hardware import hardware_for
    from gpuplan.demand.memory import training_memory
    from gpuplan.demand.training import step_time

    m = cat.models["llama-3.1-405b"]
    arch = arch_from_config(m.config, m.id)
    hw = hardware_for(cat, cat.accelerators["h100-sxm"], "bf16")
    n = 10**6
    rng = np.random.default_rng(0)
    g = {"tp": rng.choice([1, 2, 4, 8], n), "pp": rng.choice([1, 2, 7, 9, 14, 18], n),
         "dp": rng.choice([16, 32, 64, 128], n), "cp": rng.choice([1, 2, 4], n),
         "ep": np.ones(n, int), "mb": rng.choice([1, 2, 4], n), "vpp": np.ones(n, int),
         "recompute": rng.integers(0, 3, n), "zero": rng.integers(0, 4, n)}
    g["m"] = np.maximum(2048 // (g["dp"] * g["mb"]), 1)
    t0 = time.perf_counter()
    training_memory(arch, seq_len=8192, mb=g["mb"], tp=g["tp"], pp=g["pp"], dp=g["dp"],
                    cp=g["cp"], ep=g["ep"], zero=g["zero"], recompute=g["recompute"],
                    microbatches=g["m"])
    step_time(arch, g, seq_len=8192, global_batch=2048, hw=hw)
    return n / (time.perf_counter() - t0)


if __name__ == "__main__":
    main()
