"""teaching: course sessions and study records (T-1, T-2)

Revision ID: teaching_0001
Revises: surveys_0001
Create Date: 2026-12-01

"""
import sqlalchemy as sa
from alembic import op

revision = "teaching_0001"
down_revision = "surveys_0001"
branch_labels = None
depends_on = None

ATTENDANCE = "'checked', 'vacate', 'late', 'noshow', 'leave_early'"
GRADES = "'A+', 'A', 'B+', 'B', 'B-', 'C+', 'C', 'C-', 'D', 'N/A', 'COPY', 'FAIL'"


def upgrade():
    op.create_table(
        "course_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("session_no", sa.Integer(), nullable=False),
        sa.Column("teacher_id", sa.Integer(), nullable=True),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("title", sa.String(length=128), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("has_homework", sa.Boolean(), nullable=False),
        sa.Column("homework_title", sa.String(length=128), nullable=True),
        sa.Column("homework_description", sa.Text(), nullable=True),
        sa.Column("grading_points", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("session_no >= 1", name=op.f("ck_course_records_session_no_positive")),
        sa.ForeignKeyConstraint(["class_id"], ["classes.id"], name=op.f("fk_course_records_class_id_classes"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["teacher_id"], ["users.id"], name=op.f("fk_course_records_teacher_id_users"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_records")),
        sa.UniqueConstraint("class_id", "session_no", name=op.f("uq_course_records_class_id_session_no")),
    )
    with op.batch_alter_table("course_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_course_records_teacher_id"), ["teacher_id"], unique=False)

    op.create_table(
        "study_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_record_id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("attendance", sa.String(length=16), nullable=False),
        sa.Column("grade", sa.String(length=8), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("graded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("homework_note", sa.String(length=255), nullable=True),
        sa.Column("note", sa.String(length=255), nullable=True),
        sa.Column("homework_file", sa.String(length=64), nullable=True),
        sa.Column("homework_filename", sa.String(length=255), nullable=True),
        sa.Column("homework_size", sa.Integer(), nullable=True),
        sa.Column("student_memo", sa.String(length=500), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"attendance IN ({ATTENDANCE})", name=op.f("ck_study_records_attendance_known")),
        sa.CheckConstraint(f"grade IS NULL OR grade IN ({GRADES})", name=op.f("ck_study_records_grade_known")),
        sa.CheckConstraint("score IS NULL OR (score >= 0 AND score <= 100)",
                           name=op.f("ck_study_records_score_range")),
        sa.ForeignKeyConstraint(["course_record_id"], ["course_records.id"],
                                name=op.f("fk_study_records_course_record_id_course_records"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["student_id"], ["students.id"], name=op.f("fk_study_records_student_id_students"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_study_records")),
        sa.UniqueConstraint("course_record_id", "student_id", name=op.f("uq_study_records_course_record_id_student_id")),
    )
    with op.batch_alter_table("study_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_study_records_student_id"), ["student_id"], unique=False)


def downgrade():
    with op.batch_alter_table("study_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_study_records_student_id"))
    op.drop_table("study_records")
    with op.batch_alter_table("course_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_course_records_teacher_id"))
    op.drop_table("course_records")
