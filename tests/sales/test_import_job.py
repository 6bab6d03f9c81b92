"""Excel import job, called directly: validation, dedupe, allocation, resume, error workbook (S-9)."""
from __future__ import annotations

import datetime as dt
import io
import json

import pytest
import sqlalchemy as sa
from flask_babel import force_locale, refresh
from openpyxl import Workbook, load_workbook

from crm.auth.models import User
from crm.core.audit import AuditLog
from crm.extensions import db
from crm.notifications.models import Notification
from crm.sales import allocation, choices
from crm.sales.imports import summary
from crm.sales.imports.columns import REASON_HEADER, ROW_HEADER
from crm.sales.imports.runner import ImportRunner, import_memo
from crm.sales.imports.tasks import run_import
from crm.sales.imports.workbook import create_job
from crm.sales.models import Customer, CustomerDistribution, ImportJob, ImportRowError, SaleRank
from tests.factories import login, make_course, make_user
from tests.sales.import_support import HEADERS, Text, lead_row, new_job, next_qq, write_file
from tests.sales.lead_factories import make_lead


@pytest.fixture(autouse=True)
def setup(import_folder, app, monkeypatch):
    """Scratch import folder, a fresh allocation queue (import_folder) and small batches."""
    monkeypatch.setitem(app.config, "CRM_IMPORT_BATCH_SIZE", 4)


def consultants(*weights_nums):
    """Consultants in the allocation table; returns their user ids."""
    ids = []
    for weight, num in weights_nums:
        user = make_user("consultant", email=f"c{weight}{num}@example.com")
        db.session.add(SaleRank(user_id=user.id, weight=weight, num=num))
        ids.append(user.id)
    db.session.commit()
    allocation.mark_table_changed()
    return ids


def run(job) -> ImportJob:
    """Run the job in English and return it fresh."""
    with force_locale("en"):
        run_import(job.id)
    db.session.expire_all()
    return db.session.get(ImportJob, job.id)


def rejected(job) -> dict[int, tuple[str, str, list]]:
    """row number -> (kind, reason, original values)."""
    rows = db.session.execute(sa.select(ImportRowError).where(ImportRowError.job_id == job.id)).scalars()
    return {r.row_number: (r.kind, r.reason, json.loads(r.values)) for r in rows}


def lead(qq: str) -> Customer | None:
    """The lead with this QQ."""
    return db.session.scalar(sa.select(Customer).where(Customer.qq == qq))


def test_valid_rows_are_imported_allocated_with_history(tmp_path):
    a, b = consultants((7, 2), (5, 5))
    python = make_course("Python 全栈开发")
    go = make_course("Go 高级开发")
    actor = make_user("staff")
    rows = [lead_row(name=f"学员{i}", courses="python 全栈开发; Go 高级开发" if i == 0 else None) for i in range(7)]
    rows[1].update(phone="13800138001", email="Mixed@Example.COM", education="大专", experience="应届毕业",
                   work_status="无业", company="某公司", salary=8000, graduation_school="某大学", major="软件",
                   inquiry_date=dt.date(2026, 2, 3), memo="备注")
    job = run(new_job(tmp_path, rows, actor.id))
    assert (job.status, job.imported, job.duplicates, job.invalid, job.unassigned) == ("done", 7, 0, 0, 0)
    assert job.processed_rows == job.total_rows == 7 and job.finished_at is not None and job.error_path is None
    leads = [lead(r["qq"]) for r in rows]
    assert [c.consultant_id for c in leads] == [a, b, a, b, b, b, b]  # S-5 example order
    first, second = leads[0], leads[1]
    assert [c.name for c in first.courses] == ["Go 高级开发", "Python 全栈开发"]
    assert {c.id for c in first.courses} == {python.id, go.id}
    assert (second.phone, second.email, second.education, second.experience, second.work_status) == (
        "13800138001", "mixed@example.com", 5, 2, 2)
    assert (second.company, second.salary, second.graduation_school, second.major, second.memo) == (
        "某公司", "8000", "某大学", "软件", "备注")
    assert second.inquiry_date == dt.date(2026, 2, 3)
    for customer in leads:
        assert customer.channel == "import" and customer.created_by_id == actor.id
        assert customer.status == choices.NOT_ENROLLED and customer.received_on == customer.last_follow_up_on
        assert customer.pool_reason is None
    history = db.session.scalars(sa.select(CustomerDistribution)).all()
    assert len(history) == 7
    assert {(h.origin, h.status, h.memo) for h in history} == {("import", choices.FOLLOWING, import_memo(job.id))}


