"""Commission schemes (提成): worked examples computed by hand, every refusal with its
message, and properties that hold for any scheme and amount. No app needed."""
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.domain.commission import (Bonus, Line, Scheme, SchemeError, Tier, Working, commission, describe,
                                       parse_scheme, scheme_definition)

ISSUE_TIERS = {"tiers": [{"up_to": "100000.00", "rate": "0.04"}, {"up_to": "200000.00", "rate": "0.05"},
                         {"up_to": None, "rate": "0.06"}]}
MARGINAL = parse_scheme("tiered_marginal", ISSUE_TIERS)
WHOLE = parse_scheme("tiered_whole", ISSUE_TIERS)
T1 = (0, 10_000_000, Decimal("0.04"))          # 0 – 100,000.00 at 4%
T2 = (10_000_000, 20_000_000, Decimal("0.05"))  # 100,000.00 – 200,000.00 at 5%
T3 = (20_000_000, None, Decimal("0.06"))        # above 200,000.00 at 6%


def tier_line(band, base_fen, amount_fen):
    lower, upper, rate = band
    return Line("tier", lower, upper, base_fen, rate, None, amount_fen)


# -- parsing -------------------------------------------------------------------------------

def test_the_issue_example_parses_to_three_tiers():
    assert MARGINAL == Scheme("tiered_marginal", None, (Tier(10_000_000, Decimal("0.04")),
                                                        Tier(20_000_000, Decimal("0.05")),
                                                        Tier(None, Decimal("0.06"))), None)


def test_json_text_and_dict_give_the_same_scheme():
    text = ('{"tiers": [{"up_to": "100000.00", "rate": "0.04"}, {"up_to": "200000.00", "rate": "0.05"},'
            ' {"up_to": null, "rate": "0.06"}]}')
    assert parse_scheme("tiered_marginal", text) == MARGINAL


def test_the_stored_definition_is_normalised():
    scheme = parse_scheme("fixed", {"rate": "0.0400", "bonus": {"every": "50000", "amount": "500.5"}})
    assert scheme == Scheme("fixed", Decimal("0.04"), (), Bonus(5_000_000, 50_050))
    assert scheme_definition(scheme) == {"rate": "0.04", "bonus": {"every": "50000.00", "amount": "500.50"}}
    assert scheme_definition(MARGINAL) == ISSUE_TIERS
    assert scheme_definition(parse_scheme("fixed", {"rate": "1"})) == {"rate": "1"}
    assert scheme_definition(parse_scheme("fixed", {"rate": "0.000"})) == {"rate": "0"}


def test_a_bonus_of_nothing_and_a_null_bonus_are_allowed():
    assert parse_scheme("fixed", {"rate": "0.04", "bonus": None}).bonus is None
    assert parse_scheme("fixed", {"rate": "0.04", "bonus": {"every": "100.00", "amount": "0"}}).bonus == Bonus(
        10_000, 0)


def tiers(*pairs):
    return {"tiers": [{"up_to": up_to, "rate": rate} for up_to, rate in pairs]}


