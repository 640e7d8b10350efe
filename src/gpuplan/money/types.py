"""Typed inputs and results of the own-versus-rent model (``gpuplan tco``).

:class:`TcoInputs` holds every scalar the cash-flow model (:mod:`gpuplan.money.cashflows`) uses,
in base units, with the defaults resolved from the catalog; :class:`TcoResult` is what
:func:`gpuplan.money.tco` returns, and its ``model_dump()`` is ``gpuplan tco --json``. The
nested JSON objects are TypedDicts, so they stay plain mappings (``result.own["npv_cost_usd"]``)
while the type checker knows every key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict

from gpuplan.checks import check_number, check_optional_number
from gpuplan.money._catalog import AssumptionRow
from gpuplan.money.capex import PricedLine
from gpuplan.money.finance import LoanTerms
from gpuplan.money.region import PurchaseCheck
from gpuplan.units import MONTHS_PER_YEAR

Facility = Literal["build", "colocation"]
Residual = Literal["book", "market"]
RentTerm = Literal["on_demand", "reserved_1yr", "reserved_3yr"]
FACILITIES: tuple[Facility, ...] = ("build", "colocation")
RESIDUALS: tuple[Residual, ...] = ("book", "market")

#: Most accelerators one TCO models [count].
MAX_GPUS = 2**24
#: Longest horizon and useful life modelled [years].
MAX_YEARS = 30
#: Longest construction period [months].
MAX_CONSTRUCTION_MONTHS = 120
#: Lowest and highest discount rate accepted [fraction/year] (the upper bound inclusive).
MIN_DISCOUNT_RATE, MAX_DISCOUNT_RATE = -0.5, 1.0
#: Highest yearly price change of hardware or rent accepted [fraction/year].
MAX_PRICE_CHANGE_PER_YEAR = 10.0
#: Upper bounds of the optional inputs (typo guards, far above any real value), in the units of
#: the names.
MAX_EGRESS_BYTES_PER_MONTH = 1e21
MAX_SOFTWARE_USD_PER_GPU_YEAR = 1e7
MAX_STAFF_FTE = 1e6
MAX_STAFF_GPUS_PER_FTE = 1e9
MAX_STAFF_USD_PER_FTE_YEAR = 1e8
MAX_ELECTRICITY_USD_PER_KWH = 10.0
#: How far ``years x 12`` may be from a whole number of months [months].
WHOLE_MONTHS_TOLERANCE = 1e-9


class BilledTier(BaseModel):
    """One tier of a rent mix as billed: a term, its fleet, its price and the hours paid.

    ``billed_gpu_hours_per_month`` has one value per operating month [GPU-hours]: a reserved
    tier pays ``gpus`` x every hour, an on-demand tier the hours used.
    """

    model_config = ConfigDict(extra="forbid")
    term: RentTerm
    gpus: int = Field(ge=0)
    price_usd_per_gpu_hour: float = Field(gt=0)
    source: str
    as_of: str | None = None
    billed_gpu_hours_per_month: list[float]

    @property
    def contracted(self) -> bool:
        """True for a reserved tier (every hour paid, whatever the demand)."""
        return self.term != "on_demand"


class TcoInputs(BaseModel):
    """Every scalar the cash-flow model uses, in base units (the defaults resolved).

    Money in USD, energy in Wh, rates and shares as fractions (per year where named so), times
    in years or months as named.
    """

    model_config = ConfigDict(extra="forbid")
    gpu: str
    system: str
    region: str
    gpus: int = Field(ge=1)
    years: float = Field(gt=0, le=MAX_YEARS)
    construction_months: int = Field(default=0, ge=0, le=MAX_CONSTRUCTION_MONTHS)
    capex_usd: dict[str, float]
    facility_mode: Facility
    facility_life_years: float = Field(gt=0)
    useful_life_years: float = Field(gt=0, le=MAX_YEARS)
    residual: Residual = "book"
    price_performance_ooms_per_year: float = Field(ge=0)
    hardware_price_change_per_year: float = Field(default=0.0, gt=-1,
                                                  le=MAX_PRICE_CHANGE_PER_YEAR)
    energy_wh_per_year: float = Field(ge=0)
    electricity_usd_per_kwh: float = Field(ge=0)
    maintenance_fraction_per_year: float = Field(ge=0, le=1)
    insurance_fraction_per_year: float = Field(ge=0, le=1)
    staff_fte: float = Field(ge=0)
    staff_usd_per_fte_year: float = Field(ge=0)
    software_usd_per_gpu_year: float = Field(ge=0)
    colocation_usd_per_year: float = Field(ge=0)
    failure_rate_per_year: float = Field(ge=0, le=1)
    rent_usd_per_gpu_hour: float = Field(gt=0)
    rent_term: RentTerm
    rent_price_change_per_year: float = Field(default=0.0, gt=-1, le=MAX_PRICE_CHANGE_PER_YEAR)
    egress_bytes_per_month: float = Field(default=0.0, ge=0)
    egress_usd_per_byte: float = Field(default=0.0, ge=0)
    utilisation: float = Field(gt=0, le=1)
    discount_rate: float = Field(gt=MIN_DISCOUNT_RATE, le=MAX_DISCOUNT_RATE)
    loan: LoanTerms | None = None
    loan_base_rate: float | None = None
    loan_margin: float | None = None
    grid_kg_co2_per_kwh: float = Field(ge=0)
    #: Corporate income tax rate [fraction]; 0 = pre-tax (deductions and shields off).
    corporate_tax_rate: float = Field(default=0.0, ge=0, lt=1)
    #: The rent side as a mix of billed tiers (None: the whole fleet on ``rent_term`` at
    #: ``utilisation``); the first tier's price is ``rent_usd_per_gpu_hour``.
    rent_tiers: list[BilledTier] | None = None
    #: Hours the owner rents beyond the owned fleet (the hybrid's burst) [tiers as above].
    own_rent_tiers: list[BilledTier] | None = None
    #: GPU-hours the rent mix serves over the horizon [GPU-hours] (None: gpus x hours x u).
    rent_used_gpu_hours: float | None = Field(default=None, gt=0)
    #: Relative error of the demand's GPU-hours [fraction] (the Monte Carlo's
    #: ``demand_multiplier`` half-width; 0: demand certain).
    demand_gpu_hours_error: float = Field(default=0.0, ge=0, lt=1)
    #: Margin the loan's balance is refinanced at if the extension is refused [fraction/year]
    #: (the Monte Carlo's ``refinancing_rate_shift`` reaches it; None: no refinancing risk).
    refinancing_margin: float | None = Field(default=None, ge=0, le=1)
    #: Carbon price on the owned facility's location-based emissions [USD per tCO2e].
    carbon_usd_per_tco2e: float = Field(default=0.0, ge=0)

    @property
    def months(self) -> int:
        """Months of operation in the horizon [months]."""
        return int(round(self.years * MONTHS_PER_YEAR))


class LoanRow(BaseModel):
    """One repayment period of the loan [USD]; ``month`` counts from the first spend."""

    model_config = ConfigDict(extra="forbid")
    period: int
    month: int
    opening_usd: float
    interest_usd: float
    principal_usd: float
    payment_usd: float
    closing_usd: float


class LoanOut(BaseModel):
    """The loan and its full repayment schedule (all USD, positive = paid by the borrower)."""

    model_config = ConfigDict(extra="forbid")
    amount_usd: float
    rate: float
    base_rate: float
    margin: float
    amortisation: str
    payments_per_year: int
    term_years: float
    extension_years: float
    extended: bool
    upfront_fee_usd: float
    extension_fee_usd: float
    interest_during_construction_usd: float
    principal_at_start_usd: float
    total_interest_usd: float
    balance_at_horizon_usd: float
    schedule: list[LoanRow]


class CashFlows(BaseModel):
    """Monthly cash flows [USD], month 0 = purchase; outflows negative."""

    model_config = ConfigDict(extra="forbid")
    month: list[int]
    own_usd: list[float]
    rent_usd: list[float]
    own_minus_rent_usd: list[float]
    cumulative_own_minus_rent_usd: list[float]


class OwnSummary(TypedDict):
    """Owning over the horizon [USD]: NPV of its cost and the cash it moves."""

    npv_cost_usd: float
    capex_usd: float
    replacements_usd: float
    opex_usd: float
    financing_usd: float
    residual_value_usd: float
    total_cash_usd: float


class RentTier(TypedDict):
    """One tier of the rent mix: a term, the fleet rented on it and its price."""

    term: str
    gpus: int
    price_usd_per_gpu_hour: float
    source: str


class RentSummary(TypedDict):
    """Renting over the horizon: the price used, its source, NPV and cash [USD]; ``mix`` the
    tiers rented (one tier: the whole fleet on ``term``)."""

    cloud: str
    term: str
    price_usd_per_gpu_hour: float
    price_source: str
    price_as_of: str | None
    price_change_per_year: float
    mean_price_usd_per_gpu_hour: float
    egress_usd: float
    npv_cost_usd: float
    total_cash_usd: float
    mix: list[RentTier]


class CostPerGpuHour(TypedDict):
    """Cost of a used GPU-hour [USD per GPU-hour], owned (with its parts) and rented."""

    own: float
    rent: float
    own_breakdown: dict[str, float]
    utilisation: float


class OwnSensitivityRow(TypedDict):
    """NPV(own - rent) [USD] and the owned GPU-hour [USD] at one value of an input."""

    value: float
    npv_usd: float
    own_usd_per_gpu_hour: float


class RentSensitivityRow(TypedDict):
    """NPV(own - rent) [USD] and the mean rental price [USD per GPU-hour] at one price path."""

    value: float
    npv_usd: float
    rent_mean_usd_per_gpu_hour: float


class Sensitivity(TypedDict):
    """One-at-a-time sensitivity tables of the TCO."""

    useful_life_years: list[OwnSensitivityRow]
    utilisation: list[OwnSensitivityRow]
    rent_price_change_per_year: list[RentSensitivityRow]


class TcoResult(BaseModel):
    """Result of :func:`gpuplan.money.tco`; ``model_dump()`` is ``gpuplan tco --json``."""

    model_config = ConfigDict(extra="forbid")
    gpu: str
    system: str
    region: str
    gpus: int
    nodes: int
    racks: int
    years: float
    construction_months: int
    facility_mode: str
    utilisation: float
    discount_rate: float
    useful_life_years: float
    purchase: PurchaseCheck
    capex_usd: dict[str, float]
    opex_usd_per_year: dict[str, float]
    depreciation_usd_per_year: dict[str, float]
    own: OwnSummary
    rent: RentSummary
    npv_usd: float
    financing_npv_usd: float = Field(
        default=0.0, description="NPV of the loan's own flows at the loan rate (adjusted "
                                 "present value; part of own.npv_cost_usd) [USD]")
    irr: float | None
    breakeven_months: int | None
    breakeven_utilisation: float | None
    breakeven_rent_usd_per_gpu_hour: float | None = Field(
        default=None, description="first-month rental price at which renting and owning cost "
                                  "the same (the price path's yearly change kept) [USD per "
                                  "GPU-hour]")
    breakeven_rent_change_per_year: float | None = Field(
        default=None, description="yearly change of the rent price at which renting and "
                                  "owning cost the same; a faster fall favours renting "
                                  "[fraction/year]")
    cost_usd_per_gpu_hour: CostPerGpuHour
    loan: LoanOut | None
    cash_flows: CashFlows
    sensitivity: Sensitivity
    energy_wh_per_year: float
    it_power_w: float
    it_max_power_w: float
    facility_power_w: float
    carbon_tco2e_per_year: float
    bom: list[PricedLine]
    assumptions: list[AssumptionRow]
    notes: list[str]
    inputs: TcoInputs


@dataclass(frozen=True)
class RunningArgs:
    """The user's energy, upkeep and staff inputs of :func:`gpuplan.money.tco` (None: default)."""

    electricity_usd_per_kwh: float | None
    maintenance_fraction_per_year: float | None
    staff_fte: float | None
    staff_gpus_per_fte: float | None
    staff_usd_per_fte_year: float | None
    software_usd_per_gpu_year: float
    failure_rate_per_year: float

    def check(self) -> None:
        """The bounds of each input (units in ``tco``); UserErrors name the parameter."""
        check_optional_number("electricity_usd_per_kwh", self.electricity_usd_per_kwh, 0,
                              MAX_ELECTRICITY_USD_PER_KWH)
        check_optional_number("maintenance_fraction_per_year",
                              self.maintenance_fraction_per_year, 0, 1)
        check_optional_number("staff_fte", self.staff_fte, 0, MAX_STAFF_FTE)
        check_optional_number("staff_gpus_per_fte", self.staff_gpus_per_fte, 0,
                              MAX_STAFF_GPUS_PER_FTE, lo_open=True)
        check_optional_number("staff_usd_per_fte_year", self.staff_usd_per_fte_year, 0,
                              MAX_STAFF_USD_PER_FTE_YEAR)
        check_number("software_usd_per_gpu_year", self.software_usd_per_gpu_year, 0,
                     MAX_SOFTWARE_USD_PER_GPU_YEAR)
        check_number("failure_rate_per_year", self.failure_rate_per_year, 0, 1)


