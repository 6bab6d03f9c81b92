"""After an import: how many leads each consultant was given, and one summary e-mail each (S-9, S-21)."""
from __future__ import annotations

import logging

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from crm.extensions import db
from crm.sales import choices
from crm.sales.models import Customer, CustomerDistribution, ImportJob

log = logging.getLogger(__name__)

SUMMARY_NAMES = 5  # leads named in each consultant's summary; the rest are counted


def allocated_counts(memo: str) -> dict[int, int]:
    """Leads per consultant from the import whose history rows carry `memo`."""
    dist = CustomerDistribution
    return dict(db.session.execute(
        sa.select(dist.consultant_id, sa.func.count()).where(dist.origin == choices.ORIGIN_IMPORT, dist.memo == memo)
        .group_by(dist.consultant_id)
    ).all())


def queue_summaries(job_id: int, memo: str, counts: dict[int, int] | None = None) -> list[int]:
    """Queue one import-summary e-mail per consultant who received leads (flush only)."""
    from crm.auth.models import User
    from crm.notifications.services import queue_email

    dist = CustomerDistribution
    counts = allocated_counts(memo) if counts is None else counts
    if not counts:
        return []
    rank = sa.func.row_number().over(partition_by=dist.consultant_id, order_by=dist.customer_id).label("rank")
    ranked = (
        sa.select(dist.consultant_id, Customer.name, rank).join(Customer, Customer.id == dist.customer_id)
        .where(dist.origin == choices.ORIGIN_IMPORT, dist.memo == memo).subquery()
    )
    names: dict[int, list[str]] = {}
    for consultant_id, name in db.session.execute(
        sa.select(ranked.c.consultant_id, ranked.c.name).where(ranked.c.rank <= SUMMARY_NAMES)
        .order_by(ranked.c.consultant_id, ranked.c.rank)
    ):
        names.setdefault(consultant_id, []).append(name)
    job = db.session.get(ImportJob, job_id)
    ids = []
    for user in db.session.scalars(sa.select(User).where(User.id.in_(counts)).order_by(User.id)):
        notification = queue_email(
            kind="import_summary", recipient_id=user.id, to_address=user.email,
            subject=_l("%(count)s new leads from an Excel import", count=counts[user.id]),
            template="sales_import_summary",
            context={"consultant_name": user.name, "count": counts[user.id], "names": names.get(user.id, []),
                     "more": counts[user.id] - len(names.get(user.id, [])), "job_id": job_id,
                     "filename": job.filename},
            dedupe_key=f"import:{job_id}:{user.id}",
            locale=user.locale,  # subject and body in the recipient's language, whoever ran the import
        )
        if notification is not None:
            ids.append(notification.id)
    return ids
