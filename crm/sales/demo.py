"""Sales demo data for `flask crm seed-demo`: the allocation table and 300 leads (P-8).

Leads are written with bulk INSERTs (a handful of statements for all 300)
so seeding stays fast. States covered: followed by a consultant (with dates
from fresh to about to expire), expired but not yet reclaimed, unassigned in
the public pool, lost to the pool (3 or 15 days) with a closed history row,
and lost by one consultant then grabbed by another. Enrolled leads need
students and payments: crm/sales/demo_history.py seeds those, and the two
together make DEMO_TOTAL leads.
"""
from __future__ import annotations

import datetime as dt
import random

import sqlalchemy as sa

from crm.auth.models import User
from crm.extensions import db
from crm.org.models import Course
from crm.sales import choices
from crm.sales.demo_history import DEMO_STUDENTS
from crm.sales.models import ConsultRecord, Customer, CustomerDistribution, SaleRank, customer_courses

# username → (weight, num)
DEMO_TABLE = {"sales1": (7, 2), "sales2": (5, 5), "sales3": (3, 3)}
DEMO_TOTAL = 300  # with the enrolled leads of crm/sales/demo_history.py
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "勇", "艳", "杰",
         "涛", "明", "超", "霞", "平", "刚", "婷", "宇", "浩", "欣"]
NOTES = ["电话沟通，了解课程安排", "QQ 发送了课程大纲", "约好周末到校区试听", "关心学费分期，已说明",
         "在比较其他机构，需再跟进", "已添加微信，发送就业数据", "对 Python 方向很感兴趣"]

# How many leads of each kind; with the demo students they add up to DEMO_TOTAL.
PLAN = [("following", 150 - DEMO_STUDENTS), ("expired", 10), ("unassigned", 50), ("lost", 60), ("regrabbed", 30)]


def seed_sales_demo(users: dict[str, User], courses: list[Course], today: dt.date) -> int:
    """Put sales1..3 in the allocation table and insert the demo leads; returns leads added."""
    rng = random.Random(20260301)
    for username, (weight, num) in DEMO_TABLE.items():
        db.session.add(SaleRank(user_id=users[username].id, weight=weight, num=num))
    db.session.flush()
    consultants = [users[name].id for name in DEMO_TABLE]
    director_id = users["director"].id

    leads, holdings, lost_by = [], [], {}
    kinds = [kind for kind, count in PLAN for _ in range(count)]
    for i, kind in enumerate(kinds):
        qq = str(3100000000 + i)
        holder = consultants[i % len(consultants)]
        inquiry = today - dt.timedelta(days=rng.randint(0, 60))
        lead = {
            "qq": qq, "name": rng.choice(SURNAMES) + "".join(rng.sample(GIVEN, rng.randint(1, 2))),
            "gender": rng.choice([1, 2]), "education": rng.randint(1, 8), "experience": rng.randint(1, 7),
            "work_status": rng.choice([1, 2]), "source": rng.randint(1, 16),
            "graduation_school": rng.choice(["北京理工大学", "河北科技大学", "华北电力大学", None]),
            "major": rng.choice(["计算机科学", "电子信息", "数学", "市场营销", None]),
            "phone": f"139{i:08d}" if i % 3 else None,
            "email": f"lead{i}@mail.example" if i % 4 == 0 else None,
            "memo": "演示数据" if i % 10 == 0 else None,
            "status": choices.NOT_ENROLLED, "inquiry_date": inquiry, "channel": "demo",
            "created_by_id": director_id, "consultant_id": None, "received_on": None,
            "last_follow_up_on": None, "last_lost_by_id": None, "pool_reason": None, "pool_since": None,
        }
        if kind == "following":
            received = today - dt.timedelta(days=rng.randint(0, 14))
            follow = min(today, received + dt.timedelta(days=rng.randint(0, 14)))
            follow = max(follow, today - dt.timedelta(days=3))  # still held today
            lead.update(consultant_id=holder, received_on=received, last_follow_up_on=max(follow, received))
            holdings.append((qq, holder, received, None, choices.FOLLOWING, choices.ORIGIN_AUTO))
        elif kind == "expired":  # the nightly reclaim has not run yet
            received = today - dt.timedelta(days=rng.randint(5, 12))
            lead.update(consultant_id=holder, received_on=received, last_follow_up_on=received)
            holdings.append((qq, holder, received, None, choices.FOLLOWING, choices.ORIGIN_AUTO))
        elif kind == "unassigned":
            lead.update(pool_reason=choices.POOL_UNASSIGNED, pool_since=inquiry)
        else:  # lost, possibly grabbed back by someone else afterwards
            reason = rng.choice([choices.LOST_NO_FOLLOW_UP, choices.LOST_NO_CONVERSION])
            received = today - dt.timedelta(days=rng.randint(20, 40))
            ended = received + dt.timedelta(days=16 if reason == choices.LOST_NO_CONVERSION else 4)
            holdings.append((qq, holder, received, ended, reason, choices.ORIGIN_AUTO))
            lost_by[qq] = holder
            if kind == "lost":
                lead.update(received_on=received, last_follow_up_on=ended - dt.timedelta(days=4),
                            last_lost_by_id=holder, pool_reason=reason, pool_since=ended)
            else:
                grabber = consultants[(i + 1) % len(consultants)]
                grabbed = today - dt.timedelta(days=rng.randint(0, 2))
                lead.update(consultant_id=grabber, received_on=grabbed, last_follow_up_on=grabbed,
                            last_lost_by_id=holder)
                holdings.append((qq, grabber, grabbed, None, choices.FOLLOWING, choices.ORIGIN_GRAB))
        leads.append(lead)

    ids = dict(db.session.execute(sa.insert(Customer).returning(Customer.qq, Customer.id), leads).all())
    db.session.execute(sa.insert(CustomerDistribution), [
        {"customer_id": ids[qq], "consultant_id": who, "started_on": started, "ended_on": ended,
         "status": status, "origin": origin}
        for qq, who, started, ended, status, origin in holdings
    ])
    if courses:
        db.session.execute(customer_courses.insert(), [
            {"customer_id": cid, "course_id": course.id}
            for n, cid in enumerate(ids.values())
            for course in rng.sample(courses, 1 + n % min(2, len(courses)))
        ])
    records = []
    for lead in leads:
        holder = lead["consultant_id"] or lost_by.get(lead["qq"])
        if holder is None or lead["received_on"] is None:
            continue
        span = max((lead["last_follow_up_on"] - lead["received_on"]).days, 0)
        for k in range(rng.randint(0, 3)):
            day = lead["received_on"] + dt.timedelta(days=min(k * 2, span))
            records.append({"customer_id": ids[lead["qq"]], "consultant_id": holder, "date": day,
                            "note": rng.choice(NOTES)})
    if records:
        db.session.execute(sa.insert(ConsultRecord), records)
    db.session.flush()
    return len(leads)


def seed_sales_area(context) -> None:
    """The sales step of `flask crm seed-demo`: the allocation table, leads, students and payments."""
    from crm.sales.demo_history import seed_demo_history

    seed_sales_demo(context.users, context.courses, context.today)
    seed_demo_history(context.users, context.today, context.password)
