"""The single questions of the CLI and the web API, priced: train, serve, and tco with its risk.

The demand stage answers how long a run takes and how many accelerators a service needs; it
knows no prices. These functions chain it to the money stage, so ``gpuplan train --json``,
``GET /api/train`` and ``gpuplan.train(...)`` return the same ``cost_usd`` for the same inputs:

- :func:`priced_train` — :func:`gpuplan.demand.training.train`, then ``cost_usd{own, rent}`` =
  GPU-hours × price [USD];
- :func:`priced_serve` — :func:`gpuplan.demand.serving.serve`, then
  :func:`gpuplan.money.serve_cost` (fleet cost per hour and per million output tokens);
- :func:`tco_with_risk` — :func:`gpuplan.money.tco` and, when asked, its Monte Carlo
  :func:`gpuplan.money.montecarlo` (``gpuplan tco --json`` / ``GET /api/tco``).

Prices the user did not give are the catalog's (:func:`default_prices`): the default cloud's
on-demand rent and the levelised owned GPU-hour of a reference cluster.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, Literal, cast

from gpuplan.catalog import Catalog, load_catalog
from gpuplan.checks import check_choice, check_optional_number, check_whole

if TYPE_CHECKING:  # the demand and money stages load when a function needs them (cold start)
    from gpuplan.demand.serving import ServeResult
    from gpuplan.demand.training import Phase, TrainResult
    from gpuplan.money import LoanTerms, RiskResult, TcoResult

#: Highest price accepted for a GPU-hour, rented or owned [USD per GPU-hour].
MAX_USD_PER_GPU_HOUR = 1e4
#: Most Monte Carlo draws of ``tco_with_risk`` [1].
MAX_RISK_SAMPLES = 10**7
#: Draft tokens per speculative step when none is given [tokens] (as ``serve``).
DEFAULT_DRAFT_TOKENS = 4
FacilityMode = Literal["build", "colocation"]
ResidualRule = Literal["book", "market"]
FACILITY_MODES: tuple[FacilityMode, ...] = ("build", "colocation")
RESIDUAL_RULES: tuple[ResidualRule, ...] = ("book", "market")


def check_prices(rent_usd_per_gpu_hour: float | None,
                 own_usd_per_gpu_hour: float | None) -> None:
    """Both prices, where given, must be finite and within ``[0, MAX_USD_PER_GPU_HOUR]``.

    Parameters
    ----------
    rent_usd_per_gpu_hour, own_usd_per_gpu_hour : float, optional
        Prices [USD per GPU-hour].

    Raises
    ------
    UserError
        A price that is not a finite number in range (``field`` names it).
    """
    check_optional_number("rent_usd_per_gpu_hour", rent_usd_per_gpu_hour, 0.0,
                          MAX_USD_PER_GPU_HOUR)
    check_optional_number("own_usd_per_gpu_hour", own_usd_per_gpu_hour, 0.0,
                          MAX_USD_PER_GPU_HOUR)


def default_prices(gpu: str, cat: Catalog, rent_usd_per_gpu_hour: float | None,
                   own_usd_per_gpu_hour: float | None) -> tuple[float | None, float | None]:
    """Rent and owned-hour prices of ``gpu``, the catalog's where the user gave none.

    Parameters
    ----------
    gpu : str
        Accelerator id, or a path to an accelerator YAML file (which has no default prices).
    cat : Catalog
        Where the defaults come from.
    rent_usd_per_gpu_hour, own_usd_per_gpu_hour : float, optional
        The user's prices [USD per GPU-hour]; kept when given.

    Returns
    -------
    tuple
        ``(rent, own)`` [USD per GPU-hour]; None where neither the user nor the catalog has one.
    """
    from gpuplan.money import default_own_usd_per_gpu_hour, default_rent_usd_per_gpu_hour

    key = gpu.lower()
    if key not in cat.accelerators:  # an accelerator given as a YAML file has no defaults
        return rent_usd_per_gpu_hour, own_usd_per_gpu_hour
    if rent_usd_per_gpu_hour is None:
        rent_usd_per_gpu_hour = default_rent_usd_per_gpu_hour(key, cat)
    if own_usd_per_gpu_hour is None:
        own_usd_per_gpu_hour = default_own_usd_per_gpu_hour(key, cat)
    return rent_usd_per_gpu_hour, own_usd_per_gpu_hour


def _run_cost_usd(gpu_hours: float, usd_per_gpu_hour: float | None) -> float | None:
    from gpuplan.money import training_run_cost_usd

    if usd_per_gpu_hour is None:
        return None
    return float(training_run_cost_usd(gpu_hours, usd_per_gpu_hour))


def priced_train(model: str, gpu: str, gpus: int, tokens: float, *,
                 seq_len: int | None = None, global_batch_tokens: float | None = None,
                 dtype: str = "bf16", mode: str = "train", layout: str | dict | None = None,
                 failures: bool = True, rent_usd_per_gpu_hour: float | None = None,
                 own_usd_per_gpu_hour: float | None = None,
                 catalog: Catalog | None = None,
                 batch_ramp: list[tuple[float, float]] | None = None,
                 phases: list[Phase] | None = None, framework: str | None = None
                 ) -> TrainResult:
    """A training run (:func:`gpuplan.demand.training.train`) with its cost to own and to rent.

    Parameters
    ----------
    model, gpu : str
        Catalog (or HF) model id or config path; accelerator id or accelerator YAML [—].
    gpus : int
        Accelerators in the job [1].
    tokens : float
        Training tokens [tokens].
    seq_len : int, optional
        Sequence length [tokens].
    global_batch_tokens : float, optional
        Tokens per optimizer step [tokens].
    dtype : {"bf16", "fp16", "fp8"}
        Matmul dtype [—].
    mode : {"train", "finetune", "lora", "qlora"}
        What is trained [—].
    layout : str or dict, optional
        Layout keys pinned, e.g. ``tp=8,pp=16`` [—].
    failures : bool
        Include time lost to interruptions (goodput) [—].
    rent_usd_per_gpu_hour, own_usd_per_gpu_hour : float, optional
        Prices [USD per GPU-hour]; default the catalog's (:func:`default_prices`).
    catalog : Catalog, optional
        Default the built-in catalog with ``$GPUPLAN_CATALOG`` overlays.
    batch_ramp : list of (float, float), optional
        ``(tokens_until, batch_tokens)`` stages [tokens, tokens], e.g. Llama 3's 4M → 8M → 16M.
    phases : list of Phase, optional
        The run as phases (pre-training, long context, annealing, distillation) [—].
    framework : str, optional
        Training framework (megatron, deepspeed, llm-foundry, torchtitan, ...); must name a
        catalog profile exactly [—].

    Returns
    -------
    TrainResult
        With ``cost_usd{own, rent}`` [USD] filled where a price is known.

    Notes
    -----
    cost [USD] = ``gpu_hours`` [GPU-h] × price [USD per GPU-hour], with ``gpu_hours`` including
    the time lost to failures unless ``failures`` is False.
    """
    from gpuplan.demand.training import CostOut, train
    from gpuplan.demand.training.frameworks import check_framework_name

    check_prices(rent_usd_per_gpu_hour, own_usd_per_gpu_hour)
    if framework is not None:
        framework = check_framework_name(framework)
    cat = catalog or load_catalog()
    res = train(model, gpu, gpus, tokens, seq_len=seq_len,
                global_batch_tokens=global_batch_tokens, dtype=dtype, mode=mode, layout=layout,
                failures=failures, catalog=cat, batch_ramp=batch_ramp, phases=phases,
                framework=framework)
    rent, own = default_prices(gpu, cat, rent_usd_per_gpu_hour, own_usd_per_gpu_hour)
    res.cost_usd = CostOut(own=_run_cost_usd(res.gpu_hours, own),
                           rent=_run_cost_usd(res.gpu_hours, rent))
    return res


def priced_serve(model: str, gpu: str, *, quant: str = "bf16", kv_dtype: str | None = None,
                 input_tokens: int = 1024, output_tokens: int = 256, rate: float | None = None,
                 tokens_per_day: float | None = None, ttft_ms: float | None = None,
                 tpot_ms: float | None = None, tp: int | None = None, pp: int | None = None,
                 max_batch: int | None = None, headroom: float | None = None,
                 speculative_acceptance: float | None = None,
                 draft_tokens: int = DEFAULT_DRAFT_TOKENS,
                 rent_usd_per_gpu_hour: float | None = None,
                 own_usd_per_gpu_hour: float | None = None,
                 catalog: Catalog | None = None, scenario: str = "offline",
                 engine: str | None = None, draft_model: str | None = None,
                 require_slo: bool = False, ep: int | None = None,
                 attention_dp: int | None = None,
                 attention_dtype: str | None = None, max_num_tokens: int | None = None,
                 kv_memory_fraction: float | None = None) -> ServeResult:
    """A serving fleet (:func:`gpuplan.demand.serving.serve`) with its cost to own and to rent.

    Parameters
    ----------
    model, gpu : str
        As for :func:`priced_train` [—].
    quant : str
        Weight format, or ``auto`` to search [—].
    kv_dtype : str, optional
        KV-cache dtype [—].
    input_tokens, output_tokens : int
        Mean prompt and completion lengths [tokens].
    rate : float, optional
        Offered load [requests/s].
    tokens_per_day : float, optional
        Offered load as output tokens per day [tokens/day] (instead of ``rate``).
    ttft_ms, tpot_ms : float, optional
        p99 latency targets [ms].
    tp, pp : int, optional
        Pinned tensor / pipeline degree [1].
    max_batch : int, optional
        Engine cap on concurrent sequences per replica [sequences]; default the engine's.
    headroom : float, optional
        Spare capacity above the offered load [fraction]; default
        :data:`gpuplan.demand.serving.DEFAULT_HEADROOM`.
    speculative_acceptance : float, optional
        Draft-token acceptance rate [fraction].
    draft_tokens : int
        Draft tokens per speculative step [tokens].
    rent_usd_per_gpu_hour, own_usd_per_gpu_hour : float, optional
        Prices [USD per GPU-hour]; default the catalog's (:func:`default_prices`).
    catalog : Catalog, optional
        Default the built-in catalog with ``$GPUPLAN_CATALOG`` overlays.
    scenario : str
        ``offline`` or ``server`` (MLPerf's scenarios; see :func:`gpuplan.demand.serving.serve`)
        [—].
    engine : str, optional
        ``trtllm``, ``vllm`` or ``sglang``; default per vendor [—].
    draft_model : str, optional
        Speculative draft model (catalog name or config.json) [—].
    require_slo : bool
        Raise when no shape meets the latency targets, naming the nearest feasible ones [—].
    ep, attention_dp : int, optional
        Pinned expert-parallel and attention data-parallel degrees of an MoE replica [1].
    attention_dtype : str, optional
        ``bf16`` (default) or ``fp8`` attention cores (TensorRT-LLM's FP8 context FMHA) [—].
    max_num_tokens, kv_memory_fraction : optional
        The engine's token budget per iteration [tokens] and its KV pool's share of the free
        memory [fraction] (:func:`gpuplan.demand.serving.serve`).

    Returns
    -------
    ServeResult
        With ``cost_usd`` from :func:`gpuplan.money.serve_cost` [USD/h, USD per million tokens].
    """
    from gpuplan.demand.serving import DEFAULT_HEADROOM, ServeCost, serve
    from gpuplan.money import serve_cost

    if headroom is None:
        headroom = DEFAULT_HEADROOM
    cat = catalog or load_catalog()
    res = serve(model, gpu, quant=quant, kv_dtype=kv_dtype, input_tokens=input_tokens,
                output_tokens=output_tokens, rate=rate, tokens_per_day=tokens_per_day,
                ttft_ms=ttft_ms, tpot_ms=tpot_ms, tp=tp, pp=pp, max_batch=max_batch,
                headroom=headroom, speculative_acceptance=speculative_acceptance,
                draft_tokens=draft_tokens, catalog=cat, scenario=scenario, engine=engine,
                draft_model=draft_model, require_slo=require_slo, ep=ep,
                attention_dp=attention_dp, attention_dtype=attention_dtype,
                max_num_tokens=max_num_tokens, kv_memory_fraction=kv_memory_fraction)
    check_prices(rent_usd_per_gpu_hour, own_usd_per_gpu_hour)
    rent, own = default_prices(gpu, cat, rent_usd_per_gpu_hour, own_usd_per_gpu_hour)
    res.cost_usd = ServeCost(**serve_cost(res, cat, own_usd_per_gpu_hour=own,
                                          rent_usd_per_gpu_hour=rent))
    return res


if TYPE_CHECKING:
    class TcoRiskResult(TcoResult):
        """:class:`~gpuplan.money.TcoResult` with its Monte Carlo (``gpuplan tco --json``)."""

        risk: RiskResult | None = None


@cache
def _tco_risk_result() -> type[TcoRiskResult]:
    """The class ``TcoRiskResult``, built on first use so that importing this module does not
    load the money stage (``gpuplan serve`` and ``fit`` start faster)."""
    from gpuplan.money import RiskResult, TcoResult  # noqa: F401  (RiskResult: the annotation)

    class _Built(TcoResult):
        """:class:`~gpuplan.money.TcoResult` with its Monte Carlo (``gpuplan tco --json``)."""

        risk: RiskResult | None = None

    _Built.__module__ = __name__
    _Built.__name__ = _Built.__qualname__ = "TcoRiskResult"  # pickle finds it via __getattr__
    return cast("type[TcoRiskResult]", _Built)


def __getattr__(name: str) -> Any:
    """``TcoRiskResult`` on demand (PEP 562); any other missing name is an AttributeError."""
    if name == "TcoRiskResult":
        return _tco_risk_result()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _cloud_arg(cloud: str | float | None) -> str | float | None:
    """A cloud id, or a price [USD per GPU-hour] when the text is a number."""
    if not isinstance(cloud, str):
        return cloud
    try:
        return float(cloud)
    except ValueError:
        return cloud


def tco_with_risk(gpu: str, gpus: int, *, system: str | None = None, region: str = "us",
                  years: float = 5.0, utilisation: float | None = None,
                  loan: str | LoanTerms | None = None, cloud: str | float | None = None,
                  term: str | None = None, discount_rate: float | None = None,
                  facility: str = "build", useful_life_years: float | None = None,
                  residual: str = "book", rent_price_change_per_year: float = 0.0,
                  construction_months: int = 0, risk_samples: int = 0, seed: int = 0,
                  catalog: Catalog | None = None) -> TcoRiskResult:
    """Own vs rent for one cluster (:func:`gpuplan.money.tco`) and, if asked, its risk.

    Parameters
    ----------
    gpu : str
        Accelerator id [—].
    gpus : int
        Accelerators, rounded up to whole systems [1].
    system, region : str
        System id (default the builder's choice) and region id [—].
    years : float
        Horizon [years].
    utilisation : float, optional
        Busy share of owned GPU-hours [fraction].
    loan : str or LoanTerms, optional
        Finance part of the capex: terms, or their text (``share=0.7,term=3``, see
        :func:`gpuplan.money.parse_loan`); None for cash [—].
    cloud : str or float, optional
        Cloud id, or a rental price [USD per GPU-hour] (a number given as text counts) [—].
    term : str, optional
        Rental commitment: on_demand, reserved_1yr, reserved_3yr [—].
    discount_rate : float, optional
        Annual discount rate [fraction/year].
    facility : {"build", "colocation"}
        Build the data centre or rent colocation [—].
    useful_life_years : float, optional
        Hardware life [years].
    residual : {"book", "market"}
        Hardware value at the horizon [—].
    rent_price_change_per_year : float
        Yearly change of the rental price [fraction/year].
    construction_months : int
        Months from first spend to operation [months].
    risk_samples : int
        Monte Carlo draws; 0 for none [1].
    seed : int
        Monte Carlo seed [—].
    catalog : Catalog, optional
        Default the built-in catalog with ``$GPUPLAN_CATALOG`` overlays.

    Returns
    -------
    TcoRiskResult
        The TCO, with ``risk`` None when ``risk_samples`` is 0.
    """
    from gpuplan.money import parse_loan, risk, tco

    fac = cast(FacilityMode, check_choice("facility", facility, FACILITY_MODES))
    rule = cast(ResidualRule, check_choice("residual", residual, RESIDUAL_RULES))
    check_whole("risk_samples", risk_samples, MAX_RISK_SAMPLES, lo=0)
    terms = parse_loan(loan) if isinstance(loan, str) else loan
    res = tco(gpu, gpus, system=system, region=region, years=years, utilisation=utilisation,
              loan=terms, cloud=_cloud_arg(cloud), term=term, discount_rate=discount_rate,
              facility=fac, useful_life_years=useful_life_years, residual=rule,
              rent_price_change_per_year=rent_price_change_per_year,
              construction_months=construction_months, catalog=catalog or load_catalog())
    rk = risk(res, n_samples=risk_samples, seed=seed) if risk_samples else None
    return _tco_risk_result().model_construct(**dict(res), risk=rk)


__all__ = ["TcoRiskResult", "check_prices", "default_prices", "priced_serve", "priced_train",
           "tco_with_risk"]
