"""Catalog sections for the economics: cloud prices, regions, and cost items.

Three extension sections (registered in :data:`MONEY_SECTIONS`):

``clouds``
    One rental offering per entry (a provider's instance type, a market index, or a stated
    assumption such as DeepSeek-V3's $2 per H800-hour), normalised to USD per accelerator-hour:
    on demand and, where published, 1-year and 3-year committed rates. ``default: true`` marks the
    reference rental price of an accelerator (at most one per accelerator).
``regions``
    Electricity price, grid carbon intensity, colocation and facility-build prices, and the
    export-control rules that decide which accelerators a buyer there may purchase.
``costs``
    Priced items and economic parameters: switches, optics, cables, storage per byte, facility
    build per watt, useful lives, interest rates, maintenance and insurance shares, staffing.
    ``judgement: true`` marks a number no public source states (our assumption, said so in the
    note); ``bom_match`` lists the substrings of bill-of-materials item ids the price applies to.

Every number is a :class:`~gpuplan.catalog.schema.Sourced` value in the base unit named by its
key (``_usd_per_gpu_hour``, ``_usd_per_kwh``, ``_kg_co2_per_kwh``, ``_usd_per_w``, ``_usd_per_byte``
...); every USD value is a :class:`~gpuplan.catalog.schema.SourcedUsd`, which also names the year
of its dollars (``usd_year``). Fractions and rates are plain fractions (0.0395, not 3.95 %).
Unknown keys are errors.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from gpuplan.catalog.schema import (
    AS_OF_PATTERN,
    Sourced,
    SourcedCount,
    SourcedFraction,
    SourcedUsd,
    _Strict,
)

_ID = r"^[a-z0-9][a-z0-9.\-]*$"

#: Bill-of-materials categories (as in ``gpuplan.cluster.result.BomLine.category``).
BomCategory = Literal["compute", "network", "storage", "management", "facility"]
#: What a cost entry prices or parameterises.
CostCategory = Literal["compute", "network", "storage", "management", "facility", "opex",
                       "finance", "depreciation", "utilisation", "method"]
#: Rental commitment terms.
Term = Literal["on_demand", "reserved_1yr", "reserved_3yr"]


class CloudModel(_Strict):
    """One rental offering, per accelerator-hour.

    Attributes
    ----------
    provider : str
        Who rents it (``aws``, ``coreweave``, ``market`` for an index or median, ``assumption``
        for a price stated by a paper).
    kind : {"hyperscaler", "neocloud", "market", "assumption"}
    accelerator : str
        Accelerator id (``accelerators`` section).
    on_demand_usd_per_gpu_hour : SourcedUsd
        On-demand (or index, or stated) price [USD per accelerator-hour].
    reserved_1yr_usd_per_gpu_hour, reserved_3yr_usd_per_gpu_hour : SourcedUsd, optional
        Committed-use prices [USD per accelerator-hour]; every hour of the term is paid.
    egress_usd_per_byte : SourcedUsd, optional
        Data transfer out to the internet [USD per byte].
    max_on_demand_gpus : SourcedCount, optional
        Largest fleet obtainable on demand from this offering [accelerators]; a larger fleet is
        only sold on a reserved contract (a rent comparison on demand beyond it is refused).
    default : bool
        The accelerator's reference rental price (used when the user gives none).
    """

    id: str = Field(pattern=_ID)
    name: str
    provider: str
    kind: Literal["hyperscaler", "neocloud", "market", "assumption"]
    accelerator: str
    gpus_per_instance: SourcedCount | None = None
    on_demand_usd_per_gpu_hour: SourcedUsd
    reserved_1yr_usd_per_gpu_hour: SourcedUsd | None = None
    reserved_3yr_usd_per_gpu_hour: SourcedUsd | None = None
    egress_usd_per_byte: SourcedUsd | None = None
    max_on_demand_gpus: SourcedCount | None = None
    default: bool = False
    notes: str = ""

    def price(self, term: str) -> SourcedUsd | None:
        """The price of ``term`` (``on_demand``, ``reserved_1yr``, ``reserved_3yr``) or None.

        Parameters
        ----------
        term : {'on_demand', 'reserved_1yr', 'reserved_3yr'}
            Commitment term [—].
        """
        return {"on_demand": self.on_demand_usd_per_gpu_hour,
                "reserved_1yr": self.reserved_1yr_usd_per_gpu_hour,
                "reserved_3yr": self.reserved_3yr_usd_per_gpu_hour}[term]


class ExportRule(_Strict):
    """One export-control rule for buyers in a region.

    A rule matches an accelerator named in ``accelerators``, or one whose total processing
    performance is at least ``min_tpp``, or whose memory bandwidth is at least
    ``min_hbm_bandwidth_bytes_per_s``; a rule with none of the three matches every accelerator.
    Rules are tried in order and the first match decides; no match means allowed.

    ``status``: ``denied`` (presumption of denial / prohibited: a purchase is refused),
    ``licence`` (a licence is required and reviewed case by case: allowed with a warning),
    ``allowed``.
    """

    status: Literal["allowed", "licence", "denied"]
    text: str = Field(min_length=1)
    source: str = Field(min_length=3)
    as_of: str
    effective_from: str | None = None
    effective_until: str | None = None
    accelerators: list[str] = Field(default_factory=list)
    min_tpp: float | None = Field(default=None, gt=0,
                                  description="TPP = dense TOP/s x bit length (BIS 3A090)")
    min_hbm_bandwidth_bytes_per_s: float | None = Field(default=None, gt=0)

    @field_validator("as_of", "effective_from", "effective_until", mode="before")
    @classmethod
    def _date(cls, v: object) -> str | None:
        if v is None:
            return v
        s = str(v)
        if not AS_OF_PATTERN.match(s):
            raise ValueError(f"date {s!r} is not YYYY, YYYY-MM or YYYY-MM-DD")
        return s


class RegionModel(_Strict):
    """A buyer's region: energy price, grid carbon, facility prices, export rules."""

    id: str = Field(pattern=_ID)
    name: str
    electricity_usd_per_kwh: SourcedUsd
    grid_kg_co2_per_kwh: Sourced
    colocation_usd_per_kw_month: SourcedUsd | None = None
    facility_build_usd_per_w: SourcedUsd | None = None
    #: Corporate income tax rate on profits [fraction]; deductions (opex, rent, depreciation,
    #: interest) save this share of their amount.
    corporate_tax_rate: SourcedFraction | None = None
    export_rules: list[ExportRule] = Field(default_factory=list)
    notes: str = ""


