"""Sales dashboard figures (S-20) and performance-based weight proposals (S-7).

Definitions, for a consultant and a period [start, end] (both inclusive):

- received: history rows (holdings) that *started* in the period, by origin
  (auto, import, api, grab, assign);
- follow-ups: follow-up records dated in the period; followed-up leads: the
  distinct leads among them;
- converted / lost (by reason 3, 4): history rows that *ended* in the period
  with that status;
- conversion rate: converted ÷ (converted + lost) over the rows that ended in
  the period — the share of closed holdings that ended in a sale; None when
  nothing closed (a rate over open holdings would punish fresh leads);
- revenue: sum of paid amounts of deposits and tuition dated in the period,
  minus refunds dated in the period, credited to the payment's consultant.
  Transfers and drop-outs count only through any refund recorded for them.

Every figure is one grouped query over all consultants (a fixed number of
queries per page, whatever the team size).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa

from crm.auth.models import User
from crm.extensions import db
from crm.sales import choices, people
from crm.sales.models import ConsultRecord, CustomerDistribution, PaymentRecord, SaleRank

ORIGINS = (choices.ORIGIN_AUTO, choices.ORIGIN_IMPORT, choices.ORIGIN_API, choices.ORIGIN_GRAB, choices.ORIGIN_ASSIGN)
MAX_PERIOD_DAYS = 3 * 366


@dataclass
class ConsultantFigures:
    """One consultant's figures for the period."""

    user_id: int
    name: str
    received: dict[str, int] = field(default_factory=lambda: {o: 0 for o in ORIGINS})
    follow_ups: int = 0
    followed_leads: int = 0
    converted: int = 0
    lost: dict[int, int] = field(default_factory=lambda: {choices.LOST_NO_FOLLOW_UP: 0,
                                                          choices.LOST_NO_CONVERSION: 0})
    revenue: int = 0

    @property
    def received_total(self) -> int:
        """Holdings started in the period, whatever their origin."""
        return sum(self.received.values())

    @property
    def lost_total(self) -> int:
        """Holdings lost in the period, both reasons."""
        return sum(self.lost.values())

    @property
    def conversion_rate(self) -> float | None:
        """converted ÷ (converted + lost), None when nothing closed."""
        closed = self.converted + self.lost_total
        return self.converted / closed if closed else None


@dataclass
class Dashboard:
    """Figures per consultant plus the totals and funnel of the rows shown."""

    start: dt.date
    end: dt.date
    rows: list[ConsultantFigures]

    @property
    def totals(self) -> ConsultantFigures:
        """The sum over the rows shown."""
        total = ConsultantFigures(user_id=0, name="")
        for row in self.rows:
            for origin, n in row.received.items():
                total.received[origin] = total.received.get(origin, 0) + n
            total.follow_ups += row.follow_ups
            total.followed_leads += row.followed_leads
            total.converted += row.converted
            for reason, n in row.lost.items():
                total.lost[reason] = total.lost.get(reason, 0) + n
            total.revenue += row.revenue
        return total

    def funnel(self) -> list[tuple[str, int]]:
        """Received holdings → followed-up leads → converted (keys are stable, labels come from the page)."""
        t = self.totals
        return [("received", t.received_total), ("followed_up", t.followed_leads), ("converted", t.converted)]


def sales_staff_ids(start: dt.date | None = None, end: dt.date | None = None) -> set[int]:
    """The rows of the dashboard: active consultants (crm.sales.people) and anyone who held a lead in
    [start, end] (a consultant who left or changed role still answers for that period).

    Directors and administrators who only follow up, take payments or oversee are not rows.
    """
    ids = people.consultant_ids()
    if start is not None and end is not None:
        cd = CustomerDistribution
        ids |= set(db.session.scalars(
            sa.select(cd.consultant_id).distinct()
            .where(cd.started_on <= end, sa.or_(cd.ended_on.is_(None), cd.ended_on >= start))
        ))
    return ids


def check_period(start: dt.date, end: dt.date) -> None:
    """Refuse a reversed or absurdly long period."""
    from flask_babel import gettext as _

    from crm.core.errors import DomainError

    if end < start:
        raise DomainError(_("The period ends before it starts."), field="end")
    if (end - start).days > MAX_PERIOD_DAYS:
        raise DomainError(_("Choose a period of at most three years."), field="start")


def _only(stmt: sa.Select, column, ids: set[int] | None) -> sa.Select:
    return stmt if ids is None else stmt.where(column.in_(ids))


