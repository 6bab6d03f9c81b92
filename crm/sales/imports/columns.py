"""The import's columns (S-9): keys, Chinese and English headers, and matching a header row to them."""
from __future__ import annotations

import re
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _

from crm.core.errors import DomainError
from crm.sales import choices
from crm.sales.leads import fields

REASON_HEADER = "原因/reason"
ROW_HEADER = "行号/row"


def setting(name: str) -> int:
    """An integer import setting (crm/config.py reads them from the environment)."""
    return int(current_app.config[name])


@dataclass(frozen=True)
class Column:
    """One column of the import template."""

    key: str
    zh: str
    en: str
    required: bool
    kind: str  # qq, text, choice, phone, email, courses, date, referrer
    choices: dict | None = None
    choices_en: dict | None = None
    max_length: int | None = None
    note: str = ""

    @property
    def header(self) -> str:
        """The Chinese header as written in the template (required ones end with '*')."""
        return self.zh + ("*" if self.required else "")

    @property
    def shown(self) -> str:
        """The header in the UI language, for messages: '姓名*' in Chinese, 'Name*' in English."""
        from flask_babel import get_locale

        locale = get_locale()
        english = locale is not None and locale.language == "en"
        return (self.en if english else self.zh) + ("*" if self.required else "")


COLUMNS: tuple[Column, ...] = (
    Column("qq", "QQ", "QQ", True, "qq", note="5–12 位数字，请按文本填写 / 5–12 digits, typed as text"),
    Column("name", "姓名", "Name", True, "text", max_length=fields.NAME_MAX),
    Column("gender", "性别", "Gender", True, "choice", choices.GENDER, choices.GENDER_EN),
    Column("source", "客户来源", "Source", True, "choice", choices.SOURCE, choices.SOURCE_EN),
    Column("phone", "手机", "Phone", False, "phone", note="可选；填写后用于查重 / optional; used to find duplicates"),
    Column("email", "邮箱", "E-mail", False, "email", note="可选；填写后用于查重 / optional; used to find duplicates"),
    Column("courses", "咨询课程", "Courses", False, "courses",
           note="多个课程用分号分隔：课程1;课程2 / several courses separated by ';'"),
    Column("education", "学历", "Education", False, "choice", choices.EDUCATION, choices.EDUCATION_EN),
    Column("graduation_school", "毕业学校", "Graduation school", False, "text",
           max_length=fields.TEXT_LIMITS["graduation_school"]),
    Column("major", "专业", "Major", False, "text", max_length=fields.TEXT_LIMITS["major"]),
    Column("experience", "工作经验", "Experience", False, "choice", choices.EXPERIENCE, choices.EXPERIENCE_EN),
    Column("work_status", "职业状态", "Work status", False, "choice", choices.WORK_STATUS, choices.WORK_STATUS_EN),
    Column("company", "目前就职公司", "Company", False, "text", max_length=fields.TEXT_LIMITS["company"]),
    Column("salary", "当前薪资", "Salary", False, "text", max_length=fields.TEXT_LIMITS["salary"]),
    Column("referrer_qq", "转介绍人QQ", "Referred by (QQ)", False, "referrer",
           note="已有客户或本文件前面行的 QQ / QQ of an existing lead or of an earlier row"),
    Column("inquiry_date", "咨询日期", "Inquiry date", False, "date",
           note="YYYY-MM-DD；空白表示今天 / blank means today"),
    Column("memo", "备注", "Memo", False, "text", max_length=fields.TEXT_LIMITS["memo"]),
)
COLUMNS_BY_KEY = {column.key: column for column in COLUMNS}
REQUIRED_KEYS = tuple(column.key for column in COLUMNS if column.required)
# Columns of our own error workbook, ignored on upload so a corrected error file can be re-imported.
IGNORED_HEADERS = {REASON_HEADER.casefold(), ROW_HEADER.casefold()}


HEADER_SEARCH_ROWS = 10  # the header row is looked for in this many rows at the top of the sheet
SPACES = re.compile(r"\s+")


def clean_header(raw: object) -> str:
    """A header cell as compared: spaces and line breaks dropped, required marker dropped, case folded.

    Cells come from crm.core.xlsx with Excel's `_xHHHH_` escapes already decoded (once).
    """
    text = "" if raw is None else str(raw)
    text = SPACES.sub("", text).rstrip("*＊")
    return text.casefold()