def test_without_eligible_consultants_leads_are_saved_unassigned(tmp_path):
    rows = [lead_row(), lead_row()]
    job = run(new_job(tmp_path, rows))
    assert (job.imported, job.unassigned) == (2, 2)
    customer = lead(rows[0]["qq"])
    assert customer.consultant_id is None and customer.pool_reason == choices.POOL_UNASSIGNED
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CustomerDistribution)) == 0


def test_header_only_file_finishes_with_zero_counts(tmp_path):
    job = run(new_job(tmp_path, []))
    assert (job.status, job.total_rows, job.processed_rows, job.imported, job.invalid) == ("done", 0, 0, 0, 0)


def test_blank_rows_only_are_skipped_and_not_counted(tmp_path):
    job = run(new_job(tmp_path, [None, {"name": "  "}, None, {"memo": ""}]))
    assert job.status == "done"
    assert (job.imported, job.duplicates, job.invalid) == (0, 0, 0)
    assert rejected(job) == {}


def test_one_row_file(tmp_path):
    row = lead_row(name="王五")
    job = run(new_job(tmp_path, [row]))
    assert (job.status, job.total_rows, job.imported) == ("done", 1, 1)
    assert lead(row["qq"]).name == "王五"


def test_blank_rows_between_data_rows_are_skipped(tmp_path):
    rows = [lead_row(), None, None, lead_row(), {"name": "   "}, lead_row()]
    job = new_job(tmp_path, rows)
    assert job.total_rows == 3  # blank rows and a row of spaces do not count
    job = run(job)
    assert (job.imported, job.invalid, job.duplicates, job.processed_rows, job.total_rows) == (3, 0, 0, 3, 3)
    assert rejected(job) == {}


def test_unicode_and_html_are_stored_verbatim(tmp_path, client):
    names = ["Zoë Ångström", "😀 表情", "<script>alert(1)</script>", "ひらがな"]
    rows = [lead_row(name=name, memo=f"<b>{name}</b>") for name in names]
    job = run(new_job(tmp_path, rows))
    assert job.imported == 4
    for row, name in zip(rows, names):
        assert lead(row["qq"]).name == name and lead(row["qq"]).memo == f"<b>{name}</b>"


