"""OpEx per year: energy, maintenance, staff, software, insurance, colocation, failures, carbon.

Pure, vectorised functions; the TCO model calls them with catalog defaults (``costs.yaml``,
``regions.yaml``) or the user's inputs.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from gpuplan.units import KG_PER_TONNE, MONTHS_PER_YEAR, W_PER_KW, WH_PER_KWH

OPEX_KEYS = ("energy", "maintenance", "staff", "software", "insurance", "colocation",
             "failures", "carbon", "total")


def _a(x: npt.ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=float)


def energy_usd_per_year(energy_wh_per_year: npt.ArrayLike,
                        usd_per_kwh: npt.ArrayLike) -> np.ndarray:
    """Electricity bill [USD/year].

    Parameters
    ----------
    energy_wh_per_year : float or array
        Facility energy (IT at the load profile x PUE) [Wh/year].
    usd_per_kwh : float or array
        Electricity price [USD/kWh].

    Notes
    -----
    :math:`C = E / 1000 \\cdot p` ; with :math:`E = P_{IT} \\cdot \\mathrm{PUE} \\cdot 8766` h.
    """
    return _a(energy_wh_per_year) / WH_PER_KWH * _a(usd_per_kwh)


def carbon_usd_per_year(energy_wh_per_year: npt.ArrayLike, grid_kg_co2_per_kwh: npt.ArrayLike,
                        usd_per_tco2e: npt.ArrayLike) -> np.ndarray:
    """Carbon price on the owned facility's emissions [USD/year].

    Parameters
    ----------
    energy_wh_per_year : float or array
        Facility energy [Wh/year].
    grid_kg_co2_per_kwh : float or array
        Grid carbon intensity [kg CO2e/kWh].
    usd_per_tco2e : float or array
        Carbon price [USD per tonne CO2e] (0: none).

    Notes
    -----
    :math:`C = E / 1000 \\cdot g / 1000 \\cdot p_c` (location-based emissions, as
    :func:`gpuplan.money.region.carbon_tco2e`).
    """
    return _a(energy_wh_per_year) / WH_PER_KWH * _a(grid_kg_co2_per_kwh) / KG_PER_TONNE \
        * _a(usd_per_tco2e)


def maintenance_usd_per_year(hardware_capex_usd: npt.ArrayLike,
                             fraction_per_year: npt.ArrayLike) -> np.ndarray:
    """Maintenance and support [USD/year] = hardware capex [USD] x share [fraction/year]."""
    return _a(hardware_capex_usd) * _a(fraction_per_year)


def insurance_usd_per_year(capex_usd: npt.ArrayLike,
                           fraction_per_year: npt.ArrayLike) -> np.ndarray:
    """Insurance [USD/year] = insured capex [USD] x premium [fraction/year]."""
    return _a(capex_usd) * _a(fraction_per_year)


def staff_fte(it_power_w: npt.ArrayLike, fte_per_w: npt.ArrayLike) -> np.ndarray:
    """Operations staff [FTE] = IT capacity [W] x staffing ratio [FTE/W]."""
    return _a(it_power_w) * _a(fte_per_w)


def staff_usd_per_year(fte: npt.ArrayLike, usd_per_fte_year: npt.ArrayLike) -> np.ndarray:
    """Staff cost [USD/year] = FTE x loaded cost per FTE [USD/year]."""
    return _a(fte) * _a(usd_per_fte_year)


def software_usd_per_year(gpus: npt.ArrayLike, usd_per_gpu_year: npt.ArrayLike) -> np.ndarray:
    """Software licences [USD/year] = accelerators x price [USD per accelerator-year]."""
    return _a(gpus) * _a(usd_per_gpu_year)


def colocation_usd_per_year(it_power_w: npt.ArrayLike,
                            usd_per_kw_month: npt.ArrayLike) -> np.ndarray:
    """Colocation rent [USD/year] for contracted IT capacity [W] at [USD per kW-month].

    Notes
    -----
    :math:`C = P_{IT}/1000 \\cdot r \\cdot 12`. Colocation is sold per kW of critical power, so
    the nameplate IT maximum is contracted.
    """
    return _a(it_power_w) / W_PER_KW * _a(usd_per_kw_month) * MONTHS_PER_YEAR


def failures_usd_per_year(compute_capex_usd: npt.ArrayLike,
                          failure_rate_per_year: npt.ArrayLike) -> np.ndarray:
    """Replacement of failed accelerators/servers beyond maintenance [USD/year].

    Notes
    -----
    :math:`C = \\lambda \\cdot K_{compute}` with :math:`\\lambda` the share of compute hardware
    replaced per year [fraction/year].
    """
    return _a(compute_capex_usd) * _a(failure_rate_per_year)
