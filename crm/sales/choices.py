"""Choice lists of the sales area (S-1, S-2, S-4): code -> Chinese label.

The Chinese labels are the school's own vocabulary and appear as-is in the
UI, the Excel template and imports; English labels help the English UI and
English Excel headers.
"""
from __future__ import annotations

GENDER = {1: "男", 2: "女"}
GENDER_EN = {1: "male", 2: "female"}

EDUCATION = {
    1: "重点大学", 2: "普通本科", 3: "独立院校", 4: "民办本科",
    5: "大专", 6: "民办专科", 7: "高中", 8: "其他",
}
EDUCATION_EN = {
    1: "key university", 2: "university", 3: "independent college", 4: "private university",
    5: "junior college", 6: "private junior college", 7: "high school", 8: "other",
}

EXPERIENCE = {
    1: "在校生", 2: "应届毕业", 3: "半年以内", 4: "半年至一年",
    5: "一年至三年", 6: "三年至五年", 7: "五年以上",
}
EXPERIENCE_EN = {
    1: "student", 2: "fresh graduate", 3: "under half a year", 4: "half a year to a year",
    5: "one to three years", 6: "three to five years", 7: "over five years",
}

WORK_STATUS = {1: "在职", 2: "无业"}
WORK_STATUS_EN = {1: "employed", 2: "unemployed"}

SOURCE = {
    1: "qq群", 2: "内部转介绍", 3: "官方网站", 4: "百度推广", 5: "360推广", 6: "搜狗推广",
    7: "腾讯课堂", 8: "广点通", 9: "高校宣讲", 10: "渠道代理", 11: "51cto", 12: "智汇推",
    13: "网盟", 14: "DSP", 15: "SEO", 16: "其它",
}
SOURCE_EN = {
    1: "QQ group", 2: "internal referral", 3: "official website", 4: "Baidu ads", 5: "360 ads",
    6: "Sogou ads", 7: "Tencent Classroom", 8: "Guangdiantong", 9: "campus talk", 10: "channel agent",
    11: "51cto", 12: "Zhihuitui", 13: "ad network", 14: "DSP", 15: "SEO", 16: "other",
}

# Customer.status
NOT_ENROLLED = 1
ENROLLED = 2
STATUS = {NOT_ENROLLED: "未报名", ENROLLED: "已报名"}
STATUS_EN = {NOT_ENROLLED: "not enrolled", ENROLLED: "enrolled"}

# CustomerDistribution.status (S-2)
FOLLOWING = 1
CONVERTED = 2
LOST_NO_FOLLOW_UP = 3
LOST_NO_CONVERSION = 4
DISTRIBUTION_STATUS = {
    FOLLOWING: "正在跟进", CONVERTED: "已成单", LOST_NO_FOLLOW_UP: "三天未跟进", LOST_NO_CONVERSION: "十五天未成单",
}
DISTRIBUTION_STATUS_EN = {
    FOLLOWING: "following", CONVERTED: "converted",
    LOST_NO_FOLLOW_UP: "lost: 3 days without follow-up", LOST_NO_CONVERSION: "lost: 15 days without conversion",
}

# CustomerDistribution.origin: how a holding started
ORIGIN_AUTO = "auto"
ORIGIN_IMPORT = "import"
ORIGIN_API = "api"
ORIGIN_GRAB = "grab"
ORIGIN_ASSIGN = "assign"
ORIGIN = {ORIGIN_AUTO: "自动分配", ORIGIN_IMPORT: "批量导入", ORIGIN_API: "网站接口", ORIGIN_GRAB: "抢单",
          ORIGIN_ASSIGN: "主管分配"}
ORIGIN_EN = {ORIGIN_AUTO: "automatic", ORIGIN_IMPORT: "import", ORIGIN_API: "website", ORIGIN_GRAB: "grabbed",
             ORIGIN_ASSIGN: "assigned by a director"}

