"""Sales pages: lead entry, lead detail/edit/follow-up, my customers, all leads,
the allocation table (S-3, S-8, S-11 … S-13, P-5)."""
from __future__ import annotations

from flask import Flask, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from crm.core import clock, listing, uow
from crm.core.access import permission_required
from crm.core.errors import DomainError, Forbidden
from crm.core.forms import show_domain_error
from crm.core.menu import MenuItem, register_menu
from crm.core.safe_redirect import is_local_path
from crm.extensions import db
from crm.org.models import course_options
from crm.sales import allocation, bp, choices
from crm.sales import allocation_table as table
from crm.sales.leads import intake, privacy, rows, services
from crm.sales.leads.forms import AllocationTableForm, FollowUpForm, LeadForm, options
from crm.sales.models import Customer
from crm.sales.pool import expiry

bp.add_app_template_global(listing.url_with, "url_with")

PREVIEW_MAX = 200


def register_sales_menu(app: Flask) -> None:
    """Sidebar entries of the sales pages."""
    register_menu(app, "sales", _l("Sales"), 10, [
        MenuItem(_l("New lead"), "sales.lead_new", "sales.lead.create"),
        MenuItem(_l("My customers"), "sales.my_customers", "sales.mine"),
        MenuItem(_l("All leads"), "sales.lead_list", "sales.lead.view_all"),
        MenuItem(_l("Allocation table"), "sales.allocation_table", "sales.allocation.manage"),
    ])


# -- helpers -----------------------------------------------------------------------------------
def _localise_choices(form: LeadForm) -> None:
    """The lead form's select options in the UI language (choices.items); the courses come with
    `_shown`, when the form is rendered."""
    for name in ("gender", "education", "experience", "work_status", "source"):
        field = getattr(form, name)
        labels = dict(choices.items(getattr(choices, name.upper())))
        field.choices = [SelectChoice(c.value, labels[c.value]) if c.value in labels else c for c in field.choices]


def _shown(form: LeadForm) -> LeadForm:
    """The lead form with its course options, to be rendered (a save that succeeds never reads them)."""
    form.course_ids.choices = options(course_options())
    return form


def _show_error(form, error: DomainError) -> None:
    """Put a service's messages under the lead form's fields (see show_domain_error)."""
    show_domain_error(form, error, aliases=FIELD_ALIASES)


# Service field names that the lead form shows under another field.
FIELD_ALIASES = {"referred_by_id": "referred_by", "referred_by_qq": "referred_by", "courses": "course_ids"}


def _visible_lead(customer_id: int) -> Customer:
    """The lead if the current user may see it; 404 when missing, 403 when held by another (S-11)."""
    customer = services.get_lead(customer_id)
    privacy.require_view(current_user, customer, today=clock.today())
    return customer


def _next_url(default: str) -> str:
    target = request.values.get("next", "")
    return target if is_local_path(target) else default


# -- lead entry (S-8) --------------------------------------------------------------------------
@bp.route("/leads/new", methods=["GET", "POST"])
@permission_required("sales.lead.create")
def lead_new():
    """Enter one lead; it is deduplicated, allocated and the consultant e-mailed."""
    form = LeadForm()
    _localise_choices(form)
    if form.validate_on_submit():
        data = form.to_data()
        today = clock.today()
        try:
            referrer = services.find_by_qq_or_id(data.pop("referred_by"))
            data["referred_by_id"] = referrer.id if referrer else None
            result = intake.create_lead(current_user.id, data, channel="form", today=today)
        except intake.DuplicateLead as duplicate:
            db.session.rollback()
            _show_error(form, duplicate)  # under the field that matched: QQ, phone or e-mail
            return _render_new(form, duplicate=duplicate.existing, matched=duplicate.message), 409
        except DomainError as error:
            db.session.rollback()
            _show_error(form, error)
            return _render_new(form), 400
        # Read before the commit expires them: no statement to reload the lead or its holder afterwards.
        name = result.customer.name
        holder = result.consultant.name if result.consultant is not None else None  # loaded by the intake
        uow.commit()
        if result.consultant_id is None and result.allocation_unavailable:
            flash(_("Lead %(name)s saved. Allocation is unavailable right now, so it went to the public pool, "
                    "where it can be assigned.", name=name), "warning")
        elif result.consultant_id is None:
            flash(_("Lead %(name)s saved. Nobody can take leads now, so it went to the public pool.",
                    name=name), "warning")
        else:
            flash(_("Lead %(name)s saved and given to %(consultant)s.", name=name,
                    consultant=holder or "?"), "success")
        return redirect(url_for("sales.lead_new"))
    status = 400 if request.method == "POST" else 200
    return _render_new(form), status


def _render_new(form, duplicate: Customer | None = None, matched: str | None = None):
    may_open = duplicate is not None and privacy.can_view_lead(current_user, duplicate, today=clock.today())
    return render_template("sales/lead_new.html", form=_shown(form), duplicate=duplicate, may_open_duplicate=may_open,
                           duplicate_matched=matched)


