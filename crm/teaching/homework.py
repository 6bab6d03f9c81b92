"""Homework upload and download (T-7), with the row rules of T-9.

A student uploads one file and a memo per session that has homework; a new
upload replaces the old file until the teacher grades the record. Files go
through ``crm.core.uploads`` (streamed size limit, content sniffing, generated
names under the instance folder). The old file is deleted only after the
replacing row is committed; a new file whose row never commits is deleted on
rollback, so the folder never holds files no row names.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from crm.auth.models import User
from crm.core import uow, uploads
from crm.core.errors import Conflict, Forbidden, Invalid, NotFound
from crm.core.ids import is_id
from crm.extensions import db
from crm.students.services import student_for_user
from crm.teaching import rules
from crm.teaching.models import StudyRecord

MEMO_MAX = 500


def homework_folder() -> Path:
    """Where homework files live (instance/uploads/homework unless CRM_HOMEWORK_DIR says otherwise)."""
    configured = current_app.config.get("CRM_HOMEWORK_DIR")
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return uploads.storage_folder(current_app.instance_path, "homework")


def _record(record_id: int) -> StudyRecord:
    record = db.session.get(StudyRecord, record_id) if is_id(record_id) else None
    if record is None:
        raise NotFound(_("The page or record you asked for does not exist."))
    return record


def submit_homework(actor: User, record_id: int, stream: BinaryIO | None, filename: str | None,
                    memo: str | None, *, now: dt.datetime) -> StudyRecord:
    """A student hands in (or replaces) homework for one of their own records."""
    record = _record(record_id)
    student = student_for_user(actor.id)
    if student is None or record.student_id != student.id:
        raise Forbidden(_("This is not your record."))
    session = record.course_record
    if not session.has_homework:
        raise Invalid(_("This session has no homework."), field="file")
    if record.graded_at is not None:
        raise Conflict(_("The teacher has graded this homework; it can no longer be replaced."), field="file")
    memo_text = (memo or "").replace("\x00", "").strip()
    if len(memo_text) > MEMO_MAX:
        raise Invalid(_("At most %(n)s characters.", n=MEMO_MAX), field="memo")
    if stream is None or not filename:
        raise Invalid(_("Choose a file to upload."), field="file")
    folder = homework_folder()
    stored = uploads.save_upload(
        stream, filename, folder=folder,
        allowed=uploads.allowed_types(current_app.config["CRM_HOMEWORK_TYPES"]),
        max_bytes=current_app.config["CRM_HOMEWORK_MAX_BYTES"],
    )
    old_name = record.homework_file
    uow.after_rollback(lambda: uploads.delete_stored(folder, stored.storage_name))
    if old_name:
        uow.after_commit(lambda: uploads.delete_stored(folder, old_name))
    # The teacher may grade between our check above and this write: the UPDATE itself only
    # replaces homework that is still ungraded (the check above only spares a useless upload).
    replaced = db.session.execute(
        sa.update(StudyRecord)
        .where(StudyRecord.id == record.id, StudyRecord.graded_at.is_(None))
        .values(homework_file=stored.storage_name, homework_filename=stored.display_name,
                homework_size=stored.size, student_memo=memo_text or None, submitted_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount
    if not replaced:
        raise Conflict(_("The teacher has graded this homework; it can no longer be replaced."), field="file")
    db.session.refresh(record)
    return record


def may_download(actor: User, record: StudyRecord) -> bool:
    """The student who handed it in, and the staff of the record's class (T-9)."""
    student = student_for_user(actor.id) if actor.kind == User.KIND_STUDENT else None
    if student is not None:
        return record.student_id == student.id
    if not actor.has_any_permission(("teaching.session.view",)):
        return False
    return rules.may_see_class(actor, record.course_record.class_id)


def homework_file(actor: User, record_id: int) -> tuple[Path, str, str]:
    """(path, download name, MIME type) of a record's homework, when the actor may have it."""
    record = _record(record_id)
    if not may_download(actor, record):
        raise Forbidden(_("You may not open this file."))
    path = uploads.stored_path(homework_folder(), record.homework_file)
    if path is None:
        raise NotFound(_("No homework file was handed in for this session."))
    return path, record.homework_filename or path.name, uploads.mimetype_for(path.name)