@dataclass(frozen=True)
class CapitalArgs:
    """The user's utilisation, discount rate and useful life of ``tco`` (None: the default)."""

    utilisation: float | None
    discount_rate: float | None
    useful_life_years: float | None

    def check(self) -> None:
        """The bounds of each input (units in ``tco``); UserErrors name the parameter."""
        check_optional_number("utilisation", self.utilisation, 0, 1, lo_open=True)
        check_optional_number("discount_rate", self.discount_rate, MIN_DISCOUNT_RATE,
                              MAX_DISCOUNT_RATE, lo_open=True)
        check_optional_number("useful_life_years", self.useful_life_years, 0, MAX_YEARS,
                              lo_open=True)


class RunningInputs(TypedDict):
    """The :class:`TcoInputs` fields of energy, upkeep and staff."""

    energy_wh_per_year: float
    electricity_usd_per_kwh: float
    grid_kg_co2_per_kwh: float
    maintenance_fraction_per_year: float
    insurance_fraction_per_year: float
    staff_fte: float
    staff_usd_per_fte_year: float
    software_usd_per_gpu_year: float
    failure_rate_per_year: float


class CapitalInputs(TypedDict):
    """The :class:`TcoInputs` fields of use, lives and the cost of capital."""

    utilisation: float
    discount_rate: float
    useful_life_years: float
    facility_life_years: float
    price_performance_ooms_per_year: float
