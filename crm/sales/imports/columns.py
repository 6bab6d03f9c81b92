"""The import's columns (S-9): keys, Chinese and English headers, and matching a header row to them."""
from __future__ import annotations

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


def _header_lookup() -> dict[str, str]:
    lookup = {}
    for column in COLUMNS:
        for name in (column.zh, column.en, column.key):
            lookup[name.casefold()] = column.key
    return lookup


HEADER_LOOKUP = _header_lookup()


def clean_header(raw: object) -> str:
    """A header cell as compared: trimmed, required marker dropped, case folded."""
    text = "" if raw is None else str(raw)
    text = text.strip().rstrip("*＊").strip()
    return text.casefold()


def match_headers(header_row: tuple) -> list[str | None]:
    """Map each column of the header row to a column key (None: ignored); refuse bad headers."""
    keys: list[str | None] = []
    unknown, repeated = [], []
    for raw in header_row:
        cleaned = clean_header(raw)
        if not cleaned or cleaned in IGNORED_HEADERS:
            keys.append(None)
            continue
        key = HEADER_LOOKUP.get(cleaned)
        if key is None:
            unknown.append(str(raw).strip())
        elif key in keys:
            repeated.append(str(raw).strip())
        keys.append(key)
    missing = [COLUMNS_BY_KEY[key].header for key in REQUIRED_KEYS if key not in keys]
    problems = []
    if unknown:
        problems.append(_("Unknown columns: %(names)s.", names=", ".join(unknown)))
    if repeated:
        problems.append(_("Columns given twice: %(names)s.", names=", ".join(repeated)))
    if missing:
        problems.append(_("Missing required columns: %(names)s.", names=", ".join(missing)))
    if problems:
        problems.append(_("Download the template to see the expected headers."))
        raise DomainError(" ".join(problems), field="file")
    return keys