@pytest.mark.parametrize("values, expected", [
    ({"qq": "abc123"}, "QQ (QQ): "),
    ({"qq": "1234"}, "QQ (QQ): "),
    ({"qq": "1234567890123"}, "QQ (QQ): "),
    ({"qq": "1.23456789E+8"}, "QQ (QQ) 1.23456789E+8 is in scientific notation"),
    ({"qq": 12345.5}, "QQ (QQ) must be whole digits, not 12345.5."),
    ({"qq": True}, "QQ (QQ) must be digits, not TRUE."),
    ({"qq": None}, "QQ (QQ) is required."),
    ({"name": None}, "姓名 (Name) is required."),
    ({"name": "名" * 33}, "姓名 (Name): A name has at most 32 characters."),
    ({"gender": "未知"}, '性别 (Gender): "未知" is not one of the allowed values (男、女).'),
    ({"gender": 3}, '性别 (Gender): "3" is not one of the allowed values'),
    ({"source": None}, "客户来源 (Source) is required."),
    ({"source": "抖音"}, '客户来源 (Source): "抖音" is not one of the allowed values'),
    ({"education": "博士"}, '学历 (Education): "博士" is not one of the allowed values'),
    ({"experience": "十年"}, '工作经验 (Experience): "十年" is not one of the allowed values'),
    ({"work_status": "退休"}, '职业状态 (Work status): "退休" is not one of the allowed values'),
    ({"phone": "call me"}, "手机 (Phone): "),
    ({"email": "not-an-email"}, "邮箱 (E-mail): "),
    ({"courses": "Rust 入门"}, "Unknown courses: Rust 入门"),
    ({"inquiry_date": "next week"}, '咨询日期 (Inquiry date): "next week" is not a date (write it as YYYY-MM-DD).'),
    ({"company": "公" * 65}, "目前就职公司 (Company): At most 64 characters."),
    ({"referrer_qq": "99999999"}, "Referred by (QQ) 99999999 is not the QQ of an existing lead or of an earlier row."),
])
def test_each_rejection_reason_has_its_message(tmp_path, values, expected):
    good = lead_row()
    bad = lead_row(**values)
    job = run(new_job(tmp_path, [good, bad]))
    assert (job.imported, job.invalid, job.duplicates) == (1, 1, 0)
    kind, reason, original = rejected(job)[3]
    assert kind == "invalid"
    assert reason.startswith(expected) or expected in reason, reason
    assert lead(good["qq"]) is not None
    if bad.get("qq") and isinstance(bad["qq"], str):
        assert lead(bad["qq"]) is None
        assert original[0] == bad["qq"]


@pytest.mark.parametrize("cell, stored", [
    (123456.0, "123456"), (123456, "123456"), (" 1234567 ", "1234567"), ("123456.0", "123456"),
])
def test_qq_as_text_or_number(tmp_path, cell, stored):
    job = run(new_job(tmp_path, [lead_row(qq=cell)]))
    assert job.imported == 1
    assert lead(stored) is not None


@pytest.mark.parametrize("column, cell, code", [
    ("gender", "female", 2), ("gender", "FEMALE", 2), ("gender", 2, 2), ("gender", "2", 2), ("gender", 1.0, 1),
    ("source", "QQ群", 1), ("source", "Baidu ads", 4), ("source", 16, 16), ("source", "seo", 15),
    ("education", "high school", 7), ("experience", "应届毕业", 2), ("work_status", "employed", 1),
])
def test_choices_accept_chinese_english_or_code(tmp_path, column, cell, code):
    row = lead_row(**{column: cell})
    job = run(new_job(tmp_path, [row]))
    assert job.imported == 1, rejected(job)
    assert getattr(lead(row["qq"]), column) == code


def test_referrer_may_be_an_existing_lead_or_an_earlier_row(tmp_path):
    existing = make_lead(qq="55555555")
    first = lead_row()
    rows = [first, lead_row(referrer_qq="55555555"), lead_row(referrer_qq=first["qq"])]
    for _ in range(3):  # push the last one into a later batch
        rows.insert(2, lead_row())
    job = run(new_job(tmp_path, rows))
    assert (job.imported, job.invalid) == (6, 0)
    assert lead(rows[1]["qq"]).referred_by_id == existing.id
    assert lead(rows[-1]["qq"]).referred_by_id == lead(first["qq"]).id


def test_referrer_on_a_later_row_is_refused(tmp_path):
    later = lead_row()
    job = run(new_job(tmp_path, [lead_row(referrer_qq=later["qq"]), later]))
    assert (job.imported, job.invalid) == (1, 1)
    assert "is not the QQ of an existing lead or of an earlier row" in rejected(job)[2][1]


def test_duplicates_in_the_database_by_qq_phone_or_email(tmp_path):
    make_lead(qq="66666666", phone="13900139000", email="taken@example.com")
    rows = [lead_row(qq="66666666"), lead_row(phone="139 0013 9000"), lead_row(email="TAKEN@example.com"),
            lead_row()]
    job = run(new_job(tmp_path, rows))
    assert (job.imported, job.duplicates, job.invalid) == (1, 3, 0)
    errors = rejected(job)
    assert errors[2][:2] == ("duplicate", "A lead with QQ 66666666 already exists.")
    assert errors[3][0] == "duplicate" and errors[3][1].startswith("A lead with phone ")
    assert errors[4][:2] == ("duplicate", "A lead with e-mail taken@example.com already exists.")


