"""Hand-written OOXML workbooks with the habits of writers other than openpyxl (Excel, WPS, LibreOffice).

Each sheet is given as rows of cells; a cell is a value (str -> inline string as WPS writes it,
or a shared string when `shared_strings` is set, as Excel writes it; int/float -> number) or a
(value, style index) pair. `styles` lists the numFmtId of each cellXfs entry (index 0 is General).
"""
from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

from openpyxl.utils import get_column_letter

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRICT_MAIN = "http://purl.oclc.org/ooxml/spreadsheetml/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
WORKSHEET_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"


def _cell(ref: str, cell, strings: list[str] | None) -> str:
    style = 0
    if isinstance(cell, tuple):
        cell, style = cell
    s = f' s="{style}"' if style else ""
    if cell is None:
        return f'<c r="{ref}"{s}/>' if style else ""
    if isinstance(cell, (int, float)) and not isinstance(cell, bool):
        return f'<c r="{ref}"{s}><v>{cell}</v></c>'
    if strings is not None:
        if cell not in strings:
            strings.append(cell)
        return f'<c r="{ref}"{s} t="s"><v>{strings.index(cell)}</v></c>'
    return f'<c r="{ref}"{s} t="inlineStr"><is><t xml:space="preserve">{escape(cell)}</t></is></c>'


def sheet_xml(rows, strings, *, merge: str | None = None, extra_rows: str = "", main: str = MAIN) -> str:
    body = []
    for number, row in enumerate(rows, start=1):
        if row is None:
            continue
        cells = "".join(_cell(f"{get_column_letter(i)}{number}", cell, strings) for i, cell in enumerate(row, 1))
        body.append(f'<row r="{number}">{cells}</row>')
    merged = f'<mergeCells count="1"><mergeCell ref="{merge}"/></mergeCells>' if merge else ""
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{main}" '
            f'xmlns:r="{REL}"><sheetData>{"".join(body)}{extra_rows}</sheetData>{merged}</worksheet>')


def build(sheets: list[dict], *, active: int = 0, styles: tuple[int, ...] = (0,), shared_strings: bool = False,
          strict: bool = False) -> bytes:
    """An .xlsx; each sheet: {"name", "rows", optional "state" ("hidden"), "merge", "extra_rows"}."""
    main = STRICT_MAIN if strict else MAIN
    strings: list[str] | None = [] if shared_strings else None
    parts = {}
    overrides = []
    for index, sheet in enumerate(sheets, start=1):
        parts[f"xl/worksheets/sheet{index}.xml"] = sheet_xml(
            sheet["rows"], strings, merge=sheet.get("merge"), extra_rows=sheet.get("extra_rows", ""), main=main)
        overrides.append(f'<Override PartName="/xl/worksheets/sheet{index}.xml" ContentType="application/'
                         f'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>')
    sheet_entries = "".join(
        f'<sheet name="{escape(sheet["name"])}" sheetId="{i}" r:id="rId{i}"'
        + (f' state="{sheet["state"]}"' if sheet.get("state") else "") + "/>"
        for i, sheet in enumerate(sheets, start=1))
    parts["xl/workbook.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{main}" xmlns:r="{REL}">'
        f'<bookViews><workbookView activeTab="{active}"/></bookViews><sheets>{sheet_entries}</sheets></workbook>')
    rels = "".join(f'<Relationship Id="rId{i}" Type="{WORKSHEET_TYPE}" Target="worksheets/sheet{i}.xml"/>'
                   for i in range(1, len(sheets) + 1))
    rels += f'<Relationship Id="rIdS" Type="{REL}/styles" Target="styles.xml"/>'
    if strings is not None:
        rels += f'<Relationship Id="rIdT" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>'
        items = "".join(f'<si><t xml:space="preserve">{escape(text)}</t></si>' for text in strings)
        parts["xl/sharedStrings.xml"] = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst '
                                         f'xmlns="{main}" count="{len(strings)}">{items}</sst>')
        overrides.append('<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                         'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>')
    parts["xl/_rels/workbook.xml.rels"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships '
        f'xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{rels}</Relationships>')
    xfs = "".join(f'<xf numFmtId="{fmt}" fontId="0" fillId="0" borderId="0" xfId="0"'
                  + (' applyNumberFormat="1"' if fmt else "") + "/>" for fmt in styles)
    parts["xl/styles.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet xmlns="{main}">'
        '<fonts count="1"><font><sz val="11"/><name val="宋体"/></font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/>'
        '</fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        f'<cellXfs count="{len(styles)}">{xfs}</cellXfs>'
        '<cellStyles count="1"><cellStyle name="常规" xfId="0" builtinId="0"/></cellStyles></styleSheet>')
    overrides.append('<Override PartName="/xl/workbook.xml" ContentType="application/'
                     'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>')
    overrides.append('<Override PartName="/xl/styles.xml" ContentType="application/'
                     'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>')
    parts["[Content_Types].xml"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="http://schemas.openxmlformats.org/'
        'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
        'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
        f'{"".join(overrides)}</Types>')
    parts["_rels/.rels"] = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.'
        'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats'
        '.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("[Content_Types].xml", "_rels/.rels", *sorted(k for k in parts if k.startswith("xl/"))):
            archive.writestr(name, parts[name])
    return buffer.getvalue()
