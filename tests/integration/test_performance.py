"""Staff performance and commission statements (arrears/services/performance.py), worked by
hand on five households of the shared examples, the clock frozen at 2026-06-20 12:00 in
Shanghai, the month 2026-05 and the default window of 30 days.

Each household owes one charge of 300.00 due 2026-04-30 (late fee 0.30 a day from 05-01).

    unit  contacts (local time, who)                 payments in May         credited to
    0101  05-02 10:00 clerk, 05-05 09:00 clerk2      05-06 310.00            clerk2 (the later)
    0102  04-01 10:00 clerk                          05-10 100.00            nobody (39 days)
    0103  05-04 10:00 clerk                          05-03 100.00            nobody (before)
    0104  05-01 00:30 clerk (quiet hours: breach)    05-08 200.00 reversed   nothing
                                                     05-09 100.00            clerk
    0105  05-12 10:00 clerk and clerk2, same moment  05-12 50.00             the lower contact id

0101's 310.00 on 05-06 pays the 300.00 and the 1.80 of late fee (6 days × 0.30): the
household is cleared, by clerk2. 0104's 100.00 leaves principal owing: not cleared.
"""
import os
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from arrears.extensions import db
from arrears.models import Contact, Unit
from arrears.services.collection import log_contact, record_promise
from arrears.services.commission import add_scheme
from arrears.services.performance import (InvalidMonth, UnknownStaff, check_staff, commission_statement,
                                          credited_payments, month_performance, parse_month,
                                          recovered_by_month)
from arrears.services.postings import post_payment, reverse_payment

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 20, 12, 0, tzinfo=SHANGHAI)
TODAY = date(2026, 6, 20)
MAY = date(2026, 5, 1)
TIERS = {"tiers": [{"up_to": "100000.00", "rate": "0.04"}, {"up_to": "200000.00", "rate": "0.05"},
                   {"up_to": None, "rate": "0.06"}]}


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def units(clock, cli, examples_dir, write_csv):
    assert cli("import", "units", os.path.join(examples_dir, "units.csv")).exit_code == 0
    charges = "estate,building,unit,period,fee_item,amount,due_date\n" + "".join(
        f"示例花园,1栋,{n},2026-04,物业管理费,300.00,2026-04-30\n" for n in ("0101", "0102", "0103", "0104", "0105"))
    result = cli("import", "charges", write_csv("charges.csv", charges))
    assert result.exit_code == 0, result.output
    return {u.number: u for u in db.session.execute(select(Unit)).scalars()}


def contact(unit, when, staff, **kwargs):
    arguments = {"channel": "phone", "contacted_at": when, "reached": "owner", "outcome": "answered",
                 "actor": staff}
    arguments.update(kwargs)
    return log_contact(unit, **arguments)


def pay(unit, yuan, day, reference):
    return post_payment(unit, int(round(yuan * 100)), day, "wechat", reference, "clerk")


def at(month, day, hour, minute=0):
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def may(units):
    u = units
    contact(u["0101"], at(5, 2, 10), "clerk")
    contact(u["0101"], at(5, 5, 9), "clerk2")
    pay(u["0101"], 310.00, date(2026, 5, 6), "P0101")
    contact(u["0102"], at(4, 1, 10), "clerk")
    pay(u["0102"], 100.00, date(2026, 5, 10), "P0102")
    pay(u["0103"], 100.00, date(2026, 5, 3), "P0103")
    contact(u["0103"], at(5, 4, 10), "clerk")
    contact(u["0104"], at(5, 1, 0, 30), "clerk", justification="the owner asked to be called after work")
    bounced = pay(u["0104"], 200.00, date(2026, 5, 8), "P0104A")
    reverse_payment(bounced.id, "退票", "manager", reversed_on=date(2026, 5, 20))
    pay(u["0104"], 100.00, date(2026, 5, 9), "P0104B")
    contact(u["0105"], at(5, 12, 10), "clerk2")
    contact(u["0105"], at(5, 12, 10), "clerk")
    pay(u["0105"], 50.00, date(2026, 5, 12), "P0105")
    return u


def credit_of(credits, reference):
    [found] = [c for c in credits if c.reference == reference]
    return found


