"""Own versus rent for one cluster (``gpuplan tco``): catalog look-ups, inputs, the result.

:func:`tco` resolves every input from the user's values and the catalog (recording each as an
assumption with its source), prices the cluster (:func:`price_cluster`), runs the vectorised
cash-flow model (:func:`gpuplan.money.cashflows.simulate`) and assembles a
:class:`~gpuplan.money.types.TcoResult`: CapEx, OpEx, the loan schedule, NPV, IRR, break-even,
the cost per GPU-hour and sensitivity tables.

``npv_usd`` = NPV(own_t - rent_t) at the discount rate (monthly compounding of the annual
rate): positive means owning costs less than renting. ``irr`` is the annual IRR of that
difference (the return on buying instead of renting), ``breakeven_months`` the first month its
cumulative sum turns non-negative. ``breakeven_utilisation`` is the utilisation below which
renting only the used hours (at the same price path) costs less than owning.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gpuplan.catalog import Catalog
from gpuplan.catalog.schema_money import RegionModel
from gpuplan.checks import check_choice, check_number, check_whole
from gpuplan.cluster.result import ClusterResult
from gpuplan.errors import UserError
from gpuplan.money import opex as ox
from gpuplan.money._catalog import Assumptions, get_catalog
from gpuplan.money.breakeven import (
    breakeven_rent_change_per_year,
    breakeven_rent_usd_per_gpu_hour,
)
from gpuplan.money.capex import (
    HARDWARE_KEYS,
    PricedLine,
    bom_totals,
    capex_breakdown,
    facility_build_usd,
    price_bom,
)
from gpuplan.money.cashflows import (
    CashFlowDetail,
    LoanFlows,
    Simulation,
    conventional_irr,
    own_cost_breakdown,
    simulate,
)
from gpuplan.money.cloud import RentPrice, rent_usd_per_used_gpu_hour, resolve_rent
from gpuplan.money.finance import LoanTerms, monthly_to_annual
from gpuplan.money.region import (
    PurchaseCheck,
    carbon_tco2e,
    check_purchase_allowed,
    region_entry,
)
from gpuplan.money.sensitivity import sensitivity_tables
from gpuplan.money.types import (
    FACILITIES,
    MAX_CONSTRUCTION_MONTHS,
    MAX_EGRESS_BYTES_PER_MONTH,
    MAX_GPUS,
    MAX_PRICE_CHANGE_PER_YEAR,
    MAX_YEARS,
    RESIDUALS,
    WHOLE_MONTHS_TOLERANCE,
    BilledTier,
    CapitalArgs,
    CapitalInputs,
    CashFlows,
    CostPerGpuHour,
    Facility,
    LoanOut,
    LoanRow,
    OwnSummary,
    RentSummary,
    RentTier,
    Residual,
    RunningArgs,
    RunningInputs,
    TcoInputs,
    TcoResult,
)
from gpuplan.units import HOURS_PER_YEAR, MONTHS_PER_YEAR

#: Highest carbon price accepted [USD per tCO2e] (a typo guard: EU ETS peaked near 100).
MAX_CARBON_USD_PER_TCO2E = 1e4
#: Highest corporate tax rate accepted [fraction] (a typo guard: statutory rates reach ~35 %).
MAX_CORPORATE_TAX_RATE = 0.9


# ----------------------------------------------------------------------------------------------
# The entry point and its phases
# ----------------------------------------------------------------------------------------------

def tco(gpu: str, gpus: int, *, system: str | None = None, region: str = "us",
        years: float = 5, utilisation: float | None = None, loan: LoanTerms | None = None,
        cloud: str | float | None = None, term: str | None = None,
        discount_rate: float | None = None, facility: Facility = "build",
        useful_life_years: float | None = None, residual: Residual = "book",
        rent_price_change_per_year: float = 0.0, hardware_price_change_per_year: float = 0.0,
        construction_months: int = 0, egress_bytes_per_month: float = 0.0,
        software_usd_per_gpu_year: float = 0.0, staff_fte: float | None = None,
        staff_gpus_per_fte: float | None = None, staff_usd_per_fte_year: float | None = None,
        failure_rate_per_year: float = 0.0,
        maintenance_fraction_per_year: float | None = None,
        electricity_usd_per_kwh: float | None = None, as_of: str | None = None,
        corporate_tax_rate: float | str | None = None, catalog: Catalog | None = None,
        cluster: ClusterResult | None = None,
        cluster_kwargs: dict[str, Any] | None = None,
        rent_tiers: list[BilledTier] | None = None,
        own_rent_tiers: list[BilledTier] | None = None,
        rent_used_gpu_hours: float | None = None, carbon_usd_per_tco2e: float = 0.0) -> TcoResult:
    """Own versus rent for ``gpus`` accelerators ``gpu`` over ``years``.

    Parameters
    ----------
    gpu : str
        Accelerator id.
    gpus : int
        Accelerators [count]; the cluster rounds up to whole servers.
    system : str, optional
        System (server) id; default the cluster builder's choice.
    region : str
        ``regions`` id: electricity price, grid carbon, facility prices, export rules.
    years : float
        Horizon of operation [years] (whole months).
    utilisation : float, optional
        Share of hours doing useful work [fraction]; default catalog ``utilisation``.
    loan : LoanTerms, optional
        Finance part of the capex; None = cash purchase.
    cloud : str or float, optional
        ``clouds`` id or a price [USD per GPU-hour]; default the accelerator's default entry.
    term : {"on_demand", "reserved_1yr", "reserved_3yr"}, optional
        Rental commitment (default on demand).
    discount_rate : float, optional
        Annual discount rate [fraction/year]; default catalog ``discount-rate``.
    facility : {"build", "colocation"}
        Build the data centre (capex per W of IT) or rent colocation (opex per kW-month).
    useful_life_years : float, optional
        Hardware life [years]; default catalog ``useful-life`` (replaced at its end).
    residual : {"book", "market"}
        Hardware value at the horizon: book value, or price decayed 0.14 OOM a year (Epoch).
    rent_price_change_per_year, hardware_price_change_per_year : float
        Yearly change of the rental and hardware prices [fraction/year].
    construction_months : int
        Months from the first spend to operation [months]; loan interest is capitalised.
    egress_bytes_per_month, software_usd_per_gpu_year : float
        Data out of the cloud [bytes/month]; licences [USD per GPU-year] (default 0).
    staff_fte, staff_gpus_per_fte, staff_usd_per_fte_year : float, optional
        Staff [FTE] (default the catalog's FTE per W of IT, or gpus / ``staff_gpus_per_fte``
        [GPUs/FTE]; ``staff_fte`` wins) and its loaded cost [USD/year].
    failure_rate_per_year : float
        Share of compute hardware replaced per year beyond maintenance [fraction/year].
    maintenance_fraction_per_year : float, optional
        Maintenance [fraction of hardware capex per year]; default catalog ``maintenance``.
    electricity_usd_per_kwh : float, optional
        Electricity price [USD/kWh]; default the region's.
    as_of : str, optional
        Purchase date for the export rules (default today).
    corporate_tax_rate : float or "region", optional
        Tax on profits [fraction], or ``"region"`` for the region's; None = pre-tax. Opex, rent
        and loan interest are deducted, hardware and facility depreciate as a shield.
    catalog : Catalog, optional
        Default the built-in catalog. ``cluster`` below: default built here.
    cluster, cluster_kwargs : ClusterResult, dict, optional
        A cluster already built; else ``gpuplan.cluster.build_cluster(**cluster_kwargs)``.
    rent_tiers, own_rent_tiers, rent_used_gpu_hours : list of BilledTier, float, optional
        The rent side as a billed mix (``rentmix.cheapest_mix``), what the owner rents beyond
        the fleet (the hybrid's burst) and the GPU-hours the mix serves [GPU-hours].
    carbon_usd_per_tco2e : float
        Carbon price on the owned facility's emissions [USD per tCO2e] (default 0: none).

    Raises
    ------
    UserError
        Unknown ids, out-of-range values (``field`` = the parameter), export rules, no price.
    """
    cat = get_catalog(catalog)
    a = Assumptions()
    notes: list[str] = []
    running_args = RunningArgs(
        electricity_usd_per_kwh, maintenance_fraction_per_year, staff_fte, staff_gpus_per_fte,
        staff_usd_per_fte_year, software_usd_per_gpu_year, failure_rate_per_year)
    capital_args = CapitalArgs(utilisation, discount_rate, useful_life_years)
    _check_tco_args(gpus, years, construction_months, rent_price_change_per_year,
                    hardware_price_change_per_year, egress_bytes_per_month, facility, residual,
                    loan)
    running_args.check()
    capital_args.check()
    acc = cat.accelerator(gpu)
    reg = region_entry(region, cat)
    purchase = _purchase(acc.id, reg.id, cat, as_of, notes)
    cluster = _own_cluster(acc.id, gpus, system, cat, cluster, cluster_kwargs, notes)
    capex, colo_y, lines = price_cluster(cluster, cat, reg, facility, a, notes)
    running = _running_inputs(cat, reg, cluster, a, running_args)
    capital = _capital_inputs(cat, a, capital_args)
    rp = _rent_price(acc.id, cloud, rent_tiers[0].term if rent_tiers else term, cat, a, notes,
                     None if rent_tiers else int(cluster.gpus))
    base, margin = _loan_rates(cat, a, loan)
    tax = _tax_rate(reg, corporate_tax_rate, a, notes)
    inp = TcoInputs(
        gpu=acc.id, system=cluster.system, region=reg.id, gpus=int(cluster.gpus), years=years,
        construction_months=construction_months, capex_usd=capex, facility_mode=facility,
        residual=residual, hardware_price_change_per_year=hardware_price_change_per_year,
        colocation_usd_per_year=colo_y, rent_usd_per_gpu_hour=rent_tiers[0].
        price_usd_per_gpu_hour if rent_tiers else rp.price_usd_per_gpu_hour,
        rent_term=rp.term, rent_price_change_per_year=rent_price_change_per_year,
        egress_bytes_per_month=egress_bytes_per_month, egress_usd_per_byte=rp.egress_usd_per_byte,
        loan=loan, loan_base_rate=base, loan_margin=margin, corporate_tax_rate=tax, **running,
        **capital, rent_tiers=rent_tiers or None, own_rent_tiers=own_rent_tiers or None,
        rent_used_gpu_hours=rent_used_gpu_hours,
        carbon_usd_per_tco2e=check_number("carbon_usd_per_tco2e", carbon_usd_per_tco2e, 0,
                                          MAX_CARBON_USD_PER_TCO2E))
    return _result(inp, cluster, lines, purchase, rp, a, notes, cat)


def _own_cluster(gpu_id: str, gpus: int, system: str | None, cat: Catalog,
                 cluster: ClusterResult | None, cluster_kwargs: dict[str, Any] | None,
                 notes: list[str]) -> ClusterResult:
    """The cluster given (checked to hold ``gpu_id``), else built; its notes said in ``notes``."""
    if cluster is None:
        from gpuplan.cluster import build_cluster

        cluster = build_cluster(gpu_id, gpus, system=system, catalog=cat, **(cluster_kwargs or {}))
    elif cluster.gpu != gpu_id:
        raise UserError(f"cluster holds {cluster.gpu}, not {gpu_id}", field="cluster")
    notes += [f"cluster: {n}" for n in cluster.notes]
    return cluster


def _tax_rate(reg: RegionModel, rate: float | str | None, a: Assumptions, notes: list[str]
              ) -> float:
    """The corporate tax rate [fraction]: none (pre-tax), the user's, or the region's."""
    if rate is None:
        return 0.0
    if isinstance(rate, str):
        if rate != "region":
            raise UserError(f"corporate_tax_rate must be a fraction or 'region', got {rate!r}",
                            field="corporate_tax_rate")
        if reg.corporate_tax_rate is None:
            notes.append(f"region {reg.id} has no corporate tax rate: cash flows are pre-tax")
            return 0.0
        return a.sourced("corporate_tax_rate", reg.corporate_tax_rate, "fraction",
                         f"regions/{reg.id}")
    check_number("corporate_tax_rate", rate, 0, MAX_CORPORATE_TAX_RATE)
    a.add("corporate_tax_rate", rate, "fraction")
    return float(rate)


def _check_tco_args(gpus: int, years: float, construction_months: int,
                    rent_price_change_per_year: float, hardware_price_change_per_year: float,
                    egress_bytes_per_month: float, facility: str, residual: str,
                    loan: LoanTerms | None) -> None:
    """The bounds of :func:`tco`'s inputs (units there); UserErrors name the parameter."""
    check_whole("gpus", gpus, MAX_GPUS)
    check_number("years", years, 0, MAX_YEARS, lo_open=True)
    if abs(years * MONTHS_PER_YEAR - round(years * MONTHS_PER_YEAR)) > WHOLE_MONTHS_TOLERANCE:
        raise UserError(f"years must be a whole number of months, got {years!r}", field="years")
    check_whole("construction_months", construction_months, MAX_CONSTRUCTION_MONTHS, lo=0)
    for name, v in (("rent_price_change_per_year", rent_price_change_per_year),
                    ("hardware_price_change_per_year", hardware_price_change_per_year)):
        check_number(name, v, -1, MAX_PRICE_CHANGE_PER_YEAR, lo_open=True)
    check_number("egress_bytes_per_month", egress_bytes_per_month, 0, MAX_EGRESS_BYTES_PER_MONTH)
    check_choice("facility", facility, FACILITIES)
    check_choice("residual", residual, RESIDUALS)
    if loan is not None and not isinstance(loan, LoanTerms):
        raise UserError("loan must be LoanTerms (see gpuplan.money.parse_loan)", field="loan")


def _purchase(gpu_id: str, region_id: str, cat: Catalog, as_of: str | None,
              notes: list[str]) -> PurchaseCheck:
    """The export rules of the region for the accelerator (a licence is said in ``notes``)."""
    purchase = check_purchase_allowed(gpu_id, region_id, cat, as_of=as_of)
    if purchase.status == "licence":
        notes.append(f"export licence required for {gpu_id} in region {region_id}: "
                     f"{purchase.text}")
    return purchase


def _rent_price(gpu_id: str, cloud: str | float | None, term: str | None, cat: Catalog,
                a: Assumptions, notes: list[str], gpus: int | None) -> RentPrice:
    """The rental price compared with, recorded as an assumption."""
    rp = resolve_rent(gpu_id, cloud, term, cat, gpus=gpus)
    notes += rp.notes
    a.add("rent_usd_per_gpu_hour", rp.price_usd_per_gpu_hour, "USD per GPU-hour",
          source=rp.source, as_of=rp.as_of, catalog_id=None if rp.cloud == "user"
          else f"clouds/{rp.cloud}")
    return rp


def _running_inputs(cat: Catalog, reg: RegionModel, cluster: ClusterResult, a: Assumptions,
                    args: RunningArgs) -> RunningInputs:
    """Energy, upkeep and staff inputs: the user's values, else the region's and catalog's.

    Energy is the cluster's yearly facility energy [Wh/year] (else facility power x 8,766 h);
    staff defaults to the catalog's FTE per W of nameplate IT power, or ``gpus /
    staff_gpus_per_fte`` when that is given.
    """
    electricity_usd_per_kwh = args.electricity_usd_per_kwh
    maintenance_fraction_per_year = args.maintenance_fraction_per_year
    staff_fte, staff_gpus_per_fte = args.staff_fte, args.staff_gpus_per_fte
    staff_usd_per_fte_year = args.staff_usd_per_fte_year
    software_usd_per_gpu_year = args.software_usd_per_gpu_year
    failure_rate_per_year = args.failure_rate_per_year
    if electricity_usd_per_kwh is None:
        elec = a.sourced("electricity_usd_per_kwh", reg.electricity_usd_per_kwh, "USD/kWh",
                         f"regions/{reg.id}")
    else:
        elec = float(electricity_usd_per_kwh)
        a.add("electricity_usd_per_kwh", elec, "USD/kWh")
    grid = a.sourced("grid_kg_co2_per_kwh", reg.grid_kg_co2_per_kwh, "kg CO2e/kWh",
                     f"regions/{reg.id}")
    energy_wh = float(cluster.power_w.energy_wh_per_year) or \
        float(cluster.power_w.facility_avg_w) * HOURS_PER_YEAR
    if maintenance_fraction_per_year is None:
        maint = a.cost(cat, "maintenance", "maintenance_fraction_per_year")
    else:
        maint = maintenance_fraction_per_year
        a.add("maintenance_fraction_per_year", maint, "fraction/year")
    ins = a.cost(cat, "insurance", "insurance_fraction_per_year")
    if staff_fte is None and staff_gpus_per_fte is not None:
        staff_fte = int(cluster.gpus) / staff_gpus_per_fte
        a.add("staff_gpus_per_fte", staff_gpus_per_fte, "GPUs/FTE")
    elif staff_fte is None:
        staff_fte = float(ox.staff_fte(float(cluster.power_w.it_peak_w),
                                       a.cost(cat, "staff-fte-per-w", "staff_fte_per_w")))
    else:
        a.add("staff_fte", staff_fte, "FTE")
    if staff_usd_per_fte_year is None:
        staff_usd_per_fte_year = a.cost(cat, "staff-loaded-cost", "staff_usd_per_fte_year")
    else:
        a.add("staff_usd_per_fte_year", staff_usd_per_fte_year, "USD/year")
    a.add("software_usd_per_gpu_year", software_usd_per_gpu_year, "USD per GPU-year",
          source="user input (no catalog price; default 0)")
    a.add("failure_rate_per_year", failure_rate_per_year, "fraction/year",
          source="user input (default 0: failures covered by maintenance)")
    return RunningInputs(
        energy_wh_per_year=energy_wh, electricity_usd_per_kwh=elec, grid_kg_co2_per_kwh=grid,
        maintenance_fraction_per_year=maint, insurance_fraction_per_year=ins,
        staff_fte=staff_fte, staff_usd_per_fte_year=staff_usd_per_fte_year,
        software_usd_per_gpu_year=software_usd_per_gpu_year,
        failure_rate_per_year=failure_rate_per_year)


def _capital_inputs(cat: Catalog, a: Assumptions, args: CapitalArgs) -> CapitalInputs:
    """Utilisation [fraction], discount rate [fraction/year], lives [years] and the
    price-performance decay [orders of magnitude/year]: the user's, else the catalog's."""
    utilisation, discount_rate = args.utilisation, args.discount_rate
    useful_life_years = args.useful_life_years
    if utilisation is None:
        utilisation = a.cost(cat, "utilisation", "utilisation")
    else:
        a.add("utilisation", utilisation, "fraction")
    if discount_rate is None:
        discount_rate = a.cost(cat, "discount-rate", "discount_rate")
    else:
        a.add("discount_rate", discount_rate, "fraction/year")
    if useful_life_years is None:
        useful_life_years = a.cost(cat, "useful-life", "useful_life_years")
    else:
        a.add("useful_life_years", useful_life_years, "years")
    return CapitalInputs(
        utilisation=utilisation, discount_rate=discount_rate,
        useful_life_years=useful_life_years,
        facility_life_years=a.cost(cat, "facility-life", "facility_life_years"),
        price_performance_ooms_per_year=a.cost(cat, "price-performance-decay",
                                               "price_performance_ooms_per_year"))


def _loan_rates(cat: Catalog, a: Assumptions, loan: LoanTerms | None
                ) -> tuple[float | None, float | None]:
    """Base rate and margin of the loan [fraction/year] (catalog SOFR and investment-grade
    margin unless the terms set them); (None, None) for a cash purchase."""
    if loan is None:
        return None, None
    base = loan.base_rate if loan.base_rate is not None else \
        a.cost(cat, "sofr", "loan_base_rate")
    margin = loan.margin if loan.margin is not None else \
        a.cost(cat, "margin-investment-grade", "loan_margin")
    return base, margin


def price_cluster(cluster: ClusterResult, cat: Catalog, reg: RegionModel, facility: str,
                  a: Assumptions, notes: list[str]
                  ) -> tuple[dict[str, float], float, list[PricedLine]]:
    """CapEx by component [USD], colocation [USD/year] and the priced BOM of ``cluster``.

    Parameters
    ----------
    cluster : ClusterResult
        The cluster: BOM and nameplate IT power [W].
    cat : Catalog
        Prices and shares (``costs``) [USD, fraction].
    reg : RegionModel
        Facility build [USD/W] and colocation [USD per kW-month] prices.
    facility : {"build", "colocation"}
        Build the facility (capex) or rent colocation (opex).
    a : Assumptions
        Where the values used are recorded.
    notes : list of str
        Appended to: unpriced items, judgement prices, fallbacks.

    Notes
    -----
    The facility is built at ``facility_build_usd_per_w`` of the region (else the catalog's US
    average) times the nameplate IT power, or rented at the region's colocation price.
    Catalog values used are recorded in ``a``; what could not be priced is said in ``notes``.
    """
    lines, unpriced = price_bom(cluster, cat, a)
    if unpriced:
        notes.append(f"no price for BOM item(s) {', '.join(sorted(set(unpriced)))}: counted as "
                     f"0; overlay a costs entry with bom_match or give the cluster a price")
    judged = sorted({ln.item for ln in lines if ln.judgement})
    if judged:
        notes.append(f"judgement prices (no public source) used for: {', '.join(judged)}")
    totals = bom_totals(lines)
    if totals["compute"] <= 0:
        raise UserError(f"no purchase price for {cluster.gpu} or its system {cluster.system} in "
                        f"the catalog, so owning cannot be priced (overlay price_usd on the "
                        f"system)")
    it_peak_w = float(cluster.power_w.it_peak_w)
    facility_usd = 0.0
    colo_y = 0.0
    if facility == "build":
        if reg.facility_build_usd_per_w is not None:
            usd_w = a.sourced("facility_build_usd_per_w", reg.facility_build_usd_per_w, "USD/W",
                              f"regions/{reg.id}")
        else:
            usd_w = a.cost(cat, "facility-build", "facility_build_usd_per_w", "USD/W")
            notes.append(f"region {reg.id} has no facility build price: the US average is used")
        facility_usd = float(facility_build_usd(it_peak_w, usd_w))
    else:
        if reg.colocation_usd_per_kw_month is None:
            raise UserError(f"facility {facility!r}: region {reg.id!r} has no colocation price; "
                            f"build instead or overlay colocation_usd_per_kw_month",
                            field="facility")
        colo = a.sourced("colocation_usd_per_kw_month", reg.colocation_usd_per_kw_month,
                         "USD per kW-month", f"regions/{reg.id}")
        colo_y = float(ox.colocation_usd_per_year(it_peak_w, colo))
    spares_f = a.cost(cat, "spares", "spares_fraction")
    inst_f = a.cost(cat, "installation", "installation_fraction")
    capex = capex_breakdown(totals, facility_usd=facility_usd, spares_fraction=spares_f,
                            installation_fraction=inst_f)
    return capex, colo_y, lines


# ----------------------------------------------------------------------------------------------
# The result
# ----------------------------------------------------------------------------------------------

def _loan_out(inp: TcoInputs, lo: LoanFlows) -> LoanOut:
    """The loan of sample 0 and its schedule, as reported [USD]."""
    ln = inp.loan
    if ln is None or inp.loan_base_rate is None or inp.loan_margin is None:
        raise ValueError("no loan in these inputs")
    sch = lo.schedule
    rows = [LoanRow(period=k + 1, month=int(lo.payment_months[k]),
                    opening_usd=float(sch["opening"][0, k]),
                    interest_usd=float(sch["interest"][0, k]),
                    principal_usd=float(sch["principal"][0, k]),
                    payment_usd=float(sch["payment"][0, k]),
                    closing_usd=float(sch["closing"][0, k])) for k in range(ln.periods)]
    amount = float(lo.amount_usd[0])
    p0 = float(lo.principal_at_start_usd[0])
    return LoanOut(
        amount_usd=amount, rate=float(lo.rate_per_year[0]), base_rate=float(inp.loan_base_rate),
        margin=float(inp.loan_margin), amortisation=ln.amortisation,
        payments_per_year=ln.payments_per_year, term_years=ln.term_years,
        extension_years=ln.extension_years, extended=ln.extend,
        upfront_fee_usd=float(lo.upfront_fee_usd[0]),
        extension_fee_usd=float(lo.extension_fee_usd[0]),
        interest_during_construction_usd=p0 - amount, principal_at_start_usd=p0,
        total_interest_usd=float(sch["interest"][0].sum()),
        balance_at_horizon_usd=float(lo.balance_at_horizon_usd[0]), schedule=rows)


def _own_summary(inp: TcoInputs, s: Simulation, cash: CashFlowDetail, opex_total: float,
                 financing_cash: float) -> OwnSummary:
    return OwnSummary(
        npv_cost_usd=float(-s.own_npv_usd[0]), capex_usd=inp.capex_usd["total"],
        replacements_usd=float(s.replacements_usd[0]),
        opex_usd=opex_total * inp.months / MONTHS_PER_YEAR, financing_usd=financing_cash,
        residual_value_usd=float(s.residual_usd[0]), total_cash_usd=float(-cash.own_usd[0].sum()))


def _rent_summary(inp: TcoInputs, rp: RentPrice, s: Simulation, cash: CashFlowDetail
                  ) -> RentSummary:
    return RentSummary(
        cloud=rp.cloud, term=rp.term, price_usd_per_gpu_hour=rp.price_usd_per_gpu_hour,
        price_source=rp.source, price_as_of=rp.as_of,
        price_change_per_year=inp.rent_price_change_per_year,
        mean_price_usd_per_gpu_hour=float(cash.rent_price_usd_per_gpu_hour[0].mean()),
        egress_usd=inp.egress_bytes_per_month * inp.egress_usd_per_byte * inp.months,
        npv_cost_usd=float(-s.rent_npv_usd[0]), total_cash_usd=float(-cash.rent_usd[0].sum()),
        mix=[RentTier(term=t.term, gpus=t.gpus, price_usd_per_gpu_hour=t.price_usd_per_gpu_hour,
                      source=t.source) for t in inp.rent_tiers] if inp.rent_tiers else
        [RentTier(term=rp.term, gpus=inp.gpus, price_usd_per_gpu_hour=rp.price_usd_per_gpu_hour,
                  source=rp.source)])


def _cash_flows(cash: CashFlowDetail) -> CashFlows:
    own_cf, rent_cf = cash.own_usd[0], cash.rent_usd[0]
    diff = own_cf - rent_cf
    return CashFlows(month=list(range(own_cf.size)), own_usd=[float(x) for x in own_cf],
                     rent_usd=[float(x) for x in rent_cf],
                     own_minus_rent_usd=[float(x) for x in diff],
                     cumulative_own_minus_rent_usd=[float(x) for x in np.cumsum(diff)])


def _result(inp: TcoInputs, cluster: ClusterResult, lines: list[PricedLine],
            purchase: PurchaseCheck, rp: RentPrice, a: Assumptions, notes: list[str],
            cat: Catalog) -> TcoResult:
    s = simulate(inp)
    cash = s.require_detail()
    M, C = inp.months, inp.construction_months
    r_m = conventional_irr(cash.own_usd[0] - cash.rent_usd[0])
    be = int(cash.breakeven_month[0])
    full_pv = float(cash.rent_full_pv_usd[0])
    own_pv = float(-s.own_npv_usd[0])
    opex = {k: float(v[0]) for k, v in s.opex_usd_per_year.items()}
    opex["total"] = sum(opex.values())
    cap = inp.capex_usd
    dep = {"hardware": sum(cap[k] for k in HARDWARE_KEYS) / inp.useful_life_years,
           "facility": cap["facility"] / inp.facility_life_years}
    dep["total"] = dep["hardware"] + dep["facility"]
    bd = {k: float(v) for k, v in own_cost_breakdown(inp).items()}
    u = inp.utilisation
    rent_per_used = rent_usd_per_used_gpu_hour(
        float(cash.rent_price_usd_per_gpu_hour[0].mean()), u, inp.rent_term,
        inp.egress_bytes_per_month * inp.egress_usd_per_byte, inp.gpus)
    if inp.rent_tiers and inp.rent_used_gpu_hours:       # the mix's bill over the hours served
        rent_per_used = float(cash.rent_bill_usd[0].sum()) / (1.0 - inp.corporate_tax_rate) \
            / inp.rent_used_gpu_hours

    loan_out = None
    financing_cash = 0.0
    if s.loan is not None:
        loan_out = _loan_out(inp, s.loan)
        financing_cash = float(s.loan.interest_in_horizon_usd[0]) + loan_out.upfront_fee_usd + \
            loan_out.extension_fee_usd + loan_out.interest_during_construction_usd
        if inp.loan is not None and inp.loan.years * MONTHS_PER_YEAR > M:
            notes.append(f"the loan outlives the horizon: {loan_out.balance_at_horizon_usd:,.0f} "
                         f"USD is repaid at month {C + M}")
        capex0 = sum(inp.capex_usd[k] for k in HARDWARE_KEYS) + inp.capex_usd["facility"]
        if inp.loan is not None and inp.loan.amount_usd and inp.loan.amount_usd > capex0:
            notes.append(f"loan: {inp.loan.amount_usd:,.0f} USD asked, capped at the capex "
                         f"{capex0:,.0f} USD (a loan finances what is bought)")
    sens = sensitivity_tables(inp, cat)
    if inp.facility_mode == "build":
        notes.append("facility built: its book value at the horizon is returned as residual value")
    return TcoResult(
        gpu=inp.gpu, system=inp.system, region=inp.region, gpus=inp.gpus, nodes=cluster.nodes,
        racks=cluster.racks, years=inp.years, construction_months=C,
        facility_mode=inp.facility_mode, utilisation=u, discount_rate=inp.discount_rate,
        useful_life_years=inp.useful_life_years, purchase=purchase,
        capex_usd=cap, opex_usd_per_year=opex, depreciation_usd_per_year=dep,
        own=_own_summary(inp, s, cash, opex["total"], financing_cash),
        rent=_rent_summary(inp, rp, s, cash),
        npv_usd=float(s.npv_usd[0]), financing_npv_usd=float(s.financing_npv_usd[0]),
        breakeven_rent_usd_per_gpu_hour=breakeven_rent_usd_per_gpu_hour(inp, own_pv),
        breakeven_rent_change_per_year=breakeven_rent_change_per_year(inp),
        irr=None if r_m is None else float(monthly_to_annual(r_m)),
        breakeven_months=None if be < 0 else be,
        breakeven_utilisation=own_pv / full_pv if full_pv > 0 else None,
        cost_usd_per_gpu_hour=CostPerGpuHour(own=bd["total"], rent=rent_per_used,
                                             own_breakdown=bd, utilisation=u),
        loan=loan_out, cash_flows=_cash_flows(cash), sensitivity=sens,
        energy_wh_per_year=inp.energy_wh_per_year, it_power_w=float(cluster.power_w.it_avg_w),
        it_max_power_w=float(cluster.power_w.it_peak_w),
        facility_power_w=float(cluster.power_w.facility_avg_w),
        carbon_tco2e_per_year=float(carbon_tco2e(inp.energy_wh_per_year,
                                                 inp.grid_kg_co2_per_kwh)),
        bom=lines, assumptions=a.rows, notes=notes, inputs=inp)
