"""The demo estate 示例花园: a few hundred units with two years of bills and payments.

``plan_estate`` decides everything in plain Python from a fixed seed — buildings, areas,
owners, each household's way of paying, every payment's day and amount — and
``load_demo`` writes the plan through the posting services. The household types
(prompt, late, partial, refusing, hardship, prepaying) and their shares are in
``BEHAVIOURS``.

Invariants:
- the same ``as_of`` gives the same rows, amounts, dates and references;
- no payment is dated after ``as_of``; every payment reference is unique in the estate;
- the ledger rows, their evidence events and the balance projection are written in one
  transaction (the demo users excepted: ``create_user`` commits on its own), so a
  failed load leaves nothing half written;
- every unit's projection is rebuilt as of ``as_of``, so the fast report equals the
  engine that day and after;
- waivers never exceed the late fee outstanding on their ``approved_on`` (checked with
  the engine on the stored records), hardship and waivers are requested by a clerk and
  approved by a manager;
- relief shows every state: two refusers' payment plans (one kept so far, one broken on
  its second instalment, the break recorded by ``record_plan_breaks`` once the load is
  written), and a hardship request and a waiver request awaiting a manager, made
  through the relief service after the load (each in its own transaction).

Choices: amounts a household pays "in full" are what the engine says is due on that
day (principal, and the late fee when the household pays it), so the demo shows the
engine's own figures; evidence events of payments, hardship, waivers and the reversal
are appended in date order after the billing runs, because a payment's event carries
its allocation, which needs the unit's statement.
"""
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import SimpleNamespace

from sqlalchemy import select

from ..domain import ledger as engine
from ..domain.ledger import billed_on_for
from ..domain.money import format_fen
from ..extensions import db
from ..models import (BillingRun, Charge, Decision, Estate, HardshipStatus, Payment, PaymentPlan, PlanCharge,
                      PlanInstalment, Reversal, User, Waiver)
from .crypto import encrypt_text
from .errors import ServiceError
from .evidence import append_event
from .ledger import UnitHistory, local_today, policy_schedule, refresh_unit_balances
from .postings import add_charge, add_payment, charge_amount_fen, due_date_for, record_payment_event
from .property import add_unit, get_or_create_building, get_or_create_estate, get_or_create_fee_item
from .reports import portfolio_report
from .transaction import atomic
from .users import create_user

ESTATE = "示例花园"
SEED = 20161118  # any fixed number keeps the demo reproducible
HANDOVER = date(2016, 11, 18)  # the flats were handed to their first owners from this day
MONTHS = 24
DEMO_PASSWORD = "demo1234"
# Two managers: a manager's own relief request is decided by another one (the two-person rule).
USERS = (("manager", "manager"), ("manager2", "manager"), ("clerk", "clerk"), ("clerk2", "clerk"),
         ("lawyer", "lawyer"), ("admin", "admin"))
SYSTEM = "demo"  # actor of the set-up and billing runs
# The office's letterhead and ways to pay, as printed on notices and receipts (made up:
# the account number is not a real one).
OFFICE_PROFILE = {
    "office_name": "示例花园物业服务中心",
    "office_address": "浙江省杭州市西湖区文三路 588 号示例花园 1 栋底商 102 室",
    "office_phone": "0571-8765 4321",
    "office_hours": "周一至周日 8:30–17:30（法定节假日 9:00–16:00）",
    "bank_name": "中国工商银行杭州文三路支行",
    "bank_account_name": "杭州示例物业服务有限公司",
    "bank_account_no": "1202 0000 0000 0000 000",
    "wechat_payee": "杭州示例物业服务有限公司（示例花园）",
    "alipay_payee": "杭州示例物业服务有限公司",
    "relief_contact": "客服主管 王女士 0571-8765 4300",
}
REQUESTER, APPROVER = "clerk", "manager"

# (building, floors, units per floor, floor plans (m²) of the stacks 01, 02, …)
BUILDINGS = (
    ("1栋", 18, 4, ("128.36", "89.47", "89.47", "131.05")),
    ("2栋", 18, 4, ("126.90", "92.15", "92.15", "126.90")),
    ("3栋", 18, 4, ("133.08", "98.74", "98.74", "133.08")),
    ("4栋", 18, 4, ("118.93", "76.82", "76.82", "118.93")),
    ("5栋", 11, 4, ("143.20", "105.60", "105.60", "143.20")),
    ("6栋", 11, 4, ("121.66", "68.50", "72.34", "121.66")),
)
# (name, basis, price in fen per m² or per unit per month, due day: None = month's last day).
# One item keeps the load quick; a second (e.g. ("垃圾清运费", "fixed", 1000, None)) doubles
# the charges and works unchanged.
FEE_ITEMS = (("物业管理费", "per_m2", 250, None),)

# Share of households per way of paying; "prompt" takes what the others leave.
BEHAVIOURS = (("late", 0.20), ("partial", 0.10), ("refuser", 0.06), ("hardship", 0.04),
              ("prepayer", 0.02))

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
            "任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN_ONE = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超霞平刚辉玲鹏华飞斌宇浩凯健俊帆琳晶欣雪颖婷倩琴云莉兰凤洁梅红"
GIVEN_TWO = ("秀英", "秀兰", "桂英", "建华", "志强", "海燕", "晓东", "玉兰", "建国", "国强", "春梅", "欣怡", "子涵",
             "雨轩", "梓萱", "浩然", "宇轩", "建军", "丽华", "永强", "晓燕", "文静", "家豪", "思远", "佳怡", "志明",
             "红梅", "立新", "淑珍", "德明", "玉梅", "卫东", "俊杰", "雪梅", "海涛", "振华", "婉清", "一鸣", "若曦", "明轩")
