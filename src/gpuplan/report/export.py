"""CSV and XLSX exports of a plan: summary, monthly cash flows, BOM and loan schedule per option.

Every file is written atomically (a temporary file in the target folder, fsynced, then
``os.replace``): a reader sees the old file or the new one, never half of one. File names are
fixed or built from the option label reduced to ``[a-z0-9-]``, so an export never writes outside
the folder it was given. Text cells that a spreadsheet would read as a formula (``= + - @``)
are written as text (CSV: prefixed with ``'``; XLSX: typed as a string).
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpuplan.errors import UserError
from gpuplan.report.charts import PlanLike, as_dict, summary_rows
from gpuplan.textfile import short

if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

#: Longest option slug in a file name [characters].
MAX_SLUG_CHARS = 48
#: Mode of a new file when the umask cannot be read.
DEFAULT_FILE_MODE = 0o644
#: Longest file name when the file system cannot be asked [bytes] (POSIX NAME_MAX of ext4,
#: XFS, APFS and NTFS: 255).
DEFAULT_NAME_MAX_BYTES = 255
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

SUMMARY_COLUMNS = ("option", "gpu", "system", "recommended", "gpus", "facility_power_w",
                   "capex_usd", "opex_usd_per_year", "npv_usd", "breakeven_months",
                   "probability_own_wins", "own_usd_per_gpu_hour", "rent_usd_per_gpu_hour",
                   "utilisation")
CASH_FLOW_COLUMNS = ("month", "own_usd", "rent_usd", "own_minus_rent_usd",
                     "cumulative_own_minus_rent_usd")
BOM_COLUMNS = ("item", "category", "quantity", "unit_price_usd", "total_usd", "price_source",
               "priced_by", "judgement")
LOAN_COLUMNS = ("period", "month", "opening_usd", "interest_usd", "principal_usd",
                "payment_usd", "closing_usd")
PROFILE_COLUMNS = ("month", "demand_gpu_hours", "peak_gpus", "owned_gpu_hours",
                   "backfill_gpu_hours", "overflow_gpu_hours", "rented_gpu_hours",
                   "rent_peak_gpus")
ASSUMPTION_COLUMNS = ("name", "value", "unit", "source", "as_of", "judgement", "catalog_id",
                      "note")


# ----------------------------------------------------------------------------------------------
# Atomic writes
# ----------------------------------------------------------------------------------------------


def _new_file_mode() -> int:
    """0o666 less the process umask (read without changing it, from /proc where it exists)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return DEFAULT_FILE_MODE


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISDIR, "a folder; give a file name"))


