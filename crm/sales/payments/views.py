"""Payment entry, conversion confirmation, students list and student record (S-18, S-19)."""
from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import joinedload
from wtforms import SelectField, StringField, TextAreaField

from crm.core import clock, once, uow
from crm.core.access import permission_required
from crm.core.errors import DomainError
from crm.core.forms import CrmForm, show_domain_error
from crm.core.listing import paginate, parse_list_query, url_with
from crm.extensions import db
from crm.org.models import ClassList
from crm.sales import bp, choices
from crm.sales.leads.privacy import sees_all_leads
from crm.sales.models import Customer
from crm.sales.payments import services as payments
from crm.students import services as student_services
from crm.students.models import Enrollment, Student


class PaymentForm(CrmForm):
    """A payment (amounts as text: the service parses whole yuan and explains mistakes)."""

    pay_type = SelectField(_l("Type"), choices=[], validate_choice=False)
    class_id = SelectField(_l("Class"), choices=[], validate_choice=False)
    paid_amount = StringField(_l("Paid (yuan)"))
    deal_amount = StringField(_l("Deal amount (yuan)"))
    quoted_amount = StringField(_l("Quoted (yuan)"))
    date = StringField(_l("Date"))
    note = TextAreaField(_l("Note"))


class StudentForm(CrmForm):
    """Emergency contact and placement (S-19)."""

    emergency_contact = StringField(_l("Emergency contact"))
    company = StringField(_l("Company"))
    location = StringField(_l("Location"))
    position = StringField(_l("Position"))
    salary = StringField(_l("Salary (yuan)"))
    welfare = StringField(_l("Welfare"))
    placement_date = StringField(_l("Job start date"))
    memo = StringField(_l("Memo"))


def _class_choices() -> list[tuple[str, str]]:
    classes = db.session.scalars(sa.select(ClassList).order_by(ClassList.start_date.desc(), ClassList.id.desc()))
    return [("", _("— choose —"))] + [(str(c.id), f"{c.display_name} · {c.school.title}") for c in classes]


def _customer_or_404(customer_id: int) -> Customer:
    return db.get_or_404(Customer, customer_id)


@bp.app_template_global("lead_payments")
def lead_payments(customer_id: int) -> dict:
    """For the lead detail page: the lead's payments, its student and whether the viewer may add one."""
    customer = db.session.get(Customer, customer_id)
    if customer is None or not current_user.is_authenticated:
        return {"payments": [], "student": None, "may_record": False, "visible": False}
    try:
        payments.ensure_may_view(current_user, customer)
    except DomainError:
        return {"payments": [], "student": None, "may_record": False, "visible": False}
    rows = payments.payments_of(customer_id)
    try:
        payments.ensure_may_record(current_user, customer)
        may_record = True
    except DomainError:
        may_record = False
    # Only an enrolled lead has a student record (conversion makes both at once, and never back).
    student = student_services.student_of(customer_id) if customer.status == choices.ENROLLED else None
    return {"payments": rows, "student": student, "may_record": may_record,
            "visible": True, "net": payments.net_paid(rows)}


@bp.route("/leads/<int:customer_id>/payments/new", methods=["GET", "POST"], endpoint="payment_create")
@permission_required("sales.payment.create")
def payment_create(customer_id: int):
    """Record a payment; the first deposit/tuition converts the lead and shows the password once."""
    customer = _customer_or_404(customer_id)
    try:
        payments.ensure_may_record(current_user, customer)
    except DomainError:
        abort(403)
    form = PaymentForm()
    form.pay_type.choices = [(str(k), v) for k, v in choices.items(choices.PAY_TYPE)]
    form.class_id.choices = _class_choices()
    if request.method == "GET":
        form.date.data = clock.today().isoformat()
        form.pay_type.data = str(choices.PAY_TUITION)
    if form.validate_on_submit():
        try:
            result = payments.record_payment(current_user.id, customer.id, dict(form.data),
                                             today=clock.today())
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
            return render_template("sales/payment_form.html", form=form, customer=customer), 400
        uow.commit()  # all or nothing: no lead flip, student or payment survives a failure
        once.result(_lead_or_student_url(customer))  # a repeat goes there, never to the password
        if result.converted:
            # The password exists only in this response: rendered, never stored or redirected.
            # The initial password is on this page: browsers and proxies must not keep a copy.
            return (render_template("sales/payment_converted.html", customer=customer, result=result),
                    200, {"Cache-Control": "no-store"})
        flash(_("Payment recorded."), "success")
        return redirect(_lead_or_student_url(customer))
    status = 400 if request.method == "POST" else 200
    return render_template("sales/payment_form.html", form=form, customer=customer), status


def _lead_or_student_url(customer: Customer) -> str:
    from crm.sales.pool.views import lead_url

    student = student_services.student_of(customer.id)
    if student is not None:
        return url_for("sales.student_detail", student_id=student.id)
    return lead_url(customer.id) or url_for("sales.students")


@bp.route("/students", endpoint="students")
@permission_required("sales.payment.create")
def students():
    """Students: directors see all, a consultant those of the leads they hold."""
    query = parse_list_query(request.args, sorts={"created": Student.created_at}, default_sort="-created")
    stmt = (
        sa.select(Student).join(Customer, Customer.id == Student.customer_id)
        .options(joinedload(Student.customer), joinedload(Student.user))
        .order_by(Student.created_at.desc(), Student.id.desc())
    )
    if not sees_all_leads(current_user):
        stmt = stmt.where(Customer.consultant_id == current_user.id)
    if query.search:
        from crm.sales.lead_search import search_clause

        stmt = stmt.where(search_clause(query.search))  # the search box of every lead list
    page = paginate(stmt, query)
    current = {}
    ids = [s.id for s in page.items]
    if ids:
        rows = db.session.execute(
            sa.select(Enrollment.student_id, ClassList)
            .join(ClassList, ClassList.id == Enrollment.class_id)
            .where(Enrollment.student_id.in_(ids), Enrollment.left_on.is_(None))
        )
        for student_id, klass in rows:
            current.setdefault(student_id, []).append(klass.display_name)
    return render_template("sales/students.html", page=page, query=query, current=current, url_with=url_with)


@bp.route("/students/<int:student_id>", methods=["GET", "POST"], endpoint="student_detail")
@permission_required("sales.payment.create")
def student_detail(student_id: int):
    """Student record: lead link, emergency contact, classes with dates, placement (editable)."""
    student = db.get_or_404(Student, student_id)
    try:
        payments.ensure_may_view(current_user, student.customer)
    except DomainError:
        abort(403)
    form = StudentForm(obj=student)
    if request.method == "GET" and student.placement_date:
        form.placement_date.data = student.placement_date.isoformat()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                payments.update_student(current_user.id, student.id, dict(form.data))
                uow.commit()
            except DomainError as error:
                db.session.rollback()
                show_domain_error(form, error)
                status = 400
            else:
                flash(_("Student record saved."), "success")
                return redirect(url_for("sales.student_detail", student_id=student.id))
        else:
            status = 400
    from crm.sales.pool.views import lead_url

    return render_template(
        "sales/student_detail.html", student=student, form=form, lead_href=lead_url(student.customer_id),
        enrollments=student_services.enrollments_of(student.id), payment_rows=payments.payments_of(student.customer_id),
        pay_types=choices.PAY_TYPE,
    ), status
