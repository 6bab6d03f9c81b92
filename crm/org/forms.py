"""Forms of the organisation admin pages (P-4): schools, courses, classes, departments."""
from __future__ import annotations

import sqlalchemy as sa
from flask_admin.contrib.sqla.fields import QuerySelectField, QuerySelectMultipleField
from flask_admin.form import DatePickerWidget
from flask_babel import lazy_gettext as _l
from wtforms import DateField, IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from crm.auth.models import Department, User
from crm.core.admin import CrmAdminForm, UniqueValue
from crm.extensions import db
from crm.org.models import ClassList, Course, School

TUTOR_DEPARTMENT_CODE = 1002  # 班主任 (P-2): their names come first in the tutor list
MAX_PRICE = 10_000_000  # yuan; far above any real course, well inside a 32-bit INTEGER
MAX_SEMESTER = 999
MAX_DEPARTMENT_CODE = 999_999


def strip_text(value):
    """Trim surrounding whitespace so '   ' counts as empty."""
    return value.strip() if isinstance(value, str) else value


def empty_to_none(value):
    """Store an empty optional text as NULL."""
    return value or None


def sorted_schools():
    """Schools by title, for the class form."""
    return db.session.scalars(sa.select(School).order_by(School.title)).all()


def sorted_courses():
    """Courses by name, for the class form."""
    return db.session.scalars(sa.select(Course).order_by(Course.name)).all()


def active_staff(include_ids: set[int] | frozenset[int] = frozenset()) -> list[User]:
    """Active staff, tutors (department 1002) first; plus the given users even if inactive.

    The extra ids keep a class's current tutor/teachers selectable after
    their account was deactivated, so editing a class never drops them silently.
    """
    is_tutor = sa.case((Department.code == TUTOR_DEPARTMENT_CODE, 0), else_=1)
    wanted = sa.and_(User.kind == User.KIND_STAFF, User.active.is_(True))
    if include_ids:
        wanted = sa.or_(wanted, User.id.in_(include_ids))
    query = (
        sa.select(User).outerjoin(User.department).where(wanted)
        .order_by(is_tutor, User.name, User.id)
    )
    return db.session.scalars(query).unique().all()


def staff_label(user: User) -> str:
    """'Name (department)' so two people with one name can be told apart."""
    return f"{user.name} ({user.department.title})" if user.department else user.name


class InRange(NumberRange):
    """NumberRange that stays quiet when the value was not a number at all (one message, not two)."""

    def __call__(self, form, field) -> None:
        if field.process_errors:
            return
        super().__call__(form, field)


class ChoiceField(QuerySelectField):
    """Flask-Admin's select of rows, refusing ids that are not among the choices.

    The stock field turns an unknown id into "nothing chosen" when blanks are
    allowed, so a forged or stale id would silently clear the value.
    """

    def pre_validate(self, form) -> None:
        raw = self.raw_data[0] if self.raw_data else None
        if raw not in (None, "", "__None") and self.data is None:
            raise ValidationError(self.gettext("Not a valid choice"))
        super().pre_validate(form)


class MultiChoiceField(QuerySelectMultipleField):
    """Multi-select of rows that refuses ids outside the choices instead of dropping them."""

    def pre_validate(self, form) -> None:
        _ = self.data  # resolving the ids first is what flags unknown ones
        super().pre_validate(form)


class SchoolForm(CrmAdminForm):
    """Create or rename a school (campus)."""

    title = StringField(
        _l("Title"),
        filters=[strip_text],
        validators=[
            DataRequired(_l("Enter the school's title.")),
            Length(max=64, message=_l("At most %(max)d characters.")),
            UniqueValue(School.title, _l("A school with this title already exists.")),
        ],
    )


class CourseForm(CrmAdminForm):
    """Create or rename a course."""

    name = StringField(
        _l("Name"),
        filters=[strip_text],
        validators=[
            DataRequired(_l("Enter the course name.")),
            Length(max=64, message=_l("At most %(max)d characters.")),
            UniqueValue(Course.name, _l("A course with this name already exists.")),
        ],
    )