BAD_DEFINITIONS = [
    # (kind, definition, code, message)
    ("flat", {"rate": "0.04"}, "unknown_kind", "kind 'flat' must be one of fixed, tiered_marginal, tiered_whole"),
    ("fixed", "{rate: 0.04}", "not_json", "definition is not valid JSON: Expecting property name enclosed in "
                                          "double quotes: line 1 column 2 (char 1)"),
    ("fixed", "[]", "not_object", "definition must be a JSON object"),
    ("fixed", {}, "missing_key", "definition: 'rate' is missing"),
    ("fixed", {"rate": "0.04", "cap": "1"}, "extra_key", "definition: unknown key 'cap' (expected rate, bonus)"),
    ("tiered_whole", {"tiers": [{"up_to": None, "rate": "0.04"}], "extra": 1}, "extra_key",
     "definition: unknown key 'extra' (expected tiers, bonus)"),
    ("tiered_marginal", {}, "missing_key", "definition: 'tiers' is missing"),
    ("fixed", {"rate": "-0.01"}, "rate_out_of_range", "rate -0.01 must be between 0 and 1"),
    ("fixed", {"rate": "1.01"}, "rate_out_of_range", "rate 1.01 must be between 0 and 1"),
    ("fixed", {"rate": "abc"}, "rate_not_number", "rate 'abc' is not a number like 0.04"),
    ("fixed", {"rate": ""}, "rate_not_number", "rate '' is not a number like 0.04"),
    ("fixed", {"rate": None}, "rate_not_number", "rate None is not a number like 0.04"),
    ("fixed", {"rate": 0.04}, "rate_not_number", "rate 0.04 must be written as text, such as \"0.04\""),
    ("fixed", {"rate": "4%"}, "rate_not_number", "rate '4%' is not a number like 0.04"),
    ("fixed", {"rate": "0.0000001"}, "rate_too_precise", "rate 0.0000001 has more than 6 decimal places"),
    ("fixed", {"tiers": []}, "fixed_with_tiers", "a fixed scheme has one rate, not tiers"),
    ("fixed", {"rate": "0.04", "tiers": [{"up_to": None, "rate": "0.04"}]}, "fixed_with_tiers",
     "a fixed scheme has one rate, not tiers"),
    ("tiered_marginal", {"rate": "0.04"}, "tiered_with_rate", "a tiered scheme has tiers, not one rate"),
    ("tiered_whole", {"rate": "0.04", "tiers": [{"up_to": None, "rate": "0.04"}]}, "tiered_with_rate",
     "a tiered scheme has tiers, not one rate"),
    ("tiered_marginal", {"tiers": []}, "tiers_not_list", "tiers must be a non-empty list of {\"up_to\", \"rate\"}"),
    ("tiered_marginal", {"tiers": "0.04"}, "tiers_not_list",
     "tiers must be a non-empty list of {\"up_to\", \"rate\"}"),
    ("tiered_marginal", {"tiers": ["0.04"]}, "tier_not_object", "tier 1: must be an object with up_to and rate"),
    ("tiered_marginal", {"tiers": [{"rate": "0.04"}]}, "missing_key", "tier 1: 'up_to' is missing"),
    ("tiered_marginal", {"tiers": [{"up_to": None}]}, "missing_key", "tier 1: 'rate' is missing"),
    ("tiered_marginal", {"tiers": [{"up_to": None, "rate": "0.04", "from": "0"}]}, "extra_key",
     "tier 1: unknown key 'from' (expected up_to, rate)"),
    # unordered
    ("tiered_marginal", tiers(("200000.00", "0.04"), ("100000.00", "0.05"), (None, "0.06")), "tier_not_increasing",
     "tier 2: up to 100000.00 must be above tier 1's 200000.00"),
    # duplicate
    ("tiered_whole", tiers(("100000.00", "0.04"), ("100000.00", "0.05"), (None, "0.06")), "tier_not_increasing",
     "tier 2: up to 100000.00 must be above tier 1's 100000.00"),
    # overlapping (the third tier reaches back into the second)
    ("tiered_marginal", tiers(("100000.00", "0.04"), ("200000.00", "0.05"), ("150000.00", "0.06"),
                              (None, "0.07")), "tier_not_increasing",
     "tier 3: up to 150000.00 must be above tier 2's 200000.00"),
    ("tiered_marginal", tiers(("0", "0.04"), (None, "0.05")), "tier_not_positive",
     "tier 1: up to 0.00 must be above 0.00"),
    ("tiered_marginal", tiers((None, "0.04"), ("100000.00", "0.05")), "open_tier_not_last",
     "tier 1: only the last tier may have no upper limit (up to null)"),
    ("tiered_marginal", tiers(("100000.00", "0.04"), (None, "0.05"), (None, "0.06")), "open_tier_not_last",
     "tier 2: only the last tier may have no upper limit (up to null)"),
    ("tiered_whole", tiers(("100000.00", "0.04"), ("200000.00", "0.05")), "last_tier_not_open",
     "tier 2: the last tier must have no upper limit (up to null), so that every amount falls in a tier"),
    ("tiered_marginal", tiers(("100000.001", "0.04"), (None, "0.05")), "amount_too_precise",
     "tier 1: up to 100000.001 has more than two decimals"),
    ("tiered_marginal", tiers(("-100.00", "0.04"), (None, "0.05")), "amount_negative",
     "tier 1: up to -100.00 is negative"),
    ("tiered_marginal", tiers(("lots", "0.04"), (None, "0.05")), "amount_not_number",
     "tier 1: up to 'lots' is not an amount like 50000.00"),
    ("tiered_marginal", tiers(("100,000.00", "0.04"), (None, "0.05")), "amount_not_number",
     "tier 1: up to '100,000.00' is not an amount like 50000.00"),
    ("tiered_marginal", tiers(("100000.00", "0.04"), (None, "-0.05")), "rate_out_of_range",
     "tier 2: rate -0.05 must be between 0 and 1"),
    ("tiered_marginal", tiers(("100000.00", "abc"), (None, "0.05")), "rate_not_number",
     "tier 1: rate 'abc' is not a number like 0.04"),
    ("fixed", {"rate": "0.04", "bonus": {"every": "0", "amount": "500.00"}}, "bonus_step_not_positive",
     "bonus: every 0.00 must be above 0.00"),
    ("fixed", {"rate": "0.04", "bonus": {"every": "-50000.00", "amount": "500.00"}}, "amount_negative",
     "bonus: every -50000.00 is negative"),
    ("fixed", {"rate": "0.04", "bonus": {"every": "50000.00", "amount": "-500.00"}}, "amount_negative",
     "bonus: amount -500.00 is negative"),
    ("fixed", {"rate": "0.04", "bonus": {"every": "50000.00", "amount": "500.005"}}, "amount_too_precise",
     "bonus: amount 500.005 has more than two decimals"),
    ("fixed", {"rate": "0.04", "bonus": {"every": "50000.00"}}, "missing_key", "bonus: 'amount' is missing"),
    ("fixed", {"rate": "0.04", "bonus": {"every": "50000.00", "amount": "5", "cap": "9"}}, "extra_key",
     "bonus: unknown key 'cap' (expected every, amount)"),
    ("fixed", {"rate": "0.04", "bonus": "500"}, "bonus_not_object", "bonus must be an object with every and amount"),
]