def build_dashboard(start: dt.date, end: dt.date, consultant_ids: set[int] | None = None) -> Dashboard:
    """Figures for every consultant (or only `consultant_ids`) over [start, end]."""
    check_period(start, end)
    cd = CustomerDistribution
    per: dict[int, ConsultantFigures] = {}

    shown = sales_staff_ids(start, end) if consultant_ids is None else set(consultant_ids)
    spare = ConsultantFigures(user_id=0, name="")  # figures of people who are not rows land here

    def row(user_id: int) -> ConsultantFigures:
        if user_id not in shown:
            return spare
        if user_id not in per:
            per[user_id] = ConsultantFigures(user_id=user_id, name="")
        return per[user_id]

    for uid in shown:
        row(uid)
    received = db.session.execute(_only(
        sa.select(cd.consultant_id, cd.origin, sa.func.count())
        .where(cd.started_on.between(start, end)).group_by(cd.consultant_id, cd.origin),
        cd.consultant_id, consultant_ids))
    for uid, origin, n in received:
        row(uid).received[origin] = row(uid).received.get(origin, 0) + n
    closed = db.session.execute(_only(
        sa.select(cd.consultant_id, cd.status, sa.func.count())
        .where(cd.ended_on.between(start, end), cd.status != choices.FOLLOWING)
        .group_by(cd.consultant_id, cd.status),
        cd.consultant_id, consultant_ids))
    for uid, status, n in closed:
        if status == choices.CONVERTED:
            row(uid).converted += n
        else:
            row(uid).lost[status] = row(uid).lost.get(status, 0) + n
    cr = ConsultRecord
    follow = db.session.execute(_only(
        sa.select(cr.consultant_id, sa.func.count(), sa.func.count(sa.distinct(cr.customer_id)))
        .where(cr.date.between(start, end)).group_by(cr.consultant_id),
        cr.consultant_id, consultant_ids))
    for uid, n, leads in follow:
        row(uid).follow_ups, row(uid).followed_leads = n, leads
    pr = PaymentRecord
    signed = sa.case(
        (pr.pay_type.in_((choices.PAY_DEPOSIT, choices.PAY_TUITION)), pr.paid_amount),
        (pr.pay_type == choices.PAY_REFUND, -pr.paid_amount),
        else_=0,
    )
    revenue = db.session.execute(_only(
        sa.select(pr.consultant_id, sa.func.coalesce(sa.func.sum(signed), 0))
        .where(pr.date.between(start, end)).group_by(pr.consultant_id),
        pr.consultant_id, consultant_ids))
    for uid, amount in revenue:
        row(uid).revenue = int(amount or 0)
    if per:
        names = dict(db.session.execute(sa.select(User.id, User.name).where(User.id.in_(list(per)))).all())
        for uid, figures in per.items():
            figures.name = names.get(uid, f"#{uid}")
    rows = sorted(per.values(), key=lambda r: (r.name, r.user_id))
    return Dashboard(start=start, end=end, rows=rows)


# -- S-7 ------------------------------------------------------------------------------------
@dataclass
class WeightProposal:
    """A consultant of the allocation table with their rate and a proposed weight."""

    user_id: int
    name: str
    current_weight: int
    converted: int
    closed: int
    rate: float | None
    proposed_weight: int


def propose_weights(start: dt.date, end: dt.date, scale: int = 100) -> list[WeightProposal]:
    """Weights proportional to each table consultant's conversion rate over [start, end].

    The best rate gets `scale`, the others proportionally less (rounded, at least
    1 when they converted anything); consultants with nothing closed keep their
    current weight, since there is no evidence either way.
    """
    check_period(start, end)
    ranks = list(db.session.scalars(sa.select(SaleRank).order_by(SaleRank.weight.desc(), SaleRank.user_id)))
    if not ranks:
        return []
    figures = {r.user_id: r for r in build_dashboard(start, end, {rank.user_id for rank in ranks}).rows}
    rates = [f.conversion_rate for f in figures.values() if f.conversion_rate is not None]
    best = max(rates) if rates else None
    proposals = []
    for rank in ranks:
        f = figures.get(rank.user_id)
        rate = f.conversion_rate if f else None
        closed = (f.converted + f.lost_total) if f else 0
        if rate is None or best is None:
            proposed = rank.weight
        elif best == 0:
            proposed = 0
        else:
            proposed = round(scale * rate / best)
            if f.converted and proposed == 0:
                proposed = 1
        proposals.append(WeightProposal(
            user_id=rank.user_id, name=rank.user.name, current_weight=rank.weight,
            converted=f.converted if f else 0, closed=closed, rate=rate, proposed_weight=proposed,
        ))
    return proposals
