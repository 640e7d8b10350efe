"""Catalog section ``frameworks``: training-framework profiles for the step-time model.

Registered in :data:`FRAMEWORK_SECTIONS` (overlays may add or replace profiles). Each profile
names the framework, the names it goes by (``aliases``, e.g. a validation case's ``framework``
field), and its sourced settings; fitted settings live in ``demand/calibration.yaml`` (see
``data/frameworks.yaml``). Unknown keys are errors.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from gpuplan.catalog.schema import Sourced, _Strict


class Framework(_Strict):
    """One framework profile.

    Attributes
    ----------
    id : str
        Profile id.
    name : str
        What it covers.
    aliases : list of str
        Names that select it (lower case).
    grad_reduce_bytes : Sourced
        Bytes per gradient element of the data-parallel reduction in a bf16 run [bytes].
    """

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    grad_reduce_bytes: Sourced


#: The catalog section this module adds.
FRAMEWORK_SECTIONS: dict[str, type[BaseModel]] = {"frameworks": Framework}