# Mobile prefixes; the repeated ones are the more common.
PHONE_PREFIXES = ("139", "138", "137", "136", "135", "150", "151", "152", "158", "159", "186", "187", "188",
                  "131", "132", "133", "177", "180", "189", "199", "166", "135", "139", "138")

HARDSHIP_REASONS = ("家庭主要劳动力失业，暂无收入来源", "户主重大疾病住院治疗，医疗支出大", "低保家庭，持有民政部门低保证明",
                    "独居老人，仅有少量养老金", "家人遭遇交通事故，长期康复治疗")
DISPUTES = ("电梯频繁故障，多次报修未彻底解决", "楼上漏水导致天花板受损，物业未协调处理", "地下车库积水，车辆受损",
            "小区门禁和安保不到位，家中失窃", "公共绿化长期无人养护")
METHOD_PREFIX = {"wechat": "WX", "alipay": "ZFB", "bank_deduction": "DK", "bank_transfer": "YH", "cash": "XJ",
                 "other": "QT"}
# Payments through the bank or online arrive by statement import; cash at the counter.
METHOD_POSTING = {"wechat": ("clerk", "import"), "alipay": ("clerk", "import"),
                  "bank_deduction": ("clerk2", "import"), "bank_transfer": ("clerk2", "import"),
                  "cash": ("clerk", "office"), "other": ("clerk", "office")}


@dataclass
class PlannedPayment:
    paid_on: date
    amount_fen: int
    method: str
    periods: tuple = ()
    reference: str = ""


@dataclass
class Household:
    """One unit of the plan: where it is, who owns it, how it pays."""

    building: str
    number: str
    area_centi_m2: int
    owner_name: str
    owner_phone: str
    owned_from: date
    behaviour: str
    bills: list = field(default_factory=list)          # engine.Charge, id "PERIOD/FEE ITEM"
    payments: list = field(default_factory=list)       # PlannedPayment, by date
    hardship: tuple | None = None                      # (start, end, reason)
    # The service complaint a refuser gives: kept in the plan for the contact log and
    # disputes (SPEC §5), which have no tables yet.
    dispute: str | None = None
    pays_late_fee: bool = True

    @property
    def ref(self):
        return f"{ESTATE}/{self.building}/{self.number}"


# -- the plan (plain Python) ------------------------------------------------------------

def demo_periods(as_of):
    """The ``MONTHS`` periods ending with the as-of month, oldest first."""
    first = as_of.year * 12 + as_of.month - 1 - (MONTHS - 1)
    return [f"{m // 12}-{m % 12 + 1:02d}" for m in range(first, first + MONTHS)]


def plan_estate(as_of, schedule):
    """Every household of the demo with its bills and payments as of ``as_of``.
    ``schedule`` is the estate's ``PolicySchedule`` (what the engine charges late)."""
    rng = random.Random(SEED)
    periods = demo_periods(as_of)
    first_day = date(*map(int, periods[0].split("-")), 1)
    phones = set()
    households = []
    for building, floors, per_floor, plans in BUILDINGS:
        for floor in range(1, floors + 1):
            for stack in range(1, per_floor + 1):
                owned_from = min(HANDOVER + timedelta(days=rng.randint(0, 1500)), first_day)
                households.append(Household(
                    building=building, number=f"{floor:02d}{stack:02d}",
                    area_centi_m2=int(plans[stack - 1].replace(".", "")),
                    owner_name=_owner_name(rng), owner_phone=_phone(rng, phones), owned_from=owned_from,
                    behaviour="prompt"))
    labels = []
    for behaviour, share in BEHAVIOURS:
        labels += [behaviour] * round(share * len(households))
    labels += ["prompt"] * (len(households) - len(labels))
    rng.shuffle(labels)
    for household, behaviour in zip(households, labels):
        household.behaviour = behaviour
    for index, household in enumerate(households):
        household.bills = _bills(household, periods)
        _plan_payments(household, random.Random(f"{SEED}:{index}"), as_of, schedule)
    _number_references(households)
    return households


def _owner_name(rng):
    # Surnames early in the list are the common ones; weight them so.
    surname = SURNAMES[min(int(rng.expovariate(1 / 18)), len(SURNAMES) - 1)]
    given = rng.choice(GIVEN_TWO) if rng.random() < 0.55 else rng.choice(GIVEN_ONE)
    return surname + given


def _phone(rng, taken):
    while True:
        phone = rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10 ** 8):08d}"
        if phone not in taken:
            taken.add(phone)
            return phone


def _bills(household, periods):
    unit = SimpleNamespace(area_centi_m2=household.area_centi_m2)
    bills = []
    for period in periods:
        for name, basis, price_fen, due_day in FEE_ITEMS:
            amount = charge_amount_fen(SimpleNamespace(basis=basis, price_fen=price_fen), unit)
            due = due_date_for(period, due_day)
            bills.append(engine.Charge(f"{period}/{name}", period, name, amount, due, billed_on_for(period, due)))
    return bills


def _months(household):
    """The bills grouped by period: ``[(period, due_date, amount_fen), …]``."""
    months = {}
    for bill in household.bills:
        period, due, amount = months.get(bill.period, (bill.period, bill.due_date, 0))
        months[bill.period] = (period, max(due, bill.due_date), amount + bill.amount_fen)
    return list(months.values())


def _owed(household, day, schedule, with_fee=True, due_only=True):
    """``(fen, periods)`` owed on ``day`` per the engine, after the payments planned so
    far: the principal of everything due by then (of everything billed, unless
    ``due_only``), plus its late fee when ``with_fee``."""
    payments = [engine.Payment(i, p.amount_fen, p.paid_on, p.periods) for i, p in enumerate(household.payments)]
    suspensions = [engine.Suspension(*household.hardship[:2])] if household.hardship else []
    statement = engine.compute_statement(household.bills, payments, as_of=day, policies=schedule,
                                         suspensions=suspensions)
    due = [line for line in statement.charges if line.charge.due_date <= day or not due_only]
    owed = sum(line.principal_outstanding_fen + (line.late_fee_outstanding_fen if with_fee else 0) for line in due)
    periods = tuple(dict.fromkeys(line.charge.period for line in due
                                  if line.principal_outstanding_fen or (with_fee and line.late_fee_outstanding_fen)))
    return owed, periods