# Customer.pool_reason: why a lead sits in the public pool
POOL_UNASSIGNED = 1  # no eligible consultant at intake, or released by a director
POOL_REASONS = {POOL_UNASSIGNED: "未分配", LOST_NO_FOLLOW_UP: "三天未跟进", LOST_NO_CONVERSION: "十五天未成单"}
POOL_REASONS_EN = {POOL_UNASSIGNED: "unassigned", LOST_NO_FOLLOW_UP: "3 days without follow-up",
                   LOST_NO_CONVERSION: "15 days without conversion"}

# PaymentRecord.pay_type (S-4)
PAY_DEPOSIT = 1
PAY_TUITION = 2
PAY_TRANSFER = 3
PAY_DROP_OUT = 4
PAY_REFUND = 5
PAY_TYPE = {PAY_DEPOSIT: "订金/报名费", PAY_TUITION: "学费", PAY_TRANSFER: "转班", PAY_DROP_OUT: "退学",
            PAY_REFUND: "退款"}
PAY_TYPE_EN = {PAY_DEPOSIT: "deposit / registration fee", PAY_TUITION: "tuition", PAY_TRANSFER: "class transfer",
               PAY_DROP_OUT: "drop-out", PAY_REFUND: "refund"}

# Expiry rule (S-14)
FOLLOW_UP_DAYS = 3
CONVERSION_DAYS = 15


# -- labels in the UI language ------------------------------------------------------------
# Each Chinese table and its English twin; `label` and `items` pick by the current locale
# (a request's, or the one an e-mail is rendered in), so pages, exports and e-mails agree.
_ENGLISH = {
    id(GENDER): GENDER_EN, id(EDUCATION): EDUCATION_EN, id(EXPERIENCE): EXPERIENCE_EN,
    id(WORK_STATUS): WORK_STATUS_EN, id(SOURCE): SOURCE_EN, id(STATUS): STATUS_EN,
    id(DISTRIBUTION_STATUS): DISTRIBUTION_STATUS_EN, id(ORIGIN): ORIGIN_EN, id(POOL_REASONS): POOL_REASONS_EN,
    id(PAY_TYPE): PAY_TYPE_EN,
}


def _english() -> bool:
    from flask_babel import get_locale

    locale = get_locale()
    return locale is not None and locale.language == "en"


def _table_for_locale(table: dict | str, english: bool | None = None) -> dict:
    table = _named(table)
    if english is None:
        english = _english()
    return _ENGLISH.get(id(table), table) if english else table


def _named(table: dict | str) -> dict:
    """A table given itself or by name ("SOURCE"), the form e-mail templates use."""
    if isinstance(table, str):
        found = globals().get(table)
        if not isinstance(found, dict) or id(found) not in _ENGLISH:
            raise KeyError(table)
        return found
    return table


def label(table: dict | str, code, default: str = "", *, english: bool | None = None) -> str:
    """The label of `code` in one of this module's tables, in the current UI language (or English if told)."""
    if code is None:
        return default
    table = _named(table)
    return _table_for_locale(table, english).get(code, table.get(code, default))


def labels(table: dict | str, *, english: bool | None = None) -> dict:
    """code → label of a table in the current UI language (its own label where a translation is missing),
    for pages that label many rows."""
    return {**_named(table), **_table_for_locale(table, english)}


def items(table: dict | str, *, english: bool | None = None) -> list[tuple]:
    """(code, label) pairs of a table in the current UI language, for select boxes."""
    return list(_table_for_locale(table, english).items())


def template_helpers() -> dict:
    """`choice_label` and `choice_items` for one rendering, with its language looked up once.

    A list page labels several codes per row; the language cannot change during one rendering
    (a context processor runs for each, inside force_locale too).
    """
    english = _english()
    resolved: dict = {}  # table (or its name) → (its labels in this language, the table): once per rendering

    def choice_label(table: dict | str, code, default: str = "") -> str:
        if code is None:
            return default
        found = resolved.get(table if isinstance(table, str) else id(table))
        if found is None:
            named = _named(table)
            found = resolved[table if isinstance(table, str) else id(table)] = (
                _table_for_locale(named, english), named)
        return found[0].get(code, found[1].get(code, default))

    def choice_items(table: dict | str) -> list[tuple]:
        return items(table, english=english)

    return {"choice_label": choice_label, "choice_items": choice_items}
