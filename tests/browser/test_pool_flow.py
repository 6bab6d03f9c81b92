"""Browser: a lead expires, shows in the pool, another consultant grabs it, records tuition, the student signs in."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from crm.core import clock
from crm.extensions import db
from crm.sales import choices
from crm.sales.models import Customer, CustomerDistribution
from tests.browser.conftest import sign_in, sign_out


def make_expired_lead(app) -> tuple[int, str]:
    """A lead sales1 let expire (dates moved back: received 10 days ago, last follow-up 5 days ago)."""
    from crm.auth.models import User

    with app.app_context():
        today = clock.today()
        holder = db.session.scalar(sa.select(User).where(User.username == "sales1"))
        lead = Customer(qq="3999000111", name="过期测试", gender=1, source=3, status=choices.NOT_ENROLLED,
                        consultant_id=holder.id, inquiry_date=today - dt.timedelta(days=10),
                        received_on=today - dt.timedelta(days=10), last_follow_up_on=today - dt.timedelta(days=5),
                        channel="form")
        db.session.add(lead)
        db.session.flush()
        db.session.add(CustomerDistribution(customer_id=lead.id, consultant_id=holder.id,
                                            started_on=lead.received_on, origin=choices.ORIGIN_AUTO))
        db.session.commit()
        result = lead.id, lead.qq
        db.session.remove()
        return result


def test_expired_lead_grabbed_paid_and_student_signs_in(page, live_server, artifacts_dir):
    lead_id, qq = make_expired_lead(live_server.app)
    sign_in(page, live_server, "sales2")
    page.click("[data-endpoint='sales.pool']")
    page.goto(f"{live_server.url}/sales/pool?reason=3&per_page=200")
    row = page.locator(f"tr[data-lead='{lead_id}']")
    row.wait_for()
    assert qq not in page.content()  # contact details hidden in the pool
    page.screenshot(path=str(artifacts_dir / "pool_flow_1_pool.png"), full_page=True)

    row.locator("[data-testid=grab]").click()
    page.wait_for_selector("#lead-name")
    assert page.inner_text("#lead-consultant") == "刘顾问"
    assert qq in page.content()  # now visible to the new holder
    page.screenshot(path=str(artifacts_dir / "pool_flow_2_grabbed.png"), full_page=True)

    page.click("#new-payment")
    page.select_option("select[name=pay_type]", str(choices.PAY_TUITION))
    page.select_option("select[name=class_id]", index=1)
    page.fill("input[name=paid_amount]", "12800")
    page.fill("input[name=deal_amount]", "19800")
    page.click("#save-payment")
    password = page.inner_text("[data-testid=one-time-password]").strip()
    assert page.inner_text("[data-testid=student-username]").strip() == qq
    page.screenshot(path=str(artifacts_dir / "pool_flow_3_enrolled.png"), full_page=True)

    with live_server.app.app_context():
        history = db.session.execute(sa.select(CustomerDistribution.status, CustomerDistribution.origin)
                                     .where(CustomerDistribution.customer_id == lead_id)
                                     .order_by(CustomerDistribution.id)).all()
        db.session.remove()
    assert history == [(choices.LOST_NO_FOLLOW_UP, "auto"),
                       (choices.CONVERTED, "grab")]

    sign_out(page)
    page.fill("input[name=username]", qq)
    page.fill("input[name=password]", password)
    page.click("#login-submit")
    page.wait_for_url("**/auth/password")
    page.screenshot(path=str(artifacts_dir / "pool_flow_4_student_must_change_password.png"), full_page=True)