def check_output_path(path: str | os.PathLike, *, force: bool = False) -> Path:
    """Check that ``path`` may be written (or replaced) as a regular file, before any work.

    Parameters
    ----------
    path : str or PathLike
        The file to write [—].
    force : bool
        Accept a symbolic link at ``path``: the caller replaces the link itself (never the file
        it points to) with :func:`drop_link` just before writing [—].

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    UserError
        One line: the folder does not exist or is not writable, the name is too long for the
        file system, or ``path`` exists and is not a regular file (a FIFO, device, socket,
        folder, or a symbolic link without ``force``). Nothing is replaced.
    """
    p = Path(path)
    shown = short(str(p))
    try:
        parent_ok = p.parent.is_dir()
        st = p.lstat() if parent_ok else None
    except FileNotFoundError:
        st = None
    except OSError as e:  # ENAMETOOLONG, ELOOP, EACCES on the way
        raise UserError(f"cannot write {shown!r}: {e.strerror or e}") from None
    if not parent_ok:
        raise UserError(f"cannot write {shown!r}: folder {short(str(p.parent))!r} does not exist")
    if not os.access(p.parent, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {shown!r}: folder {short(str(p.parent))!r} is not "
                        f"writable")
    try:  # the real test (root passes os.access everywhere; /proc refuses even root)
        fd, probe = tempfile.mkstemp(dir=p.parent, prefix=".gpuplan-", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UserError(f"cannot write {shown!r}: folder {short(str(p.parent))!r}: "
                        f"{e.strerror or e}") from None
    name_max = _name_max(p.parent)
    if len(os.fsencode(p.name)) > name_max:
        raise UserError(f"cannot write {shown!r}: the file name is longer than the "
                        f"{name_max} bytes this file system allows")
    if st is None or stat.S_ISREG(st.st_mode):
        return p
    if stat.S_ISLNK(st.st_mode):
        if not force:
            raise UserError(f"cannot write {shown!r}: it is a symbolic link; not replaced "
                            f"(--force replaces the link, not the file it points to)")
        return p
    kind = next((what for test, what in _KINDS if test(st.st_mode)), "not a regular file")
    raise UserError(f"cannot write {shown!r}: it is {kind}; not replaced")


def drop_link(path: str | os.PathLike) -> None:
    """Remove ``path`` if it is a symbolic link (the link only); anything else is left alone.

    Raises
    ------
    UserError
        The link cannot be removed.
    """
    p = Path(path)
    try:
        if p.is_symlink():
            os.unlink(p)
    except OSError as e:
        raise UserError(f"cannot replace the link {short(str(p))!r}: {e.strerror or e}") from None


def _name_max(folder: Path) -> int:
    """Longest file name the file system of ``folder`` accepts [bytes]."""
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows) or no answer
        return DEFAULT_NAME_MAX_BYTES


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; the folder must exist.

    Parameters
    ----------
    path : str or PathLike
        The file to write [—].
    data : bytes
        Its content [bytes].

    Raises
    ------
    UserError
        As :func:`check_output_path` (without ``force``: a symbolic link is refused; the CLI's
        ``--force`` removes it first), or the file cannot be written. The old file, if any, is
        left as it was.
    """
    p = check_output_path(path)
    parent = p.parent
    shown = short(str(p))
    try:
        mode = stat.S_IMODE(p.stat().st_mode) if p.is_file() else _new_file_mode()
        # a short temporary name: a long target name must not fail on the temporary file
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=".gpuplan-", suffix=".tmp")
    except OSError as e:
        raise UserError(f"cannot write {shown!r}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, p)
    except BaseException as e:
        with suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise UserError(f"cannot write {shown!r}: {e.strerror or e}") from None
        raise
    with suppress(OSError):  # make the rename durable where the platform allows it
        dfd = os.open(parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return p


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write_bytes` of UTF-8 text.

    Parameters
    ----------
    path : str or PathLike
        The file to write [—].
    text : str
        Its content, written as UTF-8 [—].
    """
    return atomic_write_bytes(path, text.encode("utf-8"))


# ----------------------------------------------------------------------------------------------
# Rows
# ----------------------------------------------------------------------------------------------


def slug(label: str) -> str:
    """A file-name-safe form of an option label: ``[a-z0-9-]``, at most 48 characters.

    Parameters
    ----------
    label : str
        An option label [—].
    """
    s = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:MAX_SLUG_CHARS].strip("-")
    return s or "option"


def _text_safe(v: object) -> object:
    if isinstance(v, str) and v.startswith(_FORMULA_START):
        return "'" + v
    return v