def test_duplicates_inside_the_file_across_batches(tmp_path):
    first = lead_row(phone="13700137000", email="a@example.com")
    rows = [first] + [lead_row() for _ in range(5)] + [
        lead_row(qq=first["qq"]), lead_row(phone="13700137000"), lead_row(email="A@example.com")]
    job = run(new_job(tmp_path, rows))
    assert (job.imported, job.duplicates) == (6, 3)
    errors = rejected(job)
    assert errors[8] == ("duplicate", f"QQ {first['qq']} is repeated in this file (first on row 2).", errors[8][2])
    assert errors[9][1] == "phone 13700137000 is repeated in this file (first on row 2)."
    assert errors[10][1] == "e-mail a@example.com is repeated in this file (first on row 2)."


def test_an_invalid_row_does_not_make_a_later_copy_a_duplicate(tmp_path):
    qq = next_qq()
    job = run(new_job(tmp_path, [lead_row(qq=qq, gender="?"), lead_row(qq=qq)]))
    assert (job.imported, job.invalid, job.duplicates) == (1, 1, 0)


def _formula_workbook(folder, cached: bool):
    """A workbook whose name column is a formula, with or without a cached value."""
    wb = Workbook()
    ws = wb.active
    ws.append(HEADERS)
    qq = next_qq()
    ws.append([qq, "=\"张\"&\"三\"", "男", "官方网站"])
    ws.append([next_qq(), "李四", "女", "SEO"])
    path = folder / "formula.xlsx"
    wb.save(path)
    if cached:  # what Excel writes: the formula and its last result
        import zipfile

        source = path.read_bytes()
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(source)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                data = src.read(info)
                if info.filename == "xl/worksheets/sheet1.xml":
                    data = data.replace(b"</f><v></v>", b"</f><v>cached</v>").replace(
                        b"</f><v />", b"</f><v>cached</v>")
                    if b"<v>cached</v>" not in data:
                        data = data.replace(b"</f>", b"</f><v>cached</v>", 1)
                    data = data.replace(b'<c r="B2" t="str">', b'<c r="B2" t="str">').replace(
                        b'<c r="B2">', b'<c r="B2" t="str">')
                dst.writestr(info, data)
        path.write_bytes(out.getvalue())
    return path, qq


def test_formula_without_cached_value_is_refused(tmp_path):
    path, qq = _formula_workbook(tmp_path, cached=False)
    job = create_job(path, "formula.xlsx", None)
    db.session.commit()
    job = run(job)
    assert (job.imported, job.invalid) == (1, 1)
    assert "姓名 (Name) holds a formula without a calculated value" in rejected(job)[2][1]
    assert rejected(job)[2][2][1] == "=\"张\"&\"三\""  # the original text, not an empty cell
    assert lead(qq) is None


def test_formula_with_cached_value_uses_the_value(tmp_path):
    path, qq = _formula_workbook(tmp_path, cached=True)
    assert load_workbook(path, data_only=True).active["B2"].value == "cached"
    job = create_job(path, "formula.xlsx", None)
    db.session.commit()
    job = run(job)
    assert (job.imported, job.invalid) == (2, 0), rejected(job)
    assert lead(qq).name == "cached"