def _pay(household, day, amount_fen, method, periods=()):
    if amount_fen > 0:
        household.payments.append(PlannedPayment(day, amount_fen, method, periods))


def _pay_promptly(household, rng, month, method, as_of):
    """Pay the month's bill on or before its due date (bank deduction on the 20th)."""
    _period, due, amount = month
    day = due.replace(day=min(20, due.day)) if method == "bank_deduction" else \
        due.replace(day=min(due.day, 1 + int(rng.triangular(0, due.day, 4))))
    if day <= as_of:
        _pay(household, day, amount, method)


def _plan_payments(household, rng, as_of, schedule):
    months = _months(household)
    behaviour = household.behaviour
    usual = rng.choices(("wechat", "alipay", "bank_deduction"), weights=(45, 25, 30))[0]
    if behaviour == "prompt":
        for month in months:
            _pay_promptly(household, rng, month, usual, as_of)
    elif behaviour == "late":
        household.pays_late_fee = rng.random() < 0.5
        _plan_late(household, rng, months, as_of, schedule)
    elif behaviour == "partial":
        household.pays_late_fee = rng.random() < 0.4
        _plan_partial(household, rng, months, as_of, schedule)
    elif behaviour == "refuser":
        stopped = len(months) - rng.randint(8, 20)
        for month in months[:stopped]:
            _pay_promptly(household, rng, month, usual, as_of)
        if rng.random() < 0.5:
            household.dispute = rng.choice(DISPUTES)
    elif behaviour == "hardship":
        _plan_hardship(household, rng, months, as_of, schedule, usual)
    elif behaviour == "prepayer":
        start = rng.randint(1, 11)
        method = rng.choice(("bank_transfer", "wechat"))
        for month in months[:start]:
            _pay_promptly(household, rng, month, usual, as_of)
        for first in (start, start + 12):
            if first < len(months):
                period, due, amount = months[first]
                day = due.replace(day=rng.randint(1, 10))
                if day <= as_of:
                    _pay(household, day, 12 * amount, method)
    household.payments.sort(key=lambda p: p.paid_on)


def _plan_late(household, rng, months, as_of, schedule):
    """Visits 10–80 days after the oldest unpaid bill, sometimes for two months at once;
    each visit settles everything due (the late fee too, for those who pay it)."""
    index = 0
    while index < len(months):
        together = 2 if rng.random() < 0.3 and index + 1 < len(months) else 1
        due = months[index + together - 1][1]
        day = due + timedelta(days=rng.randint(10, 80) if together == 1 else rng.randint(3, 40))
        if day > as_of:
            break
        owed, periods = _owed(household, day, schedule, household.pays_late_fee)
        method = rng.choices(("cash", "wechat", "alipay", "bank_transfer"), weights=(30, 35, 20, 15))[0]
        _pay(household, day, owed, method, periods if rng.random() < 0.3 else ())
        index = next((i for i, month in enumerate(months) if month[1] > day), len(months))