def test_payments_are_credited_by_the_rule(may):
    credits = credited_payments(MAY, date(2026, 5, 31))
    assert [c.reference for c in credits] == ["P0103", "P0101", "P0104B", "P0102", "P0105"]
    assert credit_of(credits, "P0101").staff == "clerk2"  # the later of two clerks' contacts, credited once
    assert credit_of(credits, "P0102").staff is None  # the contact was 39 days before: outside the window
    assert credit_of(credits, "P0103").staff is None  # before any contact
    assert credit_of(credits, "P0104B").staff == "clerk"
    same_moment = db.session.execute(select(Contact.id, Contact.staff).where(Contact.unit_id == may["0105"].id)
                                     .order_by(Contact.id)).all()
    assert credit_of(credits, "P0105").contact_id == same_moment[0].id
    assert credit_of(credits, "P0105").staff == same_moment[0].staff == "clerk2"


def test_the_window_is_counted_in_local_days(units):
    u = units
    contact(u["0102"], at(4, 10, 7, 30), "clerk", justification="owner asked")  # local 04-10, UTC 04-09 23:30
    pay(u["0102"], 10.00, date(2026, 5, 10), "EDGE30")  # 30 local days later: in
    contact(u["0103"], at(4, 9, 23, 30), "clerk", justification="owner asked")  # local 04-09, UTC 04-09 15:30
    pay(u["0103"], 10.00, date(2026, 5, 10), "EDGE31")  # 31 days later: out
    contact(u["0104"], at(5, 11, 7, 0), "clerk2", justification="owner asked")  # local 05-11, UTC 05-10 23:00
    pay(u["0104"], 10.00, date(2026, 5, 10), "AFTER")  # the contact came the day after: nobody's
    credits = credited_payments(MAY, date(2026, 5, 31))
    assert credit_of(credits, "EDGE30").staff == "clerk"
    assert credit_of(credits, "EDGE31").staff is None
    assert credit_of(credits, "AFTER").staff is None
    assert credit_of(credited_payments(MAY, date(2026, 5, 31), window_days=31), "EDGE31").staff == "clerk"
    assert credit_of(credited_payments(MAY, date(2026, 5, 31), window_days=0), "EDGE30").staff is None


def test_a_contact_on_the_payment_day_counts_whatever_the_hour(units):
    contact(units["0101"], at(5, 6, 20), "clerk2", reached="nobody", outcome="no answer")
    pay(units["0101"], 5.00, date(2026, 5, 6), "SAMEDAY")
    assert credit_of(credited_payments(MAY, date(2026, 5, 31)), "SAMEDAY").staff == "clerk2"


def test_the_month_figures(may):
    record_promise(may["0104"], amount_fen=10000, promised_on=date(2026, 5, 20), made_on=date(2026, 5, 2),
                   actor="clerk")  # kept by the 100.00 of 05-09
    record_promise(may["0103"], amount_fen=20000, promised_on=date(2026, 5, 15), made_on=date(2026, 5, 4),
                   actor="clerk")  # broken: nothing paid from 05-04 to 05-15
    record_promise(may["0103"], amount_fen=10000, promised_on=date(2026, 7, 10), made_on=date(2026, 6, 19),
                   actor="clerk2")  # June: not May's
    figures = month_performance(MAY, TODAY)
    rows = {row.staff: row for row in figures.staff}
    assert list(rows) == ["clerk2", "clerk"]  # most recovered first
    clerk, clerk2 = rows["clerk"], rows["clerk2"]
    # Contacts by local date: clerk 05-02, 05-04, 05-01 00:30 (UTC 04-30), 05-12; clerk2 05-05, 05-12.
    assert (clerk.contacts, clerk.breaches) == (4, 1)
    assert (clerk2.contacts, clerk2.breaches) == (2, 0)
    assert (clerk.promises, clerk.promises_kept, clerk.promises_broken) == (2, 1, 1)
    assert (clerk2.promises, clerk2.promises_kept) == (0, 0)
    assert (clerk.payments, clerk.recovered_fen) == (1, 10000)
    assert (clerk2.payments, clerk2.recovered_fen) == (2, 36000)
    assert (figures.unattributed.payments, figures.unattributed.recovered_fen) == (2, 20000)
    assert figures.recovered_fen == 66000  # every payment of May but the reversed one
    assert (clerk.households_cleared, clerk2.households_cleared) == (0, 1)
    assert clerk.commission_fen is None and figures.scheme is None


def test_a_clerk_sees_only_their_own_row(may):
    figures = month_performance(MAY, TODAY, only="clerk")
    assert [row.staff for row in figures.staff] == ["clerk"]
    assert figures.unattributed.payments == 0
    assert [c.reference for c in figures.credits] == ["P0104B"]
    assert [row.staff for row in month_performance(MAY, TODAY, only="nobody-here").staff] == ["nobody-here"]