def display_header(raw: object) -> str:
    """A header cell as shown to the user: one line."""
    return " ".join(("" if raw is None else str(raw)).split())


def _header_lookup() -> dict[str, str]:
    lookup = {}
    for column in COLUMNS:
        for name in (column.zh, column.en, column.key):
            lookup[clean_header(name)] = column.key
    return lookup


HEADER_LOOKUP = _header_lookup()


def find_header_row(rows: list[tuple]) -> int:
    """The 1-based position among `rows` of the row that names most columns (title rows above it skipped)."""
    best, best_count = 1, 0
    for position, row in enumerate(rows, start=1):
        count = sum(1 for raw in row if clean_header(raw) in HEADER_LOOKUP)
        if count > best_count:
            best, best_count = position, count
    return best


@dataclass
class HeaderMatch:
    """Each header position's column key, and what is wrong with the match (nothing when it can be imported)."""

    keys: list[str | None]
    unknown: list[str]  # headers without a field (ignored when allowed)
    repeated: list[str]  # headers given a field another column already has
    missing: list[str]  # required columns no header is mapped to (as the template writes them)

    def problems(self, *, ignore_unknown: bool, header_row_number: int, mapped: bool = False) -> str | None:
        """The refusal message, or None when the mapping can be imported (`mapped`: chosen in the preview)."""
        problems = []
        if self.repeated:
            problems.append(_("Columns given twice: %(names)s.", names=", ".join(self.repeated)))
        if self.missing:
            problems.append(_("Missing required columns: %(names)s.", names=", ".join(self.missing)))
        if self.unknown and (problems or not ignore_unknown):
            # Listed whenever something is wrong: an unknown header is often a misspelt required one.
            problems.insert(0, _("Unknown columns: %(names)s.", names=", ".join(self.unknown)))
        if not problems:
            return None
        if mapped:
            problems.append(_("In the Field row of the preview, choose the column that holds each required field "
                              "and give each field to one column only."))
        elif header_row_number == 1:
            problems.append(_("Download the template to see the expected headers."))
        else:
            problems.append(_("The headers were read from row %(row)s. Download the template to see the expected "
                              "headers.", row=header_row_number))
        return " ".join(problems)


def map_headers(header_row: tuple, mapping: list[str | None] | None = None) -> HeaderMatch:
    """Each header's column key: by name, or as `mapping` (the preview's edited choice per position) says.

    By name, a second header of the same field is left unmapped and listed as repeated; an
    explicit mapping that gives one field to two columns lists the second as repeated too.
    """
    keys: list[str | None] = []
    unknown, repeated = [], []
    for index, raw in enumerate(header_row):
        cleaned = clean_header(raw)
        if mapping is not None:
            key = mapping[index] if index < len(mapping) else None
            key = key if key in COLUMNS_BY_KEY else None
            if key is None and cleaned and cleaned not in IGNORED_HEADERS:
                unknown.append(display_header(raw))
        elif not cleaned or cleaned in IGNORED_HEADERS:
            key = None
        else:
            key = HEADER_LOOKUP.get(cleaned)
            if key is None:
                unknown.append(display_header(raw))
        if key is not None and key in keys:
            repeated.append(display_header(raw))
            key = None if mapping is None else key
        keys.append(key)
    missing = [COLUMNS_BY_KEY[key].shown for key in REQUIRED_KEYS if key not in keys]
    return HeaderMatch(keys, unknown, repeated, missing)


def match_headers(header_row: tuple, *, header_row_number: int = 1, ignore_unknown: bool = False,
                  mapping: list[str | None] | None = None) -> tuple[list[str | None], list[str]]:
    """(column key per position, unknown headers ignored); refuse missing, repeated or (unless ignored) unknown ones.

    `mapping`, when given (the preview's edited mapping), decides each position's key; a
    position without a key is ignored.
    """
    match = map_headers(header_row, mapping)
    message = match.problems(ignore_unknown=ignore_unknown or mapping is not None,
                             header_row_number=header_row_number, mapped=mapping is not None)
    if message:
        raise DomainError(message, field="file")
    return match.keys, match.unknown