def _plan_partial(household, rng, months, as_of, schedule):
    """Part of each bill (50–90 %, whole yuan) in the 18 days before it is due; every 4–7
    months, instead, a visit in the week after the due date that settles everything due
    (before the next month's part, so that the engine's figure is what is paid)."""
    share = rng.uniform(0.5, 0.9)
    catch_up = rng.randint(4, 7)
    method = rng.choice(("wechat", "alipay", "cash"))
    for index, (_period, due, amount) in enumerate(months):
        if (index + 1) % catch_up == 0:
            day = due + timedelta(days=rng.randint(1, 7))
            if day <= as_of:
                owed, _ = _owed(household, day, schedule, household.pays_late_fee)
                _pay(household, day, owed, method)
            continue
        day = due - timedelta(days=rng.randint(0, 18))
        if day <= as_of:
            part = amount * min(0.95, max(0.4, rng.gauss(share, 0.05)))
            _pay(household, day, max(100, int(part) // 100 * 100), method)


def _plan_hardship(household, rng, months, as_of, schedule, usual):
    """Prompt until trouble starts; nothing paid for some months; an approved hardship
    status; once it ends, the principal paid off and prompt again."""
    trouble = rng.randint(3, len(months) - 3)
    for month in months[:trouble]:
        _pay_promptly(household, rng, month, usual, as_of)
    start = min(months[trouble][1] + timedelta(days=rng.randint(15, 45)), as_of)
    end = start + timedelta(days=rng.randint(120, 300))
    household.hardship = (start, end, rng.choice(HARDSHIP_REASONS))
    household.pays_late_fee = False
    back = end + timedelta(days=rng.randint(5, 30))
    if back > as_of:
        return
    owed, _ = _owed(household, back, schedule, with_fee=False, due_only=False)
    _pay(household, back, owed, "cash")
    for month in months:
        if date(month[1].year, month[1].month, 1) > back:
            _pay_promptly(household, rng, month, usual, as_of)


def _number_references(households):
    """References like ``WX20260115-000123``, numbered in date order across the estate."""
    everything = sorted(((p.paid_on, index, order, p) for index, household in enumerate(households)
                         for order, p in enumerate(household.payments)), key=lambda item: item[:3])
    for number, (paid_on, _, _, payment) in enumerate(everything, start=1):
        payment.reference = f"{METHOD_PREFIX[payment.method]}{paid_on:%Y%m%d}-{number:06d}"


# -- loading ----------------------------------------------------------------------------

def has_data():
    """True when the database holds any estate."""
    return db.session.execute(select(Estate.id).limit(1)).first() is not None


def load_demo(as_of=None, progress=None):
    """Load the demo estate, its users and two years of bills and payments ending with
    ``as_of`` (default: today in Asia/Shanghai). Returns a summary to print.
    Raises ``ServiceError`` when the demo estate already exists or a demo user name is
    taken by a user of another role."""
    progress = progress or (lambda text: None)
    as_of = as_of or local_today()
    if db.session.execute(select(Estate.id).where(Estate.name == ESTATE)).first():
        raise ServiceError("the demo estate %(estate)s already exists; nothing loaded", estate=ESTATE)
    _ensure_users(progress)
    from .guides import ensure_shipped_guides
    if ensure_shipped_guides(SYSTEM):
        progress("call guides: the shipped texts, version 1")
    _add_commission_scheme(as_of, progress)
    with atomic():
        estate = get_or_create_estate(ESTATE, SYSTEM)
        for name, value in OFFICE_PROFILE.items():
            setattr(estate, name, value)
        append_event("estate_profile_changed", SYSTEM, None,
                     {"estate": estate.name, "changed": {name: {"from": None, "to": value}
                                                         for name, value in OFFICE_PROFILE.items()}})
        items = [get_or_create_fee_item(estate, name, SYSTEM, basis, price, due_day)
                 for name, basis, price, due_day in FEE_ITEMS]
        households = plan_estate(as_of, policy_schedule(estate.id))
        relief_plans = plan_relief(households, as_of, policy_schedule(estate.id))
        units = _write_units(estate, households, progress)
        charges = _write_bills(estate, items, households, units, progress)
        payments = _write_payments(households, units, progress)
        hardships = _write_hardship(households, units)
        waivers = _write_waivers(households, units, as_of, progress)
        plans = _write_plans(relief_plans, units)
        progress("balances …")
        statements = {h.ref: refresh_unit_balances(units[h.ref], as_of) for h in households}
        # Dated evidence events: (day, order within the day, tie-break, writer).
        dated = [(start, 1, status.id, _hardship_event(status, units[ref])) for ref, start, status in hardships]
        dated += [(waiver.approved_on, 2, waiver.id, _waiver_event(waiver, charge, units[ref]))
                  for ref, waiver, charge in waivers]
        for plan_row, planned, periods in plans:
            dated += _plan_events(plan_row, planned, periods, units[planned.household.ref])
        reversed_copy = None
        picked = _pick_duplicate(households, as_of)
        if picked is not None:
            reversed_copy, events = _write_reversal(picked, units, payments, statements)
            dated += events
        dated += _payment_events(estate, units, payments, statements)
        contacts, contact_events = _write_collection_history(households, units, as_of)
        dated += contact_events
        progress(f"evidence: {len(dated)} dated events …")
        for _day, _order, _tie, write in sorted(dated, key=lambda item: item[:3]):
            write()
        report = portfolio_report(as_of, estate.id)
    pending = _relief_after_load(households, units, plans, as_of, progress)
    legal = _legal_hand_off(households, units, plans, as_of, progress)
    return _summary(as_of, households, charges, payments, hardships, waivers, reversed_copy, report, plans, pending,
                    contacts, legal)


def _ensure_users(progress):
    for username, role in USERS:
        existing = db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if existing is None:
            create_user(username, role, DEMO_PASSWORD, actor=SYSTEM)
            progress(f"user {username} ({role}) created, password {DEMO_PASSWORD}")
        elif existing.role != role:
            raise ServiceError("user %(name)s exists as a %(existing)s; the demo needs it to be a %(role)s",
                               name=username, existing=existing.role, role=role)


def _write_units(estate, households, progress):
    units = {}
    for name, *_ in BUILDINGS:
        building = get_or_create_building(estate, name, SYSTEM)
        mine = [h for h in households if h.building == name]
        for household in mine:
            units[household.ref] = add_unit(building, household.number, household.area_centi_m2,
                                            household.owner_name, household.owner_phone, SYSTEM,
                                            owned_from=household.owned_from)
        progress(f"{ESTATE}/{name}: {len(mine)} units")
    return units


def _write_bills(estate, items, households, units, progress):
    by_name = {item.name: item for item in items}
    bills_by_period = {}
    for household in households:
        for bill in household.bills:
            bills_by_period.setdefault(bill.period, []).append((household, bill))
    count = 0
    for period, bills in bills_by_period.items():
        run = BillingRun(estate_id=estate.id, period=period, charges_created=len(bills), created_by=SYSTEM)
        db.session.add(run)
        db.session.flush()
        for household, bill in bills:
            add_charge(units[household.ref], by_name[bill.fee_item], period, bill.amount_fen, bill.due_date,
                       SYSTEM, run)
        append_event("billing_run", SYSTEM, None, {"estate": estate.name, "period": period,
                                                   "charges_created": len(bills)})
        count += len(bills)
        progress(f"billed {period}: {len(bills)} charges")
    return count


def _write_payments(households, units, progress):
    """Payment rows in date order across the estate: ``{reference: (household, payment id)}``.
    Only ids are kept: every ORM object held makes each later bulk delete of the
    projection slower (the session evaluates it against everything it holds)."""
    everything = sorted(((p.paid_on, p.reference[-6:], h, p) for h in households for p in h.payments),
                        key=lambda item: item[:2])
    written = {}
    for _day, _number, household, planned in everything:
        actor, _via = METHOD_POSTING[planned.method]
        payment = add_payment(units[household.ref], planned.amount_fen, planned.paid_on, planned.method,
                              planned.reference, actor, planned.periods)
        written[planned.reference] = (household, payment.id)
    progress(f"{len(written)} payments")
    return written


def _write_hardship(households, units):
    written = []
    for household in households:
        if household.hardship:
            start, end, reason = household.hardship
            status = HardshipStatus(unit_id=units[household.ref].id, start_on=start, end_on=end,
                                    reason_encrypted=encrypt_text(reason), requested_by=REQUESTER,
                                    approved_by=APPROVER)
            db.session.add(status)
            written.append((household.ref, start, status))
    db.session.flush()
    return written


def _write_waivers(households, units, as_of, progress):
    """Two households that pay late but not the late fee: a manager waives the late fee
    they owe on the approval day (reason ``non_malicious``) on their six oldest charges
    that carry one, all of it for one household, half of it for the other.
    ``[(ref, Waiver, Charge)]``."""
    db.session.flush()
    rng = random.Random(f"{SEED}:waivers")
    written = []
    households_waived = 0
    for household in households:
        if households_waived == 2:
            break
        if household.behaviour != "late" or household.pays_late_fee:
            continue
        unit = units[household.ref]
        approved_on = as_of - timedelta(days=rng.randint(20, 90))
        statement = UnitHistory(unit, approved_on).statement()
        owing = [line for line in statement.charges if line.late_fee_outstanding_fen > 0]
        if len(owing) < 2:
            continue
        share = 2 if households_waived else 1
        charges = {c.id: c for c in db.session.execute(select(Charge).where(Charge.unit_id == unit.id)).scalars()}
        for line in owing[:6]:
            amount = line.late_fee_outstanding_fen // share
            if amount <= 0:
                continue
            waiver = Waiver(charge_id=line.charge.id, kind="late_fee", amount_fen=amount,
                            reason="non_malicious", requested_by=REQUESTER, approved_by=APPROVER,
                            approved_on=approved_on)
            db.session.add(waiver)
            written.append((household.ref, waiver, charges[line.charge.id]))
        households_waived += 1
    db.session.flush()
    progress(f"{len(written)} late-fee waivers for {households_waived} households")
    return written


# -- relief: payment plans and requests awaiting a decision (issue 5) -----------------------

@dataclass
class PlannedPlan:
    """A payment plan of the demo: ``active`` (instalments paid so far) or ``broken`` (the
    second instalment never paid)."""

    kind: str
    household: Household
    drawn_on: date
    approved_on: date
    periods: tuple
    covered_fen: int
    instalments: list  # (due_on, amount_fen)


def _add_months(day, months):
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = (date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month + 1, min(day.day, last))


def plan_relief(households, as_of, schedule):
    """Two refusers agree a plan over the principal they owe: one approved 40 days ago and
    kept so far (active), one approved 75 days ago whose second instalment was never paid
    (broken). Their instalment payments join the households' payments (the references are
    numbered again). ``[PlannedPlan]``, empty when the estate has too few refusers."""
    chosen = [h for h in households if h.behaviour == "refuser" and not h.hardship and not h.dispute][:2]
    if len(chosen) < 2:
        return []
    found = []
    for kind, household, days_ago, count in (("active", chosen[0], 40, 6), ("broken", chosen[1], 75, 4)):
        approved_on = as_of - timedelta(days=days_ago)
        drawn_on = approved_on - timedelta(days=3)
        payments = [engine.Payment(i, p.amount_fen, p.paid_on, p.periods) for i, p in enumerate(household.payments)]
        statement = engine.compute_statement(household.bills, payments, as_of=drawn_on, policies=schedule)
        owing = [line for line in statement.charges if line.principal_outstanding_fen > 0]
        covered = sum(line.principal_outstanding_fen for line in owing)
        if not owing or covered < count * 100:
            return []
        part = covered // count
        first = approved_on + timedelta(days=7 if kind == "broken" else 10)
        instalments = [(_add_months(first, n), part if n < count - 1 else covered - part * (count - 1))
                       for n in range(count)]
        for number, (due_on, amount) in enumerate(instalments, 1):
            paid_on = due_on - timedelta(days=2)
            if paid_on <= as_of and (kind == "active" or number == 1):
                _pay(household, paid_on, amount, "wechat")
        household.payments.sort(key=lambda p: p.paid_on)
        found.append(PlannedPlan(kind, household, drawn_on, approved_on,
                                 tuple(dict.fromkeys(line.charge.period for line in owing)), covered, instalments))
    _number_references(households)
    return found


def _write_plans(planned_plans, units):
    """The plans as drawn up by the clerk and approved by the manager on their days:
    ``[(PaymentPlan, PlannedPlan, periods)]``. Written as rows (the relief service dates
    a decision today; these were decided weeks before the as-of day)."""
    written = []
    for planned in planned_plans:
        unit = units[planned.household.ref]
        plan = PaymentPlan(unit_id=unit.id, include_late_fee=False, covered_fen=planned.covered_fen,
                           drawn_on=planned.drawn_on, note="业主申请分期缴清欠费", requested_by=REQUESTER)
        db.session.add(plan)
        db.session.flush()
        charges = db.session.execute(select(Charge).where(Charge.unit_id == unit.id,
                                                          Charge.period.in_(planned.periods))
                                     .order_by(Charge.due_date, Charge.id)).scalars().all()
        db.session.add_all(PlanCharge(plan_id=plan.id, charge_id=c.id) for c in charges)
        db.session.add_all(PlanInstalment(plan_id=plan.id, number=n, due_on=due_on, amount_fen=amount)
                           for n, (due_on, amount) in enumerate(planned.instalments, 1))
        db.session.add(Decision(subject="plan", request_id=plan.id, outcome="approved", note=None,
                                decided_on=planned.approved_on, decided_by=APPROVER))
        written.append((plan, planned, tuple(c.period for c in charges)))
    db.session.flush()
    return written


def _plan_events(plan, planned, periods, unit):
    """The dated ``plan_requested`` and ``plan_approved`` writers, as the relief service words them."""
    def requested():
        append_event("plan_requested", REQUESTER, unit.ref, {
            "plan_id": plan.id, "periods": list(periods), "covered": format_fen(plan.covered_fen),
            "include_late_fee": False, "instalments": [{"due_on": due_on.isoformat(), "amount": format_fen(amount)}
                                                       for due_on, amount in planned.instalments]})

    def approved():
        append_event("plan_approved", APPROVER, unit.ref, {
            "request_id": plan.id, "outcome": "approved", "note": None, "plan_id": plan.id,
            "covered": format_fen(plan.covered_fen), "approved_on": planned.approved_on.isoformat(),
            "periods": list(periods)})
    return [(planned.drawn_on, 1, plan.id, requested), (planned.approved_on, 2, plan.id, approved)]


def _demo_document():
    """A one-page PDF standing in for the scan of a supporting paper."""
    text = b"BT /F1 14 Tf 72 760 Td (Demo: supporting document for a hardship request) Tj ET"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _relief_after_load(households, units, plans, as_of, progress):
    """After the load (each in its own transaction, as the office would do them): the
    broken plan's break recorded, as the worker records it, and a clerk's hardship request
    and waiver request left for a manager to decide. Returns what awaits a decision."""
    from .relief import record_plan_breaks, request_hardship, request_waiver
    for _plan, planned, _periods in plans:
        unit = units[planned.household.ref]
        if record_plan_breaks(unit, today=as_of):
            with atomic():
                refresh_unit_balances(unit, as_of)  # the break is recorded as of the demo's day
    in_plans = {planned.household.ref for _plan, planned, _periods in plans}
    pending = []
    candidate = next((h for h in households if h.behaviour == "refuser" and h.ref not in in_plans
                      and not h.hardship), None)
    if candidate is not None:
        try:
            request_hardship(units[candidate.ref], as_of, as_of + timedelta(days=179), HARDSHIP_REASONS[0], REQUESTER,
                             document=("低保证明.pdf", _demo_document()))
            pending.append(f"hardship {candidate.ref}")
        except ServiceError as error:
            progress(f"no hardship request: {error}")
    for household in households:
        if household.ref in in_plans or household.behaviour != "late" or household.pays_late_fee:
            continue
        unit = units[household.ref]
        owing = [line for line in UnitHistory(unit, as_of).statement().charges if line.late_fee_outstanding_fen > 0
                 and not db.session.execute(select(Waiver.id).where(Waiver.charge_id == line.charge.id)).first()]
        if not owing:
            continue
        try:
            request_waiver(owing[0].charge.id, "late_fee", None, "non_malicious", REQUESTER,
                           note="业主因出差逾期，非恶意欠费，申请减免滞纳金")
            pending.append(f"waiver {household.ref}")
            break
        except ServiceError as error:
            progress(f"no waiver request for {household.ref}: {error}")
    return pending


LEGAL_REASON = "多次催告拒不缴纳，长期欠费，移交律师处理"


def _legal_hand_off(households, units, plans, as_of, progress):
    """After the load, as the office would do it today: a reminder handed to a late payer's
    owner, and the refuser owing most sent a demand by registered mail (refused at the
    registered address), escalated to legal and assigned to the demo lawyer, who then has
    a case and a bundle to look at. Returns ``(legal unit ref or None, notice serials)``."""
    from .cases import record_step
    from .collection import escalate
    from .notices import DeliveryInput, issue_notice, record_delivery
    today = local_today()
    excluded = {planned.household.ref for _plan, planned, _periods in plans}
    excluded |= {h.ref for h in households if h.hardship or h.dispute}
    owing = {h.ref: UnitHistory(units[h.ref], as_of).statement().total_outstanding_fen for h in households
             if h.ref not in excluded and h.behaviour in ("late", "refuser")}
    refusers = sorted((h for h in households if h.behaviour == "refuser" and owing.get(h.ref)),
                      key=lambda h: (-owing[h.ref], h.ref))
    late = sorted((h for h in households if h.behaviour == "late" and owing.get(h.ref)), key=lambda h: h.ref)
    serials, legal = [], None
    if late:
        reminder = issue_notice(units[late[0].ref], "reminder", as_of, REQUESTER)
        record_delivery(reminder.serial, DeliveryInput(method="hand_signed", outcome="delivered", attempted_on=today,
                                                       signer=late[0].owner_name, relation="owner"), REQUESTER)
        serials.append(reminder.serial)
    if refusers:
        legal = refusers[0].ref
        unit = units[legal]
        demand = issue_notice(unit, "demand", as_of, REQUESTER)
        record_delivery(demand.serial, DeliveryInput(method="registered_mail", outcome="refused", attempted_on=today,
                                                     tracking_no="EMS1126000001CN", at_registered_address=True,
                                                     note="业主拒收，邮局退回"), REQUESTER)
        serials.append(demand.serial)
        escalate(unit, stage="legal", reason=LEGAL_REASON, actor=APPROVER)
        record_step(unit, "lawyer_assigned", today, APPROVER, lawyer="lawyer")
    progress(f"legal hand-off: {legal or 'nobody'}; notices {', '.join(serials) or 'none'}")
    return legal, serials


def _pick_duplicate(households, as_of):
    """A prompt WeChat payer whose payment of some months ago was entered twice:
    ``(household, the original PlannedPayment)``, or None."""
    for household in households:
        if household.behaviour != "prompt" or len(household.payments) < 6:
            continue
        original = household.payments[-4]
        if original.method == "wechat" and original.paid_on + timedelta(days=3) <= as_of:
            return household, original
    return None


def _write_reversal(picked, units, payments, statements):
    """The duplicate entry and its reversal three days later. Returns the copy and the
    dated events. The copy and the unit's payments up to the reversal carry the
    allocation they had while the copy stood (a statement before the reversal); later
    ones the allocation after it, as ``post_payment`` would have recorded them."""
    household, original = picked
    unit = units[household.ref]
    as_of = statements[household.ref].as_of
    actor, _via = METHOD_POSTING[original.method]
    reference = original.reference.replace("-", "-R")
    copy = add_payment(unit, original.amount_fen, original.paid_on, original.method, reference, actor)
    payments[reference] = (household, copy.id)
    while_it_stood = refresh_unit_balances(unit, as_of)
    reversed_on = original.paid_on + timedelta(days=3)
    reason = f"重复登记：与 {original.reference} 为同一笔微信付款，已核对微信商户流水"
    reversal = Reversal(payment_id=copy.id, reason=reason, reversed_on=reversed_on, created_by=APPROVER)
    db.session.add(reversal)
    db.session.flush()
    statements[household.ref] = refresh_unit_balances(unit, as_of)
    for planned in household.payments:
        if planned.paid_on <= reversed_on:
            statements[planned.reference] = while_it_stood
    statements[reference] = while_it_stood

    def write():
        append_event("payment_reversed", APPROVER, unit.ref, {
            "payment_id": copy.id, "reference": copy.reference, "amount": format_fen(copy.amount_fen),
            "reason": reason, "reversed_on": reversed_on.isoformat()})
    return copy, [(reversed_on, 3, reversal.id, write)]


def _payment_events(estate, units, payments, statements):
    """One dated ``payment_posted`` writer per payment, from its unit's statement (or the
    one ``statements`` holds for that very reference)."""
    rows = {p.id: p for p in db.session.execute(select(Payment).where(Payment.estate_id == estate.id)).scalars()}
    dated = []
    for reference, (household, payment_id) in payments.items():
        payment = rows[payment_id]
        statement = statements.get(reference, statements[household.ref])
        actor, via = METHOD_POSTING[payment.method]

        def write(payment=payment, unit=units[household.ref], actor=actor, statement=statement, via=via):
            record_payment_event(payment, unit, actor, statement, via)
        dated.append((payment.paid_on, 0, payment.id, write))
    return dated


# -- the collection history: calls before late payments, refusers called monthly --------------

# The office's commission scheme since the collection history begins: each band of a
# clerk's monthly recovered total at its own rate, and 200.00 for every 10,000.00.
DEMO_COMMISSION = {"tiers": [{"up_to": "10000.00", "rate": "0.03"}, {"up_to": "30000.00", "rate": "0.04"},
                             {"up_to": None, "rate": "0.05"}],
                   "bonus": {"every": "10000.00", "amount": "200.00"}}


def _add_commission_scheme(as_of, progress):
    """The scheme, as the admin recorded it when the history began (so the whole history
    is computed under it)."""
    from .commission import add_scheme, scheme_history
    if scheme_history():
        return
    start = _add_months(as_of.replace(day=1), -HISTORY_MONTHS)
    add_scheme("tiered_marginal", DEMO_COMMISSION, start, "admin", note="示例：超额累进 3%/4%/5%，每满 1 万元奖励 200 元",
               today=start)
    progress(f"commission scheme from {start:%Y-%m}: 3% / 4% / 5% by band, 200.00 per 10,000.00")

HISTORY_MONTHS = 8
CLERKS = ("clerk", "clerk2")
# The hours a household is most often home; each keeps one, and answers more at it.
HOME_HOURS = (9, 10, 12, 13, 18, 19, 19, 20)
ANSWERED_OUTCOMES = ("业主表示近期缴纳", "业主称出差在外，回来后缴纳", "业主表示本周内通过微信缴纳", "已告知欠费金额及缴费方式")
REFUSER_OUTCOMES = ("业主表示对服务不满，暂不缴纳", "业主拒绝缴纳，已告知可申请调解", "业主称需与家人商量")


def _contact_times(rng, home_hour, first, last):
    """A phone call on a day between ``first`` and ``last``: at the household's home hour
    (mostly), else at another office hour; ``(local datetime, answered)``."""
    from datetime import datetime
    day = first + timedelta(days=rng.randint(0, max((last - first).days, 0)))
    at_home = rng.random() < 0.7
    hour = home_hour if at_home else rng.choice([h for h in range(9, 21) if h != home_hour])
    answered = rng.random() < (0.75 if at_home else 0.3)
    return datetime(day.year, day.month, day.day, hour, rng.randrange(0, 60, 5)), answered


def _write_collection_history(households, units, as_of):
    """Contacts and promises of the last ``HISTORY_MONTHS`` months, within the contact
    policy: late and partial payers were called a few days before they paid (so recovery
    is credited to a clerk), refusers once a month (reasons given, promises broken).
    Returns ``((contacts, promises), dated event writers)``."""
    from datetime import timezone
    from zoneinfo import ZoneInfo
    from ..models import Contact, Promise
    utc = timezone.utc
    rng = random.Random(f"{SEED}:contacts")
    zone = ZoneInfo("Asia/Shanghai")
    start = as_of - timedelta(days=30 * HISTORY_MONTHS)
    planned = []  # (household, local datetime, answered, clerk, reason, outcome, promise (fen, date) or None)
    for household in households:
        if household.behaviour not in ("late", "partial", "refuser"):
            continue
        home_hour = rng.choice(HOME_HOURS)
        clerk = rng.choice(CLERKS)
        calls = []
        if household.behaviour == "refuser":
            month = start
            while month < as_of - timedelta(days=3):
                moment, answered = _contact_times(rng, home_hour, month, min(month + timedelta(days=20),
                                                                              as_of - timedelta(days=2)))
                reason = rng.choice(("refuses", "service_dispute")) if answered else None
                promise = None
                if answered and rng.random() < 0.3:
                    promise = (rng.choice((50000, 100000, 200000)), moment.date() + timedelta(days=rng.randint(5, 14)))
                calls.append((moment, answered, reason, rng.choice(REFUSER_OUTCOMES) if answered else "无人接听",
                              promise))
                month += timedelta(days=30)
        else:
            for payment in household.payments:
                if not start <= payment.paid_on < as_of or rng.random() < 0.25:
                    continue
                for attempt in range(rng.choice((1, 1, 2))):
                    moment, answered = _contact_times(rng, home_hour, payment.paid_on - timedelta(days=12),
                                                      payment.paid_on - timedelta(days=2))
                    promise = None
                    if answered and rng.random() < 0.4:
                        promise = (payment.amount_fen, min(payment.paid_on + timedelta(days=rng.choice((-1, 0, 2))),
                                                          moment.date() + timedelta(days=30)))
                    calls.append((moment, answered, "away" if answered and rng.random() < 0.3 else None,
                                  rng.choice(ANSWERED_OUTCOMES) if answered else "无人接听", promise))
        calls.sort(key=lambda call: call[0])
        kept = []
        for call in calls:  # the policy: at most 3 attempts in any 7 days (quiet hours: never planned)
            if len([k for k in kept if call[0] - k[0] < timedelta(days=7)]) < 3:
                kept.append(call)
        planned += [(household, clerk if rng.random() < 0.85 else rng.choice(CLERKS)) + call for call in kept]
    dated = []
    promises = 0
    for household, clerk, moment, answered, reason, outcome, promise in planned:
        unit = units[household.ref]
        contacted_at = moment.replace(tzinfo=zone)
        contact = Contact(unit_id=unit.id, channel="phone", contacted_at=contacted_at.astimezone(utc), staff=clerk,
                          reached="owner" if answered else "nobody", outcome=outcome, reason=reason)
        db.session.add(contact)
        db.session.flush()
        dated.append((moment.date(), -2, contact.id, _contact_event(contact, unit, contacted_at)))
        if promise is not None and promise[1] >= moment.date():
            row = Promise(unit_id=unit.id, contact_id=contact.id, amount_fen=promise[0], made_on=moment.date(),
                          promised_on=promise[1], created_by=clerk)
            db.session.add(row)
            db.session.flush()
            promises += 1
            dated.append((moment.date(), -1, row.id, _promise_event(row, unit)))
    return (len(planned), promises), dated


def _contact_event(contact, unit, contacted_at):
    from datetime import timezone

    def write():
        append_event("contact_logged", contact.staff, unit.ref, {
            "contact_id": contact.id, "channel": contact.channel,
            "contacted_at": contacted_at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
            "reached": contact.reached, "outcome": contact.outcome, "reason": contact.reason, "notes": None,
            "policy_breach": False, "breaches": [], "justification": None})
    return write


def _promise_event(promise, unit):
    def write():
        append_event("promise_recorded", promise.created_by, unit.ref, {
            "promise_id": promise.id, "amount": format_fen(promise.amount_fen), "made_on": promise.made_on.isoformat(),
            "promised_on": promise.promised_on.isoformat(), "contact_id": promise.contact_id})
    return write


def _hardship_event(status, unit):
    def write():
        append_event("hardship_approved", APPROVER, unit.ref, {
            "hardship_id": status.id, "start": status.start_on.isoformat(), "end": status.end_on.isoformat(),
            "requested_by": status.requested_by, "approved_by": status.approved_by, "via": "office"})
    return write


def _waiver_event(waiver, charge, unit):
    def write():
        append_event("waiver_approved", APPROVER, unit.ref, {
            "waiver_id": waiver.id, "period": charge.period, "kind": waiver.kind,
            "amount": format_fen(waiver.amount_fen), "reason": waiver.reason, "requested_by": waiver.requested_by,
            "approved_by": waiver.approved_by, "approved_on": waiver.approved_on.isoformat(), "via": "office"})
    return write


def _summary(as_of, households, charges, payments, hardships, waivers, reversed_copy, report, plans=(),
             pending=(), contacts=(0, 0), legal=(None, ())):
    counts = {}
    for household in households:
        counts[household.behaviour] = counts.get(household.behaviour, 0) + 1
    kinds = ", ".join(f"{name} {counts.get(name, 0)}" for name in
                      ("prompt", "late", "partial", "refuser", "hardship", "prepayer"))
    periods = demo_periods(as_of)
    standing = [p for h in households for p in h.payments]
    return "\n".join([
        f"demo loaded: {ESTATE}, {len(BUILDINGS)} buildings, {len(households)} units ({kinds})",
        f"  {charges} charges for {periods[0]} … {periods[-1]}; {len(payments)} payments "
        f"({1 if reversed_copy else 0} reversed), standing ones totalling "
        f"{format_fen(sum(p.amount_fen for p in standing))}",
        f"  {len(hardships)} hardship statuses, {len(waivers)} late-fee waivers "
        f"({len({ref for ref, _, _ in waivers})} households)",
        f"  payment plans: {', '.join(f'{planned.kind} {planned.household.ref}' for _, planned, _ in plans) or 'none'}; "
        f"awaiting a decision: {', '.join(pending) or 'nothing'}",
        f"  as of {as_of}: {report['units_owing']} of {report['units']} units owe "
        f"principal {format_fen(report['principal_outstanding_fen'])}, "
        f"late fee {format_fen(report['late_fee_outstanding_fen'])}",
        f"  collection history: {contacts[0]} contacts by clerk and clerk2, {contacts[1]} promises to pay",
        f"  notices: {', '.join(legal[1]) or 'none'}; escalated to legal and assigned to lawyer: {legal[0] or 'nobody'}",
        f"  users: {', '.join(name for name, _ in USERS)} (password {DEMO_PASSWORD})",
    ])