def test_reversed_payments_count_nowhere(units):
    contact(units["0101"], at(5, 2, 10), "clerk")
    payment = pay(units["0101"], 300.00, date(2026, 5, 6), "GONE")
    reverse_payment(payment.id, "退票", "manager", reversed_on=date(2026, 6, 2))  # reversed in June
    figures = month_performance(MAY, TODAY)
    assert [(row.staff, row.payments, row.recovered_fen) for row in figures.staff] == [("clerk", 0, 0)]
    assert figures.unattributed.recovered_fen == 0 and figures.credits == []


def test_recovered_by_month(may):
    pay(may["0105"], 20.00, date(2026, 6, 1), "JUNE")  # 05-12 contacts are 20 days before: clerk2's
    history = dict(recovered_by_month(date(2026, 6, 1), TODAY))
    assert list(history)[0] == date(2025, 7, 1) and len(history) == 12
    assert history[date(2026, 5, 1)] == {"clerk2": 36000, None: 20000, "clerk": 10000}
    assert history[date(2026, 6, 1)] == {"clerk2": 2000}
    assert dict(recovered_by_month(date(2026, 6, 1), TODAY, only="clerk"))[date(2026, 5, 1)] == {"clerk": 10000}


def test_statement_under_a_tiered_scheme(units):
    add_scheme("tiered_marginal", TIERS, date(2026, 1, 1), "admin", today=date(2026, 1, 1))
    contact(units["0105"], at(5, 2, 10), "clerk")
    pay(units["0105"], 150000.00, date(2026, 5, 3), "BIG1")
    pay(units["0105"], 100000.00, date(2026, 5, 20), "BIG2")
    statement = commission_statement("clerk", MAY, TODAY)
    # 250,000.00: 100,000 × 4% + 100,000 × 5% + 50,000 × 6% = 4,000 + 5,000 + 3,000.
    assert statement.figures.recovered_fen == 25_000_000
    assert [(line.base_fen, line.amount_fen) for line in statement.working.lines] == [
        (10_000_000, 400_000), (10_000_000, 500_000), (5_000_000, 300_000)]
    assert statement.working.total_fen == 1_200_000
    assert statement.figures.commission_fen == 1_200_000
    assert [c.reference for c in statement.credits] == ["BIG1", "BIG2"]
    assert statement.unit_refs[units["0105"].id] == "示例花园/1栋/0105"
    assert statement.scheme_row.kind == "tiered_marginal"


def test_statement_on_a_tier_boundary_and_with_a_bonus(units):
    add_scheme("tiered_whole", {**TIERS, "bonus": {"every": "50000.00", "amount": "500.00"}}, date(2026, 5, 1),
               "admin", today=date(2026, 5, 1))
    contact(units["0105"], at(5, 2, 10), "clerk")
    pay(units["0105"], 100000.00, date(2026, 5, 3), "EDGE")
    working = commission_statement("clerk", MAY, TODAY).working
    # Exactly 100,000.00 is inside the first tier: the whole at 4% = 4,000.00; 2 steps × 500.00.
    assert [(line.kind, line.amount_fen) for line in working.lines] == [("tier", 400_000), ("bonus", 100_000)]
    assert working.total_fen == 500_000


def test_statement_without_a_scheme(may):
    add_scheme("fixed", {"rate": "0.04"}, date(2026, 6, 1), "admin")  # from June: not in force for May
    statement = commission_statement("clerk2", MAY, TODAY)
    assert statement.working is None and statement.scheme_row is None
    assert statement.figures.recovered_fen == 36000
    assert [c.reference for c in statement.credits] == ["P0101", "P0105"]


def test_unknown_staff_and_bad_months(may):
    with pytest.raises(UnknownStaff):
        commission_statement("ghost", MAY, TODAY)
    assert check_staff(" clerk2 ") == "clerk2"
    for text in ("2026-13", "2026-5", "May", "", None, "2026-05-01"):
        with pytest.raises(InvalidMonth) as refused:
            parse_month(text, TODAY)
        assert refused.value.code == "format"
    with pytest.raises(InvalidMonth) as refused:
        parse_month("2026-07", TODAY)
    assert refused.value.code == "future"
    assert parse_month(" 2026-06 ", TODAY) == date(2026, 6, 1)