def cash_flow_rows(option: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Monthly cash flows of one option (``tco.cash_flows``), one dict per month.

    Parameters
    ----------
    option : mapping
        One entry of the plan's ``options`` (``model_dump()`` form) [—].
    """
    cf = option["tco"]["cash_flows"]
    return [{k: cf[k][i] for k in CASH_FLOW_COLUMNS} for i in range(len(cf["month"]))]


def bom_rows(option: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Priced BOM lines of one option (``tco.bom``; the cluster's BOM if the TCO has none).

    Parameters
    ----------
    option : mapping
        One entry of the plan's ``options`` (``model_dump()`` form) [—].
    """
    lines = option["tco"].get("bom") or option["cluster"].get("bom") or []
    return [{k: line.get(k) for k in BOM_COLUMNS} for line in lines]


def loan_rows(option: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Loan schedule rows of one option; empty for a cash purchase.

    Parameters
    ----------
    option : mapping
        One entry of the plan's ``options`` (``model_dump()`` form) [—].
    """
    loan = option["tco"].get("loan") or {}
    return [{k: row.get(k) for k in LOAN_COLUMNS} for row in loan.get("schedule", [])]


def profile_rows(option: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The monthly demand profile of one option and its split between the owned fleet, its
    backfill, the owner's overflow and the rent side [GPU-hours; GPUs]; empty without one.

    Parameters
    ----------
    option : mapping
        One entry of the plan's ``options`` (``model_dump()`` form) [—].
    """
    prof, m = option["demand"].get("profile"), option.get("monthly")
    if not prof or not m:
        return []
    return [{"month": i + 1, "demand_gpu_hours": prof["gpu_hours_per_month"][i],
             "peak_gpus": prof["peak_gpus_per_month"][i],
             "owned_gpu_hours": m["owned_gpu_hours"][i],
             "backfill_gpu_hours": m["backfill_gpu_hours"][i],
             "overflow_gpu_hours": m["overflow_gpu_hours"][i],
             "rented_gpu_hours": m["rented_gpu_hours"][i],
             "rent_peak_gpus": m["rent_peak_gpus"][i]} for i in range(prof["months"])]


def assumption_rows(option: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The sourced assumptions behind one option's money figures (``tco.assumptions``).

    Parameters
    ----------
    option : mapping
        One entry of the plan's ``options`` (``model_dump()`` form) [—].
    """
    return [{k: a.get(k) for k in ASSUMPTION_COLUMNS} for a in option["tco"].get("assumptions",
                                                                                 [])]


def _csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow(["" if r.get(c) is None else _text_safe(r.get(c)) for c in columns])
    return buf.getvalue()


# ----------------------------------------------------------------------------------------------
# CSV
# ----------------------------------------------------------------------------------------------


def csv_files(result: PlanLike) -> dict[str, str]:
    """File name -> CSV text of every file :func:`write_csv` writes.

    ``summary.csv``; per option ``i`` (from 1) ``cash_flows_<i>_<slug>.csv``,
    ``bom_<i>_<slug>.csv``, with a loan ``loan_<i>_<slug>.csv`` and, with a demand profile,
    ``profile_<i>_<slug>.csv``.

    Parameters
    ----------
    result : PlanResult or mapping
        The plan result or its ``model_dump()`` [—].
    """
    d = as_dict(result)
    files = {"summary.csv": _csv_text(SUMMARY_COLUMNS, summary_rows(d))}
    for i, o in enumerate(d["options"], start=1):
        tag = f"{i}_{slug(o['label'])}"
        files[f"cash_flows_{tag}.csv"] = _csv_text(CASH_FLOW_COLUMNS, cash_flow_rows(o))
        files[f"bom_{tag}.csv"] = _csv_text(BOM_COLUMNS, bom_rows(o))
        loan = loan_rows(o)
        if loan:
            files[f"loan_{tag}.csv"] = _csv_text(LOAN_COLUMNS, loan)
        prof = profile_rows(o)
        if prof:
            files[f"profile_{tag}.csv"] = _csv_text(PROFILE_COLUMNS, prof)
    return files


def write_csv(result: PlanLike, folder: str | os.PathLike) -> list[Path]:
    """Write the plan's CSV files into ``folder`` (created if its parent exists).

    Parameters
    ----------
    result : PlanResult or mapping
        The plan result or its ``model_dump()`` [—].
    folder : str or PathLike
        The folder to write into [—].

    Returns
    -------
    list of Path
        The files written (see :func:`csv_files` for the names).

    Raises
    ------
    UserError
        ``folder`` is a file, or neither it nor its parent exists.
    """
    root = Path(folder)
    if root.exists() and not root.is_dir():
        raise UserError(f"--csv {str(root)!r} is a file; give a folder")
    if not root.exists():
        if not root.parent.is_dir():
            raise UserError(f"cannot create folder {str(root)!r}: "
                            f"{str(root.parent)!r} does not exist")
        try:
            root.mkdir()
        except OSError as e:
            raise UserError(f"cannot create folder {str(root)!r}: {e.strerror or e}") from None
    real = root.resolve()
    written = []
    for name, text in csv_files(result).items():
        target = root / name
        if target.resolve().parent != real or "/" in name or os.sep in name:
            raise UserError(f"refusing to write {name!r} outside {str(root)!r}")
        written.append(atomic_write_text(target, text))
    return written


# ----------------------------------------------------------------------------------------------
# XLSX
# ----------------------------------------------------------------------------------------------

_USD_FORMAT = "#,##0"
_FRACTION_FORMAT = "0.0%"


def _append(ws: Worksheet, values: Sequence[Any]) -> None:
    """Append a row; strings are always stored as text (never read back as a formula)."""
    ws.append([None if v is None else v for v in values])
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"


def _header(ws: Worksheet, columns: Sequence[str]) -> None:
    from openpyxl.styles import Font

    _append(ws, columns)
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    ws.freeze_panes = f"A{ws.max_row + 1}"  # a string: ws.cell() would create a row


def _formats(ws: Worksheet, columns: Sequence[str], first_row: int) -> None:
    for j, c in enumerate(columns, start=1):
        fmt = (_USD_FORMAT if c.endswith("_usd") or c.endswith("_usd_per_year") else
               _FRACTION_FORMAT if c in ("probability_own_wins", "utilisation") else None)
        if fmt is None:
            continue
        for row in ws.iter_rows(min_row=first_row, min_col=j, max_col=j):
            for cell in row:
                cell.number_format = fmt


def xlsx_bytes(result: PlanLike) -> bytes:
    """The workbook :func:`write_xlsx` writes, as bytes.

    Sheets: Summary (recommendation, then one row per option), CashFlows (monthly, per
    option), BOM (priced lines per option), Loan (schedule per option; a note when no option
    borrows), Profile (monthly demand and its own/rent split per option), Assumptions (the
    sourced inputs behind the money figures).

    Parameters
    ----------
    result : PlanResult or mapping
        The plan result or its ``model_dump()`` [—].
    """
    from openpyxl import Workbook

    d = as_dict(result)
    wb = Workbook()
    ws = wb.active
    ws.title = "Summary"
    _append(ws, ["scenario", d.get("scenario")])
    _append(ws, ["region", d.get("region")])
    _append(ws, ["horizon_years", d.get("horizon_years")])
    _append(ws, ["recommendation", d.get("recommendation")])
    _append(ws, [])
    _header(ws, SUMMARY_COLUMNS)
    first = ws.max_row + 1
    for r in summary_rows(d):
        _append(ws, [r[c] for c in SUMMARY_COLUMNS])
    _formats(ws, SUMMARY_COLUMNS, first)
    for note in d.get("notes", []):
        _append(ws, ["note", note])

    sheets = (("CashFlows", CASH_FLOW_COLUMNS, cash_flow_rows),
              ("BOM", BOM_COLUMNS, bom_rows),
              ("Loan", LOAN_COLUMNS, loan_rows),
              ("Profile", PROFILE_COLUMNS, profile_rows),
              ("Assumptions", ASSUMPTION_COLUMNS, assumption_rows))
    for title, cols, rows_of in sheets:
        ws = wb.create_sheet(title)
        _header(ws, ("option",) + cols)
        any_rows = False
        for o in d["options"]:
            for r in rows_of(o):
                any_rows = True
                _append(ws, [o["label"]] + [r[c] for c in cols])
        _formats(ws, ("option",) + cols, 2)
        if not any_rows and title == "Loan":
            _append(ws, ["no option is financed by a loan (cash purchase)"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_xlsx(result: PlanLike, path: str | os.PathLike) -> Path:
    """Write the plan as an Excel workbook (see :func:`xlsx_bytes`), atomically.

    Parameters
    ----------
    result : PlanResult or mapping
        The plan result or its ``model_dump()`` [—].
    path : str or PathLike
        The workbook file to write [—].

    Raises
    ------
    UserError
        The folder of ``path`` does not exist, or ``path`` is a folder.
    """
    p = Path(path)
    if not p.parent.is_dir():  # fail before building the workbook
        raise UserError(f"cannot write {str(p)!r}: folder {str(p.parent)!r} does not exist")
    return atomic_write_bytes(p, xlsx_bytes(result))