def test_error_workbook_keeps_upload_header_order_and_original_values(tmp_path, client, app):
    headers = ["性别", "Name", "QQ", "Source", "memo"]
    rows = [["男", "好", "10000001", "SEO", "ok"],
            ["x", "坏", 10000002.0, "SEO", Text("=HYPERLINK(\"http://evil\")")],
            [None, "<b>粗</b>", "10000003", "SEO", None],
            ["女", "重复", "10000001", "SEO", None]]
    path = write_file(tmp_path, rows, headers=headers)
    user = make_user("staff")
    job = create_job(path, "leads.xlsx", user.id)
    db.session.commit()
    job = run(job)
    assert (job.imported, job.invalid, job.duplicates) == (1, 2, 1)
    login(client, user)
    response = client.get(f"/sales/imports/{job.id}/errors.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0] == headers + [REASON_HEADER, ROW_HEADER]
    assert values[1][:5] == ["x", "坏", 10000002, "SEO", "=HYPERLINK(\"http://evil\")"]
    assert sheet["E2"].data_type == "s"  # formula-looking text stays text
    assert values[2][:5] == [None, "<b>粗</b>", "10000003", "SEO", None]
    assert values[3][:5] == ["女", "重复", "10000001", "SEO", None]
    assert [row[-1] for row in values[1:]] == [3, 4, 5]
    assert all(row[-2] for row in values[1:])


def test_a_corrected_error_workbook_can_be_uploaded_again(tmp_path):
    rows = [lead_row(), lead_row(gender="?")]
    job = run(new_job(tmp_path, rows))
    from crm.sales.imports.report import write_error_workbook

    target = tmp_path / "errors.xlsx"
    write_error_workbook(job.id, HEADERS, target)
    wb = load_workbook(target)
    wb.active["C2"] = "女"
    wb.save(target)
    again = run(create_job(target, "errors.xlsx", None))
    assert (again.imported, again.invalid) == (1, 0)


def crash_at_batch(monkeypatch, job, number: int):
    """Run `job` until its `number`-th batch commit, which dies like a killed worker; return the real commit.

    KeyboardInterrupt is not an Exception: nothing marks the job failed, as with a SIGKILL.
    """
    real = ImportRunner.commit_batch
    calls = {"n": 0}

    def crash(self, batch):
        calls["n"] += 1
        if calls["n"] == number:
            raise KeyboardInterrupt("worker killed")
        return real(self, batch)

    monkeypatch.setattr(ImportRunner, "commit_batch", crash)
    with pytest.raises(KeyboardInterrupt):
        run(job)
    db.session.rollback()
    return real


def test_resume_after_a_crash_finishes_exactly(tmp_path, monkeypatch):
    consultants((5, 1), (3, 1))
    first = lead_row()
    rows = [lead_row() for _ in range(9)] + [lead_row(qq=first["qq"]), lead_row(gender="?")]
    rows.insert(0, first)
    job = new_job(tmp_path, rows)
    real = crash_at_batch(monkeypatch, job, 3)
    partial = db.session.get(ImportJob, job.id)
    assert (partial.status, partial.processed_rows, partial.imported) == ("running", 8, 8)
    monkeypatch.setattr(ImportRunner, "commit_batch", real)
    done = run(job)
    assert (done.status, done.processed_rows, done.imported, done.duplicates, done.invalid) == ("done", 12, 10, 1, 1)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 10
    assert rejected(done)[12][1] == f"QQ {first['qq']} is repeated in this file (first on row 2)."
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CustomerDistribution)) == 10


def test_resume_with_blank_rows_between_finishes_exactly(tmp_path, monkeypatch):
    """The resume point counts rows with values; blank rows between them neither count nor shift it."""
    consultants((5, 1))
    first = lead_row()
    rows = [first, None, lead_row(), None, None, lead_row(), lead_row(), {"memo": " "}, lead_row(), None,
            lead_row(qq=first["qq"]), lead_row(), None, lead_row(gender="?"), lead_row()]
    job = new_job(tmp_path, rows)
    assert job.total_rows == 9  # the row of one space is blank too
    real = crash_at_batch(monkeypatch, job, 2)
    partial = db.session.get(ImportJob, job.id)
    assert (partial.status, partial.processed_rows, partial.imported) == ("running", 4, 4)
    monkeypatch.setattr(ImportRunner, "commit_batch", real)
    done = run(job)
    assert (done.status, done.processed_rows, done.total_rows) == ("done", 9, 9)
    assert (done.imported, done.duplicates, done.invalid) == (7, 1, 1)
    assert sorted(rejected(done)) == [12, 15]
    assert rejected(done)[12][1] == f"QQ {first['qq']} is repeated in this file (first on row 2)."
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 7


