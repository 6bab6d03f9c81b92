"""One reclaim run's leads (S-15): the page the reclaim summary e-mail links to."""
from __future__ import annotations

import re

from flask import abort, render_template, request
from flask_login import current_user

from crm.core import clock
from crm.core.access import permission_required
from crm.core.listing import paginate, parse_list_query
from crm.sales import bp, choices
from crm.sales.leads import privacy
from crm.sales.pool.reclaim import RUN_ID_LENGTH, run_holdings

RUN_ID = re.compile(rf"[0-9a-f]{{{RUN_ID_LENGTH}}}")


@bp.route("/reclaims/<run_id>")
@permission_required("sales.mine", "sales.lead.view_all")
def reclaim_run(run_id: str):
    """Exactly the leads one reclaim run returned to the pool: the viewer's own, or all for a director."""
    if not RUN_ID.fullmatch(run_id):
        abort(404)
    sees_all = privacy.sees_all_leads(current_user)
    query = parse_list_query(request.args, sorts=["lead"], default_sort="lead")
    page = paginate(run_holdings(run_id, None if sees_all else current_user.id), query)
    if not page.items and query.page == 1:
        abort(404)  # no such run, or none of its leads were the viewer's
    today = clock.today()
    contacts = {row.id: privacy.masked_contact(current_user, row.customer, today=today) for row in page.items}
    return render_template("sales/reclaim_run.html", page=page, contacts=contacts, sees_all=sees_all,
                           returned_on=page.items[0].ended_on if page.items else None, choices=choices)