class DepartmentForm(CrmAdminForm):
    """Create or edit a department with its unique numeric code."""

    code = IntegerField(
        _l("Code"),
        validators=[
            InputRequired(_l("Enter the department code (a number).")),
            InRange(min=1, max=MAX_DEPARTMENT_CODE,
                        message=_l("The code must be a whole number from %(min)s to %(max)s.")),
            UniqueValue(Department.code, _l("A department with this code already exists.")),
        ],
    )
    title = StringField(
        _l("Title"),
        filters=[strip_text],
        validators=[
            DataRequired(_l("Enter the department title.")),
            Length(max=64, message=_l("At most %(max)d characters.")),
        ],
    )


class ClassForm(CrmAdminForm):
    """Create or edit a class: one semester of a course at a school."""

    school = ChoiceField(
        _l("School"), query_factory=sorted_schools, allow_blank=True, blank_text=_l("Choose a school"),
        validators=[DataRequired(_l("Choose a school."))],
    )
    course = ChoiceField(
        _l("Course"), query_factory=sorted_courses, allow_blank=True, blank_text=_l("Choose a course"),
        validators=[DataRequired(_l("Choose a course."))],
    )
    semester = IntegerField(
        _l("Semester"),
        validators=[
            InputRequired(_l("Enter the semester number.")),
            InRange(min=1, max=MAX_SEMESTER,
                        message=_l("The semester must be a whole number from %(min)s to %(max)s.")),
        ],
    )
    price = IntegerField(
        _l("Price (yuan)"),
        validators=[
            InputRequired(_l("Enter the price in whole yuan.")),
            InRange(min=0, max=MAX_PRICE,
                        message=_l("The price must be a whole number of yuan from %(min)s to %(max)s.")),
        ],
    )
    start_date = DateField(
        _l("Start date"), widget=DatePickerWidget(),
        validators=[InputRequired(_l("Enter the start date (YYYY-MM-DD)."))],
    )
    graduate_date = DateField(_l("Graduation date"), widget=DatePickerWidget(), validators=[Optional()])
    tutor = ChoiceField(
        _l("Tutor"), query_factory=active_staff, get_label=staff_label, allow_blank=True,
        blank_text=_l("No tutor yet"),
        validators=[Optional()],
    )
    teachers = MultiChoiceField(_l("Teachers"), query_factory=active_staff, get_label=staff_label)
    memo = TextAreaField(
        _l("Memo"), filters=[strip_text, empty_to_none],
        validators=[Optional(), Length(max=255, message=_l("At most %(max)d characters."))],
    )

    def __init__(self, formdata=None, obj=None, prefix="", **kwargs):
        super().__init__(formdata=formdata, obj=obj, prefix=prefix, **kwargs)
        if obj is not None and getattr(obj, "id", None):
            keep = {user.id for user in obj.teachers}
            if obj.tutor_id:
                keep.add(obj.tutor_id)
            staff = active_staff(keep)
            self.tutor.query = staff
            self.teachers.query = staff

    def validate_graduate_date(self, field):
        """Graduation cannot come before the start."""
        if field.data and self.start_date.data and field.data < self.start_date.data:
            raise ValidationError(_l("The graduation date cannot be before the start date."))

    def validate_rows(self) -> bool:
        """One class per (school, course, semester)."""
        query = sa.select(ClassList.id).where(
            ClassList.school_id == self.school.data.id,
            ClassList.course_id == self.course.data.id,
            ClassList.semester == self.semester.data,
        )
        if self._obj is not None and getattr(self._obj, "id", None):
            query = query.where(ClassList.id != self._obj.id)
        if db.session.scalar(query.limit(1)) is not None:
            self.semester.errors.append(
                _l("Semester %(n)s of this course already exists at this school.", n=self.semester.data)
            )
            return False
        return True