def test_running_a_finished_job_again_changes_nothing(tmp_path):
    consultants((5, 1))
    job = run(new_job(tmp_path, [lead_row(), lead_row()]))
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Customer))
    again = run(job)
    assert again.imported == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == before == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 1


def test_a_batch_that_loses_a_race_falls_back_row_by_row(tmp_path, monkeypatch):
    a, = consultants((5, 3))
    rows = [lead_row() for _ in range(3)]
    make_lead(qq=rows[1]["qq"])  # "committed by another import" after our duplicate check
    monkeypatch.setattr(ImportRunner, "_existing_identities", staticmethod(lambda candidates: set()))
    returned = []
    real_return = allocation.return_slots
    monkeypatch.setattr(allocation, "return_slots", lambda ids: (returned.append(list(ids)), real_return(ids)))
    job = run(new_job(tmp_path, rows))
    assert (job.imported, job.duplicates) == (2, 1)
    assert rejected(job)[3][:2] == ("duplicate", f"A lead with QQ {rows[1]['qq']} already exists.")
    assert returned == [[a]]  # the loser's slot goes back
    assert lead(rows[0]["qq"]).consultant_id == a and lead(rows[2]["qq"]).consultant_id == a


def test_a_failed_batch_returns_its_slots(tmp_path, monkeypatch):
    a, b = consultants((5, 1), (3, 1))
    job = new_job(tmp_path, [lead_row(), lead_row()])

    def explode(self, accepted, slots):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ImportRunner, "_insert", explode)
    failed = run(job)
    assert failed.status == "failed" and "The import stopped unexpectedly" in failed.message
    assert allocation.allocate(2) == [a, b]  # nobody lost a turn


def test_each_summary_is_written_in_its_recipients_language(tmp_path):
    a, b = consultants((1, 1), (1, 1))
    db.session.get(User, a).locale = "en"
    db.session.get(User, b).locale = "zh_CN"
    db.session.commit()
    job = run(new_job(tmp_path, [lead_row(name=f"客户{i}") for i in range(2)]))
    mails = {m.recipient_id: m for m in db.session.scalars(sa.select(Notification)
                                                           .where(Notification.kind == "import_summary"))}
    assert mails[a].subject == "1 new leads from an Excel import"
    assert f"An Excel import (leads.xlsx, #{job.id}) gave you 1 new leads" in mails[a].body_text
    assert "Excel" in mails[b].subject and "new leads" not in mails[b].subject
    assert "new leads" not in mails[b].body_text and "客户" in mails[b].body_text


def test_missing_file_marks_the_job_failed(tmp_path):
    job = new_job(tmp_path, [lead_row()])
    from pathlib import Path

    Path(job.stored_path).unlink()
    failed = run(job)
    assert failed.status == "failed" and failed.message


def test_one_summary_email_per_consultant(tmp_path):
    a, b = consultants((5, 2), (3, 1))
    rows = [lead_row(name=f"客户{i}") for i in range(9)]
    job = run(new_job(tmp_path, rows))
    mails = db.session.scalars(sa.select(Notification).order_by(Notification.recipient_id)).all()
    assert [(m.recipient_id, m.kind, m.dedupe_key) for m in mails] == [
        (a, "import_summary", f"import:{job.id}:{a}"), (b, "import_summary", f"import:{job.id}:{b}")]
    # The cycle is A B A: A gets rows 0, 2, 3, 5, 6, 8 and B rows 1, 4, 7; the first five names are listed.
    assert [f"- 客户{i}" in mails[0].body_text for i in range(9)] == [1, 0, 1, 1, 0, 1, 1, 0, 0]
    assert [f"- 客户{i}" in mails[1].body_text for i in range(9)] == [0, 1, 0, 0, 1, 0, 0, 1, 0]
    assert "6" in mails[0].subject and "3" in mails[1].subject
    assert summary.queue_summaries(job.id, import_memo(job.id)) == []  # dedupe key holds
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "lead.import"))
    assert (entry.object_type, entry.object_id) == ("import_job", str(job.id))
    assert json.loads(entry.detail)["allocated"] == {str(a): 6, str(b): 3}


