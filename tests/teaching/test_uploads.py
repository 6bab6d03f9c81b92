"""Upload checks (crm.core.uploads) and homework (T-7): size, type by content, names, replace, access."""
from __future__ import annotations

import io
import zipfile

import pytest
from flask_babel import force_locale

from crm.core import uploads
from crm.extensions import db
from crm.teaching.models import StudyRecord
from tests.teaching.helpers import initialise, make_session, make_setup, make_student, make_user, record_for, sign_in_as

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def folder(tmp_path):
    return tmp_path


def _save(folder, data: bytes, name: str, kinds=("pdf", "png", "txt", "docx", "zip"), max_bytes=1024):
    return uploads.save_upload(io.BytesIO(data), name, folder=folder, allowed=uploads.allowed_types(kinds),
                               max_bytes=max_bytes)


def test_a_good_file_is_stored_under_a_generated_name(folder):
    stored = _save(folder, PDF, "作业 1.pdf")
    assert uploads.STORAGE_NAME_RE.match(stored.storage_name) and stored.storage_name.endswith(".pdf")
    assert stored.display_name == "作业 1.pdf" and stored.size == len(PDF)
    assert (folder / stored.storage_name).read_bytes() == PDF
    assert [p.name for p in folder.iterdir()] == [stored.storage_name]


@pytest.mark.parametrize("data, name, message", [
    (b"x" * 1025, "big.txt", "larger than"),
    (b"", "empty.pdf", "empty"),
    (b"MZ\x90\x00" + b"\x00" * 60, "virus.pdf", "content"),
    (PNG, "picture.pdf", "content"),
    (b"hello\x00world", "notes.txt", "content"),
    (PDF, "tool.exe", "not accepted"),
    (PDF, "noextension", "not accepted"),
    (b"PK\x03\x04broken", "broken.zip", "content"),
])
def test_bad_uploads_are_refused_and_leave_no_file(folder, data, name, message):
    with force_locale("en"), pytest.raises(uploads.UploadRefused) as refused:
        _save(folder, data, name)
    assert message in refused.value.message
    assert list(folder.iterdir()) == []


