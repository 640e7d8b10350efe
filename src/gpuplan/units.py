"""One set of time and unit constants for every stage (base units: s, W, Wh, bytes, USD).

A year is the Julian year, 365.25 days (8,766 h): the mean calendar year, so hourly rates,
yearly energy and monthly cash flows agree over a multi-year horizon. Decimal prefixes are SI;
binary prefixes (GiB) are named as such, never implied.
"""

from __future__ import annotations

SECONDS_PER_MINUTE = 60.0
SECONDS_PER_HOUR = 3600.0
HOURS_PER_DAY = 24.0
SECONDS_PER_DAY = SECONDS_PER_HOUR * HOURS_PER_DAY
#: Julian year [days].
DAYS_PER_YEAR = 365.25
HOURS_PER_YEAR = DAYS_PER_YEAR * HOURS_PER_DAY
SECONDS_PER_YEAR = DAYS_PER_YEAR * SECONDS_PER_DAY
MONTHS_PER_YEAR = 12
HOURS_PER_MONTH = HOURS_PER_YEAR / MONTHS_PER_YEAR

#: SI prefixes [1].
KILO = 1e3
MEGA = 1e6
GIGA = 1e9
TERA = 1e12
PETA = 1e15
#: Binary prefixes [1].
KIB = 2**10
MIB = 2**20
GIB = 2**30

W_PER_KW = KILO
W_PER_MW = MEGA
WH_PER_KWH = KILO
KG_PER_TONNE = KILO
BYTES_PER_GB = GIGA
BYTES_PER_TB = TERA
TOKENS_PER_MILLION = MEGA
USD_PER_MUSD = MEGA