def test_summary_email_escapes_html_names(tmp_path):
    consultants((5, 1))
    job = run(new_job(tmp_path, [lead_row(name="<img src=x onerror=alert(1)>")]))
    mail = db.session.scalar(sa.select(Notification))
    assert "<img src=x onerror=alert(1)>" in mail.body_text
    assert "<img src=x" not in mail.body_html and "&lt;img src=x onerror=alert(1)&gt;" in mail.body_html
    assert job.imported == 1


def test_job_page_progress_and_history_respect_ownership(tmp_path, client, app):
    owner = make_user("staff")
    other = make_user("staff")
    director = make_user("sales_director")
    job = run(new_job(tmp_path, [lead_row(), lead_row(gender="?")], owner.id, name="<i>x.xlsx"))
    login(client, owner)
    progress = client.get(f"/sales/imports/{job.id}/progress").get_json()
    assert progress["status"] == "done" and progress["percent"] == 100
    assert (progress["imported"], progress["invalid"], progress["processed"], progress["total"]) == (1, 1, 2, 2)
    assert progress["errors_url"].endswith(f"/sales/imports/{job.id}/errors.xlsx")
    page = client.get(f"/sales/imports/{job.id}").get_data(as_text=True)
    assert 'id="import-bar"' in page and "&lt;i&gt;x.xlsx" in page
    assert f'data-job-id="{job.id}"' in client.get("/sales/imports/").get_data(as_text=True)
    client.post("/auth/logout")
    login(client, other)
    base = f"/sales/imports/{job.id}"
    for url in (base, f"{base}/progress", f"{base}/errors.xlsx"):
        assert client.get(url).status_code == 403
    assert f'data-job-id="{job.id}"' not in client.get("/sales/imports/").get_data(as_text=True)
    client.post("/auth/logout")
    login(client, director)
    assert client.get(f"/sales/imports/{job.id}").status_code == 200
    assert f'data-job-id="{job.id}"' in client.get("/sales/imports/").get_data(as_text=True)
    assert client.get("/sales/imports/999999").status_code == 404
    refresh()


def test_a_stalled_import_is_requeued_once_by_its_heartbeat_and_resumes_exactly(tmp_path, monkeypatch, app):
    """16.1: a worker killed mid-import; the beat sweep re-queues the job within CRM_IMPORT_STALL_SECONDS."""
    from crm.sales.imports import tasks as import_tasks

    consultants((5, 1))
    job = new_job(tmp_path, [lead_row() for _ in range(10)])
    fresh = new_job(tmp_path, [lead_row()], name="fresh.xlsx")
    real = crash_at_batch(monkeypatch, job, 2)
    monkeypatch.setattr(ImportRunner, "commit_batch", real)
    queued = []
    monkeypatch.setattr(import_tasks, "enqueue_import", queued.append)
    assert import_tasks.resume_stalled_imports() == 0  # its heartbeat is fresh: the runner may be alive
    stalled = db.session.get(ImportJob, job.id)
    assert (stalled.status, stalled.processed_rows) == ("running", 4) and stalled.heartbeat_at is not None
    stale = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=app.config["CRM_IMPORT_STALL_SECONDS"] + 5)
    db.session.execute(sa.update(ImportJob).where(ImportJob.id == job.id).values(heartbeat_at=stale))
    db.session.commit()
    assert import_tasks.resume_stalled_imports() == 1 and queued == [job.id]
    assert import_tasks.resume_stalled_imports() == 0 and queued == [job.id]  # renewed: re-queued once
    assert fresh.id not in queued
    done = run(job)
    assert (done.status, done.processed_rows, done.imported) == ("done", 10, 10)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CustomerDistribution)) == 10


def test_the_stalled_import_sweep_runs_every_minute(app):
    from crm.core.areas import beat_schedule

    entry = beat_schedule(app)["resume-stalled-imports"]
    assert entry["task"] == "crm.sales.resume_stalled_imports" and entry["schedule"].minute == set(range(60))