# -- one lead (S-11, S-13) ---------------------------------------------------------------------
@bp.route("/leads/<int:customer_id>")
@permission_required("sales.mine", "sales.lead.view_all", "sales.pool.view")
def lead_detail(customer_id: int):
    """A lead's profile, courses, follow-ups, history and payments."""
    customer = _visible_lead(customer_id)
    today = clock.today()
    form = FollowUpForm()
    return render_template(
        "sales/lead_detail.html", customer=customer, form=form,
        records=services.follow_ups(customer.id), history=services.lead_history(customer.id),
        countdown=expiry.countdown(customer, today),
        may_edit=privacy.can_edit_lead(current_user, customer),
        may_follow_up=privacy.can_follow_up(current_user, customer),
        referrer_contact=(privacy.masked_contact(current_user, customer.referred_by, today=today)
                          if customer.referred_by else None),
        may_open_referrer=(customer.referred_by is not None and privacy.can_view_lead(
            current_user, customer.referred_by, today=today)),
        back=_next_url(""), choices=choices,
    )


@bp.route("/leads/<int:customer_id>/history")
@permission_required("sales.mine", "sales.lead.view_all", "sales.pool.view")
def lead_history(customer_id: int):
    """Every holding of one lead with its status, origin and dates (S-2)."""
    customer = _visible_lead(customer_id)
    return render_template("sales/lead_history.html", customer=customer,
                           history=services.lead_history(customer.id), choices=choices)


@bp.route("/leads/<int:customer_id>/edit", methods=["GET", "POST"])
@permission_required("sales.lead.edit")
def lead_edit(customer_id: int):
    """Edit a lead's profile (its holder, or someone who sees all leads)."""
    customer = _visible_lead(customer_id)
    if not privacy.can_edit_lead(current_user, customer):
        abort(403)
    form = LeadForm()
    _localise_choices(form)
    if request.method == "GET":
        form.load(customer)
    elif form.validate_on_submit():
        try:
            services.update_lead(current_user, customer.id, form.to_data(), today=clock.today())
        except Forbidden:
            raise  # the error handler answers 403
        except DomainError as error:
            db.session.rollback()
            _show_error(form, error)
        else:
            uow.commit()
            flash(_("Lead saved."), "success")
            return redirect(_next_url(url_for("sales.lead_detail", customer_id=customer.id)))
    status = 400 if request.method == "POST" else 200
    return render_template("sales/lead_edit.html", form=_shown(form), customer=customer, back=_next_url("")), status


@bp.route("/leads/<int:customer_id>/follow-ups", methods=["POST"])
@permission_required("sales.followup")
def follow_up_add(customer_id: int):
    """Record a follow-up; the lead's last follow-up date becomes today (S-13)."""
    customer = _visible_lead(customer_id)
    if not privacy.can_follow_up(current_user, customer):
        abort(403)
    form = FollowUpForm()
    detail_url = url_for("sales.lead_detail", customer_id=customer.id)
    if not form.validate_on_submit():
        for message in form.note.errors:
            flash(message, "danger")
        return redirect(detail_url)
    try:
        services.add_follow_up(current_user, customer.id, form.note.data, today=clock.today())
    except Forbidden:
        raise  # the error handler answers 403
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "danger")
        return redirect(detail_url)
    uow.commit()
    flash(_("Follow-up saved."), "success")
    return redirect(detail_url)


# -- my customers (S-12) -----------------------------------------------------------------------
def _choice(table):
    """A converter keeping only the codes of a choice table."""
    return lambda v: listing.to_int(v) if listing.to_int(v) in table else None


# Filters of My customers, kept in the URL (P-5). Both tabs share the search box, source and course.
MINE_FILTERS = {
    "source": _choice(choices.SOURCE),
    "course": listing.to_int,
    "received_from": listing.to_date,
    "received_to": listing.to_date,
}
HISTORY_FILTERS = {
    "status": _choice(choices.DISTRIBUTION_STATUS),
    "origin": lambda v: v if v in choices.ORIGIN else None,
    "source": _choice(choices.SOURCE),
    "course": listing.to_int,
    "started_from": listing.to_date,
    "started_to": listing.to_date,
    "ended_from": listing.to_date,
    "ended_to": listing.to_date,
}


@bp.route("/mine")
@permission_required("sales.mine")
def my_customers():
    """The leads I follow, most urgent first, and my whole history; both searchable and filtered."""
    today = clock.today()
    tab = "history" if request.args.get("tab") == "history" else "current"
    courses = course_options()
    if tab == "history":
        query = listing.parse_list_query(request.args, sorts=["started"], default_sort="-started",
                                         filters=HISTORY_FILTERS)
        stmt = services.history_statement(current_user.id, query.filters, query.search)
        page = listing.paginate(stmt, query)
        contacts = {row.id: privacy.masked_contact(current_user, row.customer, today=today)
                    for row in page.items}
        return render_template("sales/my_customers.html", tab=tab, page=page, contacts=contacts, query=query,
                               courses=courses, choices=choices, today=today)
    query = listing.parse_list_query(request.args, sorts=["expires"], default_sort="expires", filters=MINE_FILTERS)
    page, total = services.current_leads_page(current_user.id, today, query, filters=query.filters,
                                              search=query.search, latest_first=query.descending)
    return render_template("sales/my_customers.html", tab=tab, page=page, rows=rows.held_rows(page.items),
                           total=total, query=query, courses=courses, choices=choices, today=today)