def test_a_zip_named_docx_must_hold_a_word_document(folder):
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("a.txt", "hi")
    with pytest.raises(uploads.UploadRefused):
        _save(folder, plain.getvalue(), "report.docx")
    word = io.BytesIO()
    with zipfile.ZipFile(word, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    assert _save(folder, word.getvalue(), "report.docx", max_bytes=10_000).file_type.key == "docx"


@pytest.mark.parametrize("raw, shown", [
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\windows\\evil.txt", "evil.txt"),
    ("/abs/path/x.pdf", "x.pdf"),
    ("a\x00b\x1f.pdf", "ab.pdf"),
    ("Ａ\u0301.pdf", "Ａ́.pdf"),
    ("..", "file"),
    ("", "file"),
    ("e\u0301.txt", "é.txt"),
    ("名" * 300 + ".pdf", "名" * 251 + ".pdf"),
])
def test_display_names_are_made_safe(raw, shown):
    assert uploads.safe_display_name(raw) == shown


def test_a_traversal_name_never_leaves_the_folder(folder):
    stored = _save(folder, b"print(1)\n", "../../../../tmp/x.txt")
    assert (folder / stored.storage_name).exists() and stored.display_name == "x.txt"
    assert uploads.stored_path(folder, "../x.txt") is None
    assert uploads.stored_path(folder, stored.storage_name) == folder / stored.storage_name


# -- homework (T-7) -------------------------------------------------------------------------
@pytest.fixture
def homework_setup(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "CRM_HOMEWORK_DIR", str(tmp_path / "homework"))
    monkeypatch.setitem(app.config, "CRM_HOMEWORK_MAX_BYTES", 2048)
    setup = make_setup()
    session = make_session(setup.klass, 1, has_homework=True)
    no_homework = make_session(setup.klass, 2)
    student = make_student(setup.klass)
    classmate = make_student(setup.klass)
    initialise(setup.teacher, session, no_homework)
    return setup, session, no_homework, student, classmate, tmp_path / "homework"


def _upload(client, record_id, data: bytes, name: str, memo="我的作业"):
    return client.post(f"/teaching/records/{record_id}/homework",
                       data={"file": (io.BytesIO(data), name), "memo": memo}, content_type="multipart/form-data")


def test_a_student_hands_in_and_replaces_homework_until_graded(client, homework_setup):
    setup, session, _no, student, _mate, folder = homework_setup
    record = record_for(session, student)
    sign_in_as(client, student.user)
    assert _upload(client, record.id, PDF, "../作业.pdf").status_code == 302
    db.session.expire_all()
    first = db.session.get(StudyRecord, record.id).homework_file
    assert db.session.get(StudyRecord, record.id).homework_filename == "作业.pdf"
    assert [p.name for p in folder.iterdir()] == [first]

    assert _upload(client, record.id, b"print('v2')\n", "v2.txt").status_code == 302
    db.session.expire_all()
    second = db.session.get(StudyRecord, record.id)
    assert second.homework_file != first and [p.name for p in folder.iterdir()] == [second.homework_file]
    download = client.get(f"/teaching/records/{record.id}/homework")
    assert download.status_code == 200 and download.data == b"print('v2')\n"
    assert "v2.txt" in download.headers["Content-Disposition"]

    sign_in_as(client, setup.teacher)
    client.post(f"/teaching/sessions/{session.id}/scores", data={f"grade-{record.id}": "A"})
    sign_in_as(client, student.user)
    response = _upload(client, record.id, PDF, "late.pdf")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(StudyRecord, record.id).homework_filename == "v2.txt"


@pytest.mark.parametrize("data, name", [(b"x" * 4096, "big.txt"), (PNG, "fake.pdf"), (b"", "empty.pdf"),
                                        (PDF, "run.sh")])
def test_bad_homework_is_refused_with_a_message_and_nothing_saved(client, homework_setup, data, name):
    _setup, session, _no, student, _mate, folder = homework_setup
    record = record_for(session, student)
    sign_in_as(client, student.user)
    response = _upload(client, record.id, data, name)
    assert response.status_code == 302
    page = client.get("/teaching/portal").get_data(as_text=True)
    assert "alert-danger" in page
    db.session.expire_all()
    assert db.session.get(StudyRecord, record.id).homework_file is None
    assert not folder.exists() or list(folder.iterdir()) == []


def test_homework_for_a_session_without_homework_is_refused(client, homework_setup):
    _setup, _session, no_homework, student, _mate, folder = homework_setup
    sign_in_as(client, student.user)
    _upload(client, record_for(no_homework, student).id, PDF, "x.pdf")
    db.session.expire_all()
    assert record_for(no_homework, student).homework_file is None


def test_homework_files_are_served_only_to_the_student_and_the_class_staff(client, homework_setup):
    setup, session, _no, student, classmate, _folder = homework_setup
    record = record_for(session, student)
    sign_in_as(client, student.user)
    _upload(client, record.id, PDF, "mine.pdf")
    url = f"/teaching/records/{record.id}/homework"
    for viewer, status in [(classmate.user, 403), (make_user("teacher"), 403), (make_user("tutor"), 403),
                           (make_user("consultant"), 403), (setup.teacher, 200), (setup.tutor, 200),
                           (make_user("admin"), 200)]:
        sign_in_as(client, viewer)
        assert client.get(url).status_code == status, viewer.username
    sign_in_as(client, classmate.user)
    assert _upload(client, record.id, PDF, "not-mine.pdf").status_code == 403
    assert client.get("/teaching/records/2147483647/homework").status_code == 404
    assert client.get("/teaching/records/2147483648/homework").status_code in (404, 405)


def test_teachers_see_who_handed_in(client, homework_setup):
    setup, session, _no, student, classmate, _folder = homework_setup
    sign_in_as(client, student.user)
    _upload(client, record_for(session, student).id, PDF, "<i>x<i>.pdf")
    sign_in_as(client, setup.teacher)
    html = client.get(f"/teaching/sessions/{session.id}/").get_data(as_text=True)
    assert "&lt;i&gt;x&lt;i&gt;.pdf" in html and "<i>x<i>" not in html
    assert html.count("not handed in") + html.count("未提交") == 1


def test_missing_file_and_ugly_memos_are_refused(client, homework_setup):
    _setup, session, _no, student, _mate, folder = homework_setup
    record = record_for(session, student)
    sign_in_as(client, student.user)
    assert client.post(f"/teaching/records/{record.id}/homework", data={"memo": "没有文件"}).status_code == 302
    assert _upload(client, record.id, PDF, "a.pdf", memo="长" * 501).status_code == 302
    db.session.expire_all()
    assert db.session.get(StudyRecord, record.id).homework_file is None
    assert _upload(client, record.id, PDF, "ok.pdf", memo="a\x00b <script>").status_code == 302
    db.session.expire_all()
    saved = db.session.get(StudyRecord, record.id)
    assert saved.student_memo == "ab <script>" and saved.homework_filename == "ok.pdf"


def test_a_request_over_the_body_limit_is_413_not_500(app, client, homework_setup, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    _setup, session, _no, student, _mate, _folder = homework_setup
    sign_in_as(client, student.user)
    response = _upload(client, record_for(session, student).id, b"x" * 10_000, "big.txt")
    assert response.status_code == 413


def test_grading_between_the_check_and_the_save_keeps_the_graded_homework(homework_setup, monkeypatch):
    import datetime as dt

    import sqlalchemy as sa

    from crm.core.errors import Conflict
    from crm.teaching import homework

    _setup, session, _no, student, _mate, folder = homework_setup
    record = record_for(session, student)
    real_save = uploads.save_upload

    def save_while_the_teacher_grades(*args, **kwargs):
        stored = real_save(*args, **kwargs)
        # The teacher's grade lands after the service looked at the record, before it writes.
        db.session.execute(sa.update(StudyRecord).where(StudyRecord.id == record.id)
                           .values(graded_at=dt.datetime.now(dt.timezone.utc)))
        return stored

    monkeypatch.setattr(uploads, "save_upload", save_while_the_teacher_grades)
    with pytest.raises(Conflict):
        homework.submit_homework(student.user, record.id, io.BytesIO(PDF), "late.pdf", "迟交",
                                 now=dt.datetime.now(dt.timezone.utc))
    db.session.rollback()  # the view's edge: the stored file goes with the refused change
    assert db.session.get(StudyRecord, record.id).homework_file is None
    assert list(folder.iterdir()) == []