@pytest.mark.parametrize("kind, definition, code, message", BAD_DEFINITIONS,
                         ids=[f"{case[2]}-{number}" for number, case in enumerate(BAD_DEFINITIONS)])
def test_a_bad_definition_is_refused_saying_what_and_where(kind, definition, code, message):
    with pytest.raises(SchemeError) as refused:
        parse_scheme(kind, definition)
    assert str(refused.value) == message
    assert refused.value.code == code


def test_a_refusal_names_its_place_for_the_form():
    with pytest.raises(SchemeError) as refused:
        parse_scheme("tiered_marginal", tiers(("200000.00", "0.04"), ("100000.00", "0.05"), (None, "0.06")))
    assert refused.value.where == ("tier", 2, "up_to")
    assert refused.value.params == {"tier": 2, "up_to": "100000.00", "previous_tier": 1, "previous": "200000.00"}
    with pytest.raises(SchemeError) as refused:
        parse_scheme("fixed", {"rate": "0.04", "bonus": {"every": "50000.00", "amount": "-1"}})
    assert refused.value.where == ("bonus", "amount")
    assert isinstance(refused.value, ValueError)


# -- worked examples -----------------------------------------------------------------------

def test_fixed_rate_on_the_whole_amount():
    # 4% of 123,456.78 = 12,345,678 fen × 0.04 = 493,827.12 fen -> 493,827 fen = 4,938.27
    scheme = parse_scheme("fixed", {"rate": "0.04"})
    assert commission(scheme, 12_345_678) == Working(12_345_678, (
        Line("rate", 0, None, 12_345_678, Decimal("0.04"), None, 493_827),), 493_827)


# The issue's example: 4% up to 100,000, 5% up to 200,000, 6% above.
MARGINAL_EXAMPLES = [
    # 50,000: all in tier 1: 50,000 × 4% = 2,000.00
    (5_000_000, [tier_line(T1, 5_000_000, 200_000)], 200_000),
    # exactly 100,000.00: "up to" includes the limit, all in tier 1: 4,000.00
    (10_000_000, [tier_line(T1, 10_000_000, 400_000)], 400_000),
    # 100,000.01: 100,000.00 × 4% = 4,000.00; 0.01 × 5% = 0.05 fen -> 0.00; total 4,000.00
    (10_000_001, [tier_line(T1, 10_000_000, 400_000), tier_line(T2, 1, 0)], 400_000),
    # exactly 200,000.00: 4,000.00 + 100,000.00 × 5% = 5,000.00; total 9,000.00
    (20_000_000, [tier_line(T1, 10_000_000, 400_000), tier_line(T2, 10_000_000, 500_000)], 900_000),
    # 250,000: 4,000.00 + 5,000.00 + 50,000.00 × 6% = 3,000.00; total 12,000.00
    (25_000_000, [tier_line(T1, 10_000_000, 400_000), tier_line(T2, 10_000_000, 500_000),
                  tier_line(T3, 5_000_000, 300_000)], 1_200_000),
]


