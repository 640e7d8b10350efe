"""The typed result of the cluster builder — the contract between supply and money.

`gpuplan.cluster.build_cluster(...)` returns a :class:`ClusterResult`; the economics stage
(`gpuplan.money`) prices its bill of materials and power. Units are base units in every key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

Category = Literal["compute", "network", "storage", "management", "facility"]


class BomLine(BaseModel):
    """One line of the bill of materials."""

    model_config = ConfigDict(extra="forbid")
    item: str = Field(description="catalog id or descriptive name, e.g. 'dgx-h100', 'qm9700'")
    category: Category
    quantity: float = Field(ge=0)
    unit_price_usd: float | None = Field(default=None, ge=0,
                                         description="catalog price when known, else None")
    price_source: str | None = None
    power_w: float = Field(default=0.0, ge=0, description="max power of all units together")


class FabricOut(BaseModel):
    """The compute (scale-out) fabric; storage and management networks are separate."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(description="e.g. 'infiniband-ndr-400g', 'spectrum-x-800g', 'none'")
    tiers: int = Field(ge=0)
    leaf_switches: int = Field(ge=0)
    spine_switches: int = Field(ge=0)
    core_switches: int = Field(ge=0)
    nics: int = Field(ge=0)
    transceivers: int = Field(ge=0)
    cables: int = Field(ge=0)
    oversubscription: float = Field(ge=1.0)


class NetworkOut(BaseModel):
    """A secondary network (storage, in-band or out-of-band management)."""

    model_config = ConfigDict(extra="forbid")
    switches: int = Field(ge=0)
    nics: int = Field(ge=0)
    transceivers: int = Field(ge=0)
    cables: int = Field(ge=0)


class StorageOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    capacity_bytes: float = Field(ge=0)
    read_bytes_per_s: float = Field(ge=0)
    write_bytes_per_s: float = Field(ge=0)
    checkpoint_bytes: float = Field(ge=0)
    dataset_bytes: float = Field(ge=0)
    checkpoint_write_s: float | None = None


#: Deprecated ``power_w`` keys and the fields they repeat (DESIGN.md: extend, don't rename).
POWER_ALIASES = {"it": "it_avg_w", "it_max": "it_peak_w", "facility": "facility_avg_w"}


class PowerOut(BaseModel):
    """Power [W]: IT at its peak (nameplate) and average (load profile) draw, facility average.

    ``it``, ``it_max`` and ``facility`` are the earlier, ambiguous names of ``it_avg_w``,
    ``it_peak_w`` and ``facility_avg_w``: still written to JSON (read-only, deprecated) and still
    accepted on input.
    """

    model_config = ConfigDict(extra="forbid")
    it_avg_w: float = Field(ge=0, description="average IT draw at the load profile used for "
                                              "energy [W]")
    it_peak_w: float = Field(ge=0, description="peak IT draw: the nameplate maximum that power "
                                               "and cooling are provisioned for [W]")
    facility_avg_w: float = Field(ge=0, description="average facility draw = it_avg_w × PUE [W]")
    pue: float = Field(ge=1.0)
    by_category: dict[str, float] = Field(description="peak (nameplate) IT power per BOM "
                                                      "category [W]")
    energy_wh_per_year: float = Field(ge=0)

    @model_validator(mode="before")
    @classmethod
    def _accept_aliases(cls, data: object) -> object:
        """Map the deprecated keys onto the fields (a dump read back carries both)."""
        if not isinstance(data, dict) or not set(POWER_ALIASES) & set(data):
            return data
        out = dict(data)
        for old, new in POWER_ALIASES.items():
            if old not in out:
                continue
            value = out.pop(old)
            if new not in out:
                out[new] = value
            elif out[new] != value:
                raise ValueError(f"{old} ({value!r}) is the deprecated name of {new} "
                                 f"({out[new]!r}); give one of them")
        return out

    # mypy cannot type a decorated property; this is pydantic's documented computed field
    @computed_field(  # type: ignore[prop-decorator]
        description="deprecated: use it_avg_w (average IT draw) [W]",
        json_schema_extra={"deprecated": True})
    @property
    def it(self) -> float:
        return self.it_avg_w

    # mypy cannot type a decorated property; this is pydantic's documented computed field
    @computed_field(  # type: ignore[prop-decorator]
        description="deprecated: use it_peak_w (nameplate IT power) [W]",
        json_schema_extra={"deprecated": True})
    @property
    def it_max(self) -> float:
        return self.it_peak_w

    # mypy cannot type a decorated property; this is pydantic's documented computed field
    @computed_field(  # type: ignore[prop-decorator]
        description="deprecated: use facility_avg_w (average facility draw) [W]",
        json_schema_extra={"deprecated": True})
    @property
    def facility(self) -> float:
        return self.facility_avg_w


class ClusterResult(BaseModel):
    """The physical cluster for N accelerators (`gpuplan cluster --json`)."""

    model_config = ConfigDict(extra="forbid")
    gpu: str
    system: str
    gpus: int = Field(ge=1)
    gpus_requested: int = Field(ge=1)
    nodes: int = Field(ge=1)
    management_nodes: int = Field(ge=0)
    racks: int = Field(ge=1)
    rack_power_limit_w: float = Field(gt=0)
    nodes_per_rack: int = Field(ge=1)
    fabric: FabricOut
    storage_network: NetworkOut
    management_network: NetworkOut
    storage: StorageOut
    power_w: PowerOut
    cooling: str
    cooling_reason: str
    floor_area_m2: float = Field(ge=0)
    bom: list[BomLine]
    notes: list[str]
