"""The row scan of an uploaded sheet, remembered in Redis so the preview, the confirm and the job do not repeat it.

`scan_sheet` streams the whole sheet XML (seconds for 100,000 rows). Its result depends only
on the file's bytes and the sheet, so it is kept under a key made of the file's SHA-256 and the
sheet's part name: a changed or replaced file has another key, and the job's copy of an upload
finds the upload's scan. The rows with values are stored as runs of consecutive row numbers
(a sheet's data is mostly one run). Redis being unreachable only means scanning again.
"""
from __future__ import annotations

import hashlib
import json
import logging
from array import array
from pathlib import Path

import redis as redis_lib

from crm.core.xlsx import SheetScan, scan_sheet
from crm.extensions import redis

log = logging.getLogger(__name__)

SCAN_TTL_SECONDS = 24 * 3600
SCAN_VERSION = 1  # part of the key: a change to what scan_sheet finds must not read older entries


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _runs(rows: array) -> list[list[int]]:
    runs: list[list[int]] = []
    for number in rows:
        if runs and runs[-1][1] == number - 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return runs


def _rows(runs: list[list[int]]) -> array:
    rows = array("I")
    for first, last in runs:
        rows.extend(range(first, last + 1))
    return rows


def _key(path: Path, sheet) -> str:
    return redis.key("import", "scan", SCAN_VERSION, file_digest(path), sheet._worksheet_path.lstrip("/"))


def cached_scan(path: Path, sheet, *, count_rows: bool = True) -> SheetScan:
    """`scan_sheet(path, sheet)`, from the cache when this file's sheet was scanned before.

    Without `count_rows` (a job) a miss runs the cheaper formula-only pass, which is not stored.
    """
    key = _key(path, sheet)
    try:
        stored = redis.client.get(key)
    except (redis_lib.RedisError, OSError):  # Redis down or slow: scan instead
        log.warning("import scan cache unavailable; scanning the sheet", exc_info=True)
        stored = None
    if stored:
        try:
            data = json.loads(stored)
            return SheetScan(_rows(data["runs"]), formulas=bool(data["formulas"]),
                             uncached_formulas=bool(data["uncached"]))
        except (ValueError, KeyError, TypeError):
            log.warning("import scan cache entry %s unreadable; scanning the sheet", key)
    scan = scan_sheet(path, sheet, count_rows=count_rows)
    if scan.counted:
        value = json.dumps({"runs": _runs(scan.value_rows), "formulas": scan.formulas,
                            "uncached": scan.uncached_formulas}, separators=(",", ":"))
        try:
            redis.client.set(key, value, ex=SCAN_TTL_SECONDS)
        except (redis_lib.RedisError, OSError):  # not remembered: the next look scans again
            log.warning("could not remember the import scan", exc_info=True)
    return scan