@pytest.mark.parametrize("recovered_fen, lines, total_fen", MARGINAL_EXAMPLES)
def test_marginal_tiers_worked_by_hand(recovered_fen, lines, total_fen):
    assert commission(MARGINAL, recovered_fen) == Working(recovered_fen, tuple(lines), total_fen)


WHOLE_EXAMPLES = [
    # 50,000 falls in tier 1: 50,000 × 4% = 2,000.00
    (5_000_000, T1, 200_000),
    # exactly 100,000.00 is still tier 1: 100,000 × 4% = 4,000.00
    (10_000_000, T1, 400_000),
    # 100,000.01 is tier 2: 10,000,001 fen × 5% = 500,000.05 fen -> 5,000.00
    (10_000_001, T2, 500_000),
    # exactly 200,000.00 is tier 2: 200,000 × 5% = 10,000.00
    (20_000_000, T2, 1_000_000),
    # 250,000 is tier 3: 250,000 × 6% = 15,000.00
    (25_000_000, T3, 1_500_000),
]


@pytest.mark.parametrize("recovered_fen, band, total_fen", WHOLE_EXAMPLES)
def test_whole_amount_at_the_rate_of_its_tier_worked_by_hand(recovered_fen, band, total_fen):
    assert commission(WHOLE, recovered_fen) == Working(recovered_fen, (tier_line(band, recovered_fen, total_fen),),
                                                       total_fen)


BONUS = parse_scheme("fixed", {"rate": "0", "bonus": {"every": "50000.00", "amount": "500.00"}})


@pytest.mark.parametrize("recovered_fen, count, bonus_fen", [
    (4_999_999, 0, 0),         # 49,999.99: one fen short of the first step
    (5_000_000, 1, 50_000),    # 50,000.00: reaching a step counts -> 500.00
    (14_999_900, 2, 100_000),  # 149,999.00: two full steps -> 1,000.00
    (15_000_000, 3, 150_000),  # 150,000.00: three -> 1,500.00
])
def test_bonus_for_each_full_step(recovered_fen, count, bonus_fen):
    working = commission(BONUS, recovered_fen)
    assert working.lines[-1] == Line("bonus", 0, None, recovered_fen, None, count, bonus_fen)
    assert working.total_fen == bonus_fen


def test_bonus_adds_to_the_tiers():
    # 150,000 marginal: 4,000.00 + 50,000 × 5% = 2,500.00 -> 6,500.00; bonus 3 × 500.00 = 1,500.00; 8,000.00
    scheme = parse_scheme("tiered_marginal", dict(ISSUE_TIERS, bonus={"every": "50000.00", "amount": "500.00"}))
    working = commission(scheme, 15_000_000)
    assert [line.amount_fen for line in working.lines] == [400_000, 250_000, 150_000]
    assert working.total_fen == 800_000


def test_rounding_is_half_up_on_each_line():
    # 5% of 0.10 = 0.5 fen -> 1 fen (half-even would give 0);
    # 5% of 0.50 = 2.5 fen -> 3 fen (half-even would give 2).
    scheme = parse_scheme("fixed", {"rate": "0.05"})
    assert commission(scheme, 10).total_fen == 1
    assert commission(scheme, 50).total_fen == 3
    # Each line is rounded, then the lines are added: 0.20 at 5% in two tiers of 0.10 each is
    # 0.5 fen -> 1 fen per line, 2 fen in all (rounding once, 1.0 fen, would give 1).
    split = parse_scheme("tiered_marginal", tiers(("0.10", "0.05"), (None, "0.05")))
    assert [line.amount_fen for line in commission(split, 20).lines] == [1, 1]
    assert commission(split, 20).total_fen == 2


def test_nothing_recovered_earns_nothing():
    for scheme in (MARGINAL, WHOLE, BONUS, parse_scheme("fixed", {"rate": "0.04"})):
        working = commission(scheme, 0)
        assert working.total_fen == 0
        assert sum(line.base_fen for line in working.lines if line.kind != "bonus") == 0
    assert commission(MARGINAL, 0).lines == (tier_line(T1, 0, 0),)


