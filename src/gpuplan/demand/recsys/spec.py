"""The recommender spec: a typed, validated description of a DLRM-family model, read from YAML.

A spec names the embedding tables (rows, width, storage format, lookups per sample, popularity
skew), the dense features, the bottom and top MLPs, the feature interaction (pairwise dot
products [1]_ or DCNv2 cross layers [2]_), the optimizer and the formats used for compute,
communication and serving. :func:`load_recsys_spec` is the only function here that reads a file.

References
----------
.. [1] Naumov et al. 2019, "Deep Learning Recommendation Model for Personalization and
   Recommendation Systems", arXiv 1906.00091, Section 2 (pairwise dot interaction).
.. [2] Wang et al. 2021, "DCN V2", arXiv 2008.13535, Eq. (1) and Section 3.4 (low-rank W = U·Vᵀ).
.. [3] MLCommons training reference, mlcommons/training recommendation_v2/torchrec_dlrm
   (dlrm_main.py: ``--dcn_num_layers`` default 3).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gpuplan.errors import UserError
from gpuplan.textfile import read_yaml_mapping
from gpuplan.units import MIB

#: Cross layers of a DCNv2 interaction when the spec gives none (the MLPerf DLRMv2 reference's
#: ``--dcn_num_layers`` default, 3 [3]_).
DEFAULT_CROSS_LAYERS = 3
#: Largest spec file accepted [bytes].
MAX_SPEC_FILE_BYTES = 4 * MIB
#: Largest element size a table may give in bytes instead of a format name [bytes].
MAX_ELEMENT_BYTES = 16.0
#: Largest width of one MLP layer [features].
MAX_LAYER_WIDTH = 1_000_000

#: Offending table names an error message lists at most.
MAX_NAMES_SHOWN = 5

#: Storage formats of an embedding row.
EmbeddingDtype = Literal["fp32", "fp16", "bf16", "fp8", "int8", "int4"]


class TableSpec(BaseModel):
    """One embedding table (or ``count`` identical ones).

    Attributes
    ----------
    name : str
        Unique name.
    rows : int
        Rows (distinct categorical values) [rows].
    dim : int
        Embedding width [elements].
    dtype : str or float
        Storage format of a row, or the bytes per element [bytes].
    pooling_factor : float
        Lookups per sample (multi-hot size) [lookups].
    count : int
        Identical tables [tables].
    zipf_alpha : float
        Row popularity ∝ rank^−α; 0 = uniform [1].
    """

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    rows: int = Field(ge=1, le=10**13)
    dim: int = Field(ge=1, le=65_536)
    dtype: EmbeddingDtype | float = "fp32"
    pooling_factor: float = Field(default=1.0, ge=0, le=100_000,
                                  description="lookups per sample (multi-hot size)")
    count: int = Field(default=1, ge=1, le=1_000_000, description="identical tables")
    zipf_alpha: float = Field(default=0.0, ge=0, le=5,
                              description="row popularity ~ rank^-alpha; 0 = uniform")

    @field_validator("dtype")
    @classmethod
    def _bytes(cls, v: str | float) -> str | float:
        if isinstance(v, str):
            return v
        if not (math.isfinite(v) and 0 < v <= MAX_ELEMENT_BYTES):
            raise ValueError(f"dtype in bytes must be a number in (0, {MAX_ELEMENT_BYTES:g}]")
        return v


class InteractionSpec(BaseModel):
    """``dot`` (pairwise dot products [1]_) or ``dcnv2`` (cross layers [2]_, maybe low-rank).

    Attributes
    ----------
    type : {"dot", "dcnv2"}
        The interaction.
    cross_layers : int, optional
        DCNv2 only: cross layers [layers]; default :data:`DEFAULT_CROSS_LAYERS`.
    low_rank : int, optional
        DCNv2 only: rank r of ``W = U·Vᵀ`` [1]; None = full rank.
    """

    model_config = ConfigDict(extra="forbid")
    type: Literal["dot", "dcnv2"]
    cross_layers: int | None = Field(default=None, ge=1, le=64,
                                     description=f"dcnv2 only; default {DEFAULT_CROSS_LAYERS}")
    low_rank: int | None = Field(default=None, ge=1, le=65_536,
                                 description="dcnv2 only: rank of W = U·Vᵀ; None = full rank")

    @model_validator(mode="after")
    def _dcn_fields(self) -> InteractionSpec:
        if self.type == "dot" and (self.cross_layers is not None or self.low_rank is not None):
            raise ValueError("cross_layers and low_rank are only for dcnv2")
        if self.type == "dcnv2" and self.cross_layers is None:
            self.cross_layers = DEFAULT_CROSS_LAYERS
        return self


class ServingSpec(BaseModel):
    """How the model is served.

    Attributes
    ----------
    embedding_dtype : str, optional
        Storage format of the served rows; None = the training format.
    dense_dtype : str
        Format the dense layers compute in when serving.
    items_per_query : float
        User-item pairs scored per query [pairs].
    """

    model_config = ConfigDict(extra="forbid")
    embedding_dtype: EmbeddingDtype | None = None
    dense_dtype: Literal["bf16", "fp16", "fp8", "int8"] = "fp16"
    items_per_query: float = Field(default=1.0, ge=1, le=1e6,
                                   description="user-item pairs scored per query")


class RecsysSpec(BaseModel):
    """A DLRM-family recommender: tables, dense features, MLPs, interaction, optimizer.

    Attributes
    ----------
    name, source : str
        Name and where the configuration was read.
    dense_features : int
        Dense (continuous) input features [features].
    bottom_mlp, top_mlp : list of int
        Output width of each layer [features].
    interaction : InteractionSpec
        Feature interaction.
    optimizer : str
        Optimizer of embeddings and dense parameters.
    dense_dtype : str
        Format the dense layers train in.
    comm_dtype : str, optional
        Format of the pooled embeddings on the wire; None = ``dense_dtype``.
    tables : list of TableSpec
        Embedding tables.
    serving : ServingSpec
        Serving formats and the pairs scored per query.
    """

    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="recsys", min_length=1, max_length=200)
    source: str = ""
    dense_features: int = Field(ge=1, le=1_000_000)
    bottom_mlp: list[int] = Field(min_length=1, max_length=64)
    top_mlp: list[int] = Field(min_length=1, max_length=64)
    interaction: InteractionSpec
    optimizer: Literal["sgd", "adagrad", "exact_adagrad", "adam"] = "adagrad"
    dense_dtype: Literal["bf16", "fp16", "fp8"] = "bf16"
    comm_dtype: Literal["fp32", "fp16", "bf16", "fp8"] | None = None
    tables: list[TableSpec] = Field(min_length=1, max_length=100_000)
    serving: ServingSpec = Field(default_factory=ServingSpec)

    @field_validator("bottom_mlp", "top_mlp")
    @classmethod
    def _widths(cls, v: list[int]) -> list[int]:
        if any((not isinstance(w, int)) or w < 1 or w > MAX_LAYER_WIDTH for w in v):
            raise ValueError(f"layer widths must be whole numbers from 1 to {MAX_LAYER_WIDTH:,}")
        return v

    @model_validator(mode="after")
    def _shapes(self) -> RecsysSpec:
        if self.interaction.type == "dot":
            d = self.bottom_mlp[-1]
            bad = [t.name for t in self.tables if t.dim != d]
            if bad:
                raise ValueError(f"dot interaction needs every table dim equal to the bottom MLP "
                                 f"output ({d}); differs: {', '.join(bad[:MAX_NAMES_SHOWN])}")
        names = [t.name for t in self.tables]
        if len(set(names)) != len(names):
            raise ValueError("table names must be unique")
        return self


def format_validation_error(path: Path, err: ValidationError) -> str:
    """One line naming the file and the first field that broke the schema."""
    first = err.errors()[0]
    loc = ".".join(str(x) for x in first.get("loc", ()))
    return f"{path}: field {loc or '(top level)'}: {first.get('msg')}"


def load_recsys_spec(path: str | Path) -> RecsysSpec:
    """Read and validate a recommender spec (YAML).

    Parameters
    ----------
    path : str or Path
        The spec file.

    Raises
    ------
    UserError
        Missing, oversized or malformed file, or a field that breaks the schema (the message
        names the file and the field).
    """
    p, data = read_yaml_mapping(path, max_bytes=MAX_SPEC_FILE_BYTES, what="recsys spec")
    try:
        return RecsysSpec.model_validate(data)
    except ValidationError as e:
        raise UserError(format_validation_error(p, e)) from None