_COST_VALUE_FIELDS = ("usd_per_unit", "usd_per_byte", "usd_per_w", "usd_per_year", "fte_per_w",
                      "fraction", "fraction_per_year", "rate_per_year", "years", "ratio",
                      "ooms_per_year")


class CostModel(_Strict):
    """A priced item or an economic parameter. Exactly one value field is set, or ``included_in``.

    Value fields (base units in the key): ``usd_per_unit`` [USD per item], ``usd_per_byte``
    [USD per byte of capacity], ``usd_per_w`` [USD per watt of critical IT load],
    ``usd_per_year`` [USD per year], ``fte_per_w`` [full-time staff per watt of IT load],
    ``fraction`` [share], ``fraction_per_year`` [share per year], ``rate_per_year`` [interest
    rate per year], ``years`` [years], ``ratio`` [dimensionless], ``ooms_per_year`` [orders of
    magnitude per year]. The four ``usd_*`` fields also carry ``usd_year``.

    ``included_in`` names what already pays for the item (e.g. NICs inside the server price):
    such a bill-of-materials line costs nothing extra. ``categories`` are the bill-of-materials
    categories whose lines the entry may price (default: its own ``category``).
    """

    id: str = Field(pattern=_ID)
    name: str
    category: CostCategory
    categories: list[BomCategory] = Field(default_factory=list)
    bom_match: list[str] = Field(default_factory=list)
    judgement: bool = False
    usd_per_unit: SourcedUsd | None = None
    usd_per_byte: SourcedUsd | None = None
    usd_per_w: SourcedUsd | None = None
    usd_per_year: SourcedUsd | None = None
    fte_per_w: Sourced | None = None
    fraction: SourcedFraction | None = None
    fraction_per_year: SourcedFraction | None = None
    rate_per_year: SourcedFraction | None = None
    years: Sourced | None = None
    ratio: Sourced | None = None
    ooms_per_year: Sourced | None = None
    included_in: str | None = None
    notes: str = ""

    @field_validator("bom_match")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [s.lower() for s in v]

    @model_validator(mode="after")
    def _one_value(self) -> CostModel:
        set_ = [f for f in _COST_VALUE_FIELDS if getattr(self, f) is not None]
        if self.included_in is not None:
            if set_:
                raise ValueError("an entry with included_in carries no value field")
        elif len(set_) != 1:
            raise ValueError(f"exactly one value field is needed, got {set_ or 'none'} "
                             f"(accepted: {', '.join(_COST_VALUE_FIELDS)})")
        return self

    @property
    def sourced(self) -> Sourced | None:
        """The one value field (None for an ``included_in`` entry)."""
        for f in _COST_VALUE_FIELDS:
            v = getattr(self, f)
            if v is not None:
                return v
        return None

    @property
    def value(self) -> float:
        """The value of the one value field (0 for an ``included_in`` entry)."""
        s = self.sourced
        return 0.0 if s is None else s.value

    @property
    def bom_categories(self) -> list[str]:
        """Bill-of-materials categories whose lines this entry may price."""
        return list(self.categories) or [self.category]


#: section name -> pydantic model of one entry (each entry has an `id`).
MONEY_SECTIONS: dict[str, type[BaseModel]] = {
    "clouds": CloudModel, "regions": RegionModel, "costs": CostModel}
