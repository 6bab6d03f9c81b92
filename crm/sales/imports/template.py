"""The downloadable import template: headers, drop-downs, an example row and a sheet explaining the columns."""
from __future__ import annotations

import io
from collections.abc import Callable

import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from crm.extensions import db
from crm.org.models import Course
from crm.sales.imports.columns import COLUMNS, setting

EXAMPLE = {
    "qq": "123456789", "name": "张三", "gender": "男", "source": "官方网站", "phone": "13800138000",
    "email": "zhangsan@example.com", "courses": "", "education": "普通本科", "graduation_school": "示例大学",
    "major": "计算机科学与技术", "experience": "一年至三年", "work_status": "在职", "company": "示例科技有限公司",
    "salary": "8000", "referrer_qq": "", "inquiry_date": "",
    "memo": "示例行，导入前请删除 / example row, delete before importing",
}
# What marks a row as the template's example (left in by the user): never imported.
EXAMPLE_MARKS = ("qq", "name", "phone")


def is_example_row(keys: list[str | None], values: tuple) -> bool:
    """True for the template's example row (its QQ, name and phone), which is skipped like a blank row."""
    return example_row_test(keys)(values)


def example_row_test(keys: list[str | None]) -> Callable[[tuple], bool]:
    """is_example_row for one sheet's columns, with the columns looked up once (the import calls it per row)."""
    marks = {key: index for index, key in enumerate(keys) if key in EXAMPLE_MARKS}  # the last column of a key
    if len(marks) < len(EXAMPLE_MARKS):
        return lambda values: False  # a missing column reads as "" and never matches
    checks = [(marks[key], EXAMPLE[key]) for key in EXAMPLE_MARKS]  # the QQ first: it rules out other rows

    def test(values: tuple) -> bool:
        size = len(values)
        for index, expected in checks:
            if index >= size:
                return False
            value = values[index]
            if value is None or (value != expected and str(value).strip() != expected):
                return False
        return True

    return test


def build_template() -> bytes:
    """The import template: data sheet with drop-downs and an example row, plus an explanation sheet."""
    course_names = list(db.session.scalars(sa.select(Course.name).order_by(Course.name)))
    wb = Workbook()
    ws = wb.active
    ws.title = "客户 Leads"
    head_font = Font(bold=True, color="FFFFFF")
    required_fill = PatternFill("solid", fgColor="C0392B")
    optional_fill = PatternFill("solid", fgColor="34495E")
    last_row = setting("CRM_IMPORT_MAX_ROWS") + 1
    for index, column in enumerate(COLUMNS, start=1):
        cell = ws.cell(row=1, column=index, value=column.header)
        cell.font = head_font
        cell.fill = required_fill if column.required else optional_fill
        cell.alignment = Alignment(horizontal="center")
        letter = get_column_letter(index)
        ws.column_dimensions[letter].width = max(12, len(column.en) + 4)
        if column.kind == "choice":
            options = ",".join(column.choices.values())
            validation = DataValidation(
                type="list", formula1=f'"{options}"', allow_blank=not column.required, showErrorMessage=True,
                errorTitle=column.zh, error="请从下拉列表中选择 / choose a value from the list",
            )
            validation.add(f"{letter}2:{letter}{last_row}")
            ws.add_data_validation(validation)
    example = dict(EXAMPLE, courses=";".join(course_names[:2]) or "课程1;课程2")
    for index, column in enumerate(COLUMNS, start=1):
        cell = ws.cell(row=2, column=index, value=example[column.key] or None)
        if column.kind in ("qq", "referrer", "phone"):
            cell.number_format = "@"  # keep long digit strings as text
    ws.freeze_panes = "A2"

    notes = wb.create_sheet("说明 Columns")
    notes.append(["列名", "Column", "必填 / Required", "允许的值 / Allowed values", "说明 / Notes"])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    for column in COLUMNS:
        if column.kind == "choice":
            allowed = "、".join(column.choices.values()) + " / " + ", ".join(column.choices_en.values())
        elif column.kind == "courses":
            allowed = "; ".join(course_names) or "(尚无课程 / no courses yet)"
        elif column.kind in ("qq", "referrer"):
            allowed = "5–12 位数字 / 5–12 digits"
        elif column.kind == "date":
            allowed = "日期 / date"
        elif column.max_length:
            allowed = f"最多 {column.max_length} 字 / at most {column.max_length} characters"
        else:
            allowed = ""
        notes.append([column.header, column.en, "是 / yes" if column.required else "否 / no", allowed, column.note])
    notes.append([])
    notes.append(["选项列也接受英文名称或数字代码 / choice columns also accept the English label or the code"])
    notes.append(["空白行会被跳过 / blank rows are skipped"])
    for letter, width in zip("ABCDE", (14, 20, 16, 60, 50)):
        notes.column_dimensions[letter].width = width
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