# -- all leads (director) -------------------------------------------------------------------------
LEAD_FILTERS = {
    "status": lambda v: listing.to_int(v) if listing.to_int(v) in choices.STATUS else None,
    "consultant": listing.to_int,
    "source": lambda v: listing.to_int(v) if listing.to_int(v) in choices.SOURCE else None,
    "course": listing.to_int,
    "inquiry_from": listing.to_date,
    "inquiry_to": listing.to_date,
    "unassigned": listing.to_bool,
}


def _lead_list_query():
    query = listing.parse_list_query(request.args, sorts=services.LEAD_SORTS, default_sort="-id",
                                     filters=LEAD_FILTERS)
    stmt = services.filtered_leads(query.filters, query.search)
    stmt = stmt.order_by(*listing.order_clauses(query, services.LEAD_SORTS, Customer.id))
    return query, stmt


@bp.route("/leads")
@permission_required("sales.lead.view_all")
def lead_list():
    """Every lead with filters, search, sort and pagination."""
    query, stmt = _lead_list_query()
    page = listing.paginate(stmt.with_only_columns(*services.LIST_COLUMNS), query, scalars=False)
    consultants = table.consultant_options()  # a small table query; never a scan of the leads
    names = dict(consultants)  # holders outside the select box (deactivated, say) are looked up
    names.update(services.consultant_names({c.consultant_id for c in page.items} - names.keys() - {None}))
    return render_template(
        "sales/lead_list.html", page=page, rows=rows.lead_rows(page.items, names, listing.current_list_url()),
        query=query, consultants=consultants, courses=course_options(), choices=choices,
    )


@bp.route("/leads/export.xlsx")
@permission_required("sales.lead.export")
def lead_export():
    """The filtered lead list as an .xlsx file."""
    if not privacy.sees_all_leads(current_user):
        abort(403)
    _query, stmt = _lead_list_query()
    headers = [_("ID"), _("Name"), _("Gender"), _("QQ"), _("Phone"), _("E-mail"), _("Source"), _("Status"),
               _("Consultant"), _("Inquiry date"), _("Received"), _("Last follow-up"), _("Education"), _("Memo")]
    filename = f"leads-{clock.today().isoformat()}.xlsx"
    return listing.xlsx_response(filename, headers, services.export_rows(stmt), sheet_title="leads")


# -- allocation table (S-3) ------------------------------------------------------------------------
@bp.route("/allocation", methods=["GET", "POST"])
@permission_required("sales.allocation.manage")
def allocation_table():
    """Edit every consultant's leads per cycle, weight, active flag and leave at once."""
    ranks = table.allocation_rows()
    form = AllocationTableForm()
    addable = table.addable_consultants()
    form.new_user_id.choices = options([(0, "—")] + [(u.id, u.name) for u in addable])
    if request.method == "GET":
        for rank in ranks:
            form.rows.append_entry({
                "user_id": str(rank.user_id), "num": rank.num, "weight": rank.weight,
                "active": rank.active, "on_leave_until": rank.on_leave_until,
            })
    elif form.validate_on_submit():
        try:
            changes = [_rank_change(entry.form) for entry in form.rows]
            added = None
            if form.new_user_id.data:
                added = table.RankChange(
                    user_id=form.new_user_id.data, num=form.new_num.data or 1,
                    weight=form.new_weight.data or 0, active=True, on_leave_until=None)
            changed = table.save_allocation_table(current_user.id, changes, added)
        except DomainError as error:
            db.session.rollback()
            _show_error(form, error)
        else:
            uow.commit()  # the allocation generation moves after this commit (allocation._before_flush)
            flash(_("Allocation table saved; the next lead starts a new cycle.") if changed
                  else _("Nothing changed."), "success")
            return redirect(url_for("sales.allocation_table"))
    names = {u.id: u for u in table.consultants()}
    # One full cycle from where the queue stands now (a saved change starts a new one).
    preview_ids = allocation.cycle_preview(limit=min(len(allocation.current_cycle()), PREVIEW_MAX))
    status = 400 if request.method == "POST" else 200
    return render_template(
        "sales/allocation.html", form=form, names=names, addable=addable,
        preview=[names[i].name if i in names else f"#{i}" for i in preview_ids],
    ), status


def _rank_change(row) -> table.RankChange:
    """Turn one posted row into a RankChange; a tampered user id is a field error."""
    user_id = listing.to_int(row.user_id.data or "")
    if user_id is None:
        raise DomainError(_("Unknown consultant in the table; reload the page."))
    return table.RankChange(user_id=user_id, num=row.num.data, weight=row.weight.data,
                               active=bool(row.active.data), on_leave_until=row.on_leave_until.data)