@pytest.mark.parametrize("recovered, message", [
    (-1, "the amount recovered -0.01 is negative"),
    (Decimal("1.5"), "the amount recovered Decimal('1.5') must be a whole number of fen"),
    (True, "the amount recovered True must be a whole number of fen"),
])
def test_a_negative_or_fractional_amount_recovered_is_refused(recovered, message):
    with pytest.raises(SchemeError) as refused:
        commission(MARGINAL, recovered)
    assert str(refused.value) == message


def test_describe_writes_the_working_out():
    scheme = parse_scheme("tiered_marginal", dict(ISSUE_TIERS, bonus={"every": "50000.00", "amount": "500.00"}))
    assert describe(commission(scheme, 25_000_000), scheme) == [
        "0.00 – 100000.00: 100000.00 × 4% = 4000.00",
        "100000.00 – 200000.00: 100000.00 × 5% = 5000.00",
        "above 200000.00: 50000.00 × 6% = 3000.00",
        "bonus on 250000.00: 5 step(s) × 500.00 (one for each full 50000.00) = 2500.00",
        "total on 250000.00: 14500.00",
    ]
    assert describe(commission(parse_scheme("fixed", {"rate": "0.045"}), 100)) == [
        "any amount: 1.00 × 4.5% = 0.05", "total on 1.00: 0.05"]


# -- properties ----------------------------------------------------------------------------

rates = st.integers(min_value=0, max_value=1_000_000).map(lambda millionths: Decimal(millionths) / 1_000_000)
amounts = st.integers(min_value=0, max_value=10**11)  # up to 1,000,000,000.00


@st.composite
def tiered_schemes(draw, kind=None):
    limits = sorted(draw(st.sets(st.integers(min_value=1, max_value=10**10), min_size=0, max_size=5)))
    tiers_ = tuple(Tier(limit, draw(rates)) for limit in limits) + (Tier(None, draw(rates)),)
    bonus = draw(st.none() | st.builds(Bonus, st.integers(min_value=1, max_value=10**9),
                                       st.integers(min_value=0, max_value=10**7)))
    return Scheme(kind or draw(st.sampled_from(["tiered_marginal", "tiered_whole"])), None, tiers_, bonus)


@st.composite
def any_schemes(draw):
    if draw(st.booleans()):
        return draw(tiered_schemes())
    bonus = draw(st.none() | st.builds(Bonus, st.integers(min_value=1, max_value=10**9),
                                       st.integers(min_value=0, max_value=10**7)))
    return Scheme("fixed", draw(rates), (), bonus)


def without_bonus(scheme):
    return Scheme(scheme.kind, scheme.rate, scheme.tiers, None)


@settings(max_examples=200)
@given(tiered_schemes("tiered_marginal"), amounts, st.integers(min_value=1, max_value=10**9))
def test_marginal_total_never_falls_as_the_amount_grows(scheme, amount, more):
    assert commission(scheme, amount + more).total_fen >= commission(scheme, amount).total_fen


@settings(max_examples=200)
@given(tiered_schemes("tiered_marginal"), amounts)
def test_marginal_total_lies_between_the_lowest_and_highest_rate(scheme, amount):
    working = commission(without_bonus(scheme), amount)
    rates_ = [tier.rate for tier in scheme.tiers]
    slack = Decimal(len(working.lines)) / 2  # half a fen of rounding per line
    assert amount * min(rates_) - slack <= working.total_fen <= amount * max(rates_) + slack


@settings(max_examples=200)
@given(tiered_schemes("tiered_marginal"), amounts)
def test_marginal_line_bases_add_up_to_the_amount(scheme, amount):
    working = commission(scheme, amount)
    assert sum(line.base_fen for line in working.lines if line.kind == "tier") == amount
    assert working.total_fen == sum(line.amount_fen for line in working.lines)


@settings(max_examples=200)
@given(tiered_schemes("tiered_whole"), amounts)
def test_whole_is_the_amount_at_the_rate_of_its_tier(scheme, amount):
    tier = next(tier for tier in scheme.tiers if tier.up_to_fen is None or amount <= tier.up_to_fen)
    working = commission(without_bonus(scheme), amount)
    assert abs(working.total_fen - amount * tier.rate) <= Decimal("0.5")
    assert [line.rate for line in working.lines] == [tier.rate]


@settings(max_examples=200)
@given(any_schemes())
def test_definition_round_trips(scheme):
    definition = scheme_definition(scheme)
    assert parse_scheme(scheme.kind, definition) == scheme
    assert parse_scheme(scheme.kind, json.dumps(definition)) == scheme
    assert scheme_definition(parse_scheme(scheme.kind, definition)) == definition
