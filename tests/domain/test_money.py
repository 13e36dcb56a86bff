"""Money at the edges (SPEC §1): integer fen inside, two-decimal strings outside,
ROUND_HALF_UP to the fen."""
from decimal import Decimal

import pytest

from arrears.domain.errors import InvalidAmount
from arrears.domain.money import format_fen, parse_amount, round_fen


@pytest.mark.parametrize("text, fen", [
    ("0.01", 1),
    ("0.1", 10),
    ("1", 100),
    ("1234.5", 123450),
    ("1234.50", 123450),
    (" 12 ", 1200),
    ("\t300.00\n", 30000),
    ("0000012.30", 1230),
    ("9999999999999.99", 999999999999999),
])
def test_parse_amount_accepts(text, fen):
    assert parse_amount(text) == fen
    assert type(parse_amount(text)) is int


@pytest.mark.parametrize("text", [
    "",
    "   ",
    None,
    "-1.00",
    "-0.01",
    "+1.00",
    "1.234",
    "0.001",
    "1,000.00",
    "1 000.00",
    "abc",
    "1e3",
    "1.",
    ".50",
    "¥12.00",
    "12.00元",
    "0.00",
    "0",
])
def test_parse_amount_refuses(text):
    with pytest.raises(InvalidAmount):
        parse_amount(text)


def test_parse_amount_refuses_float_input():
    # A float has already lost the exact amount (0.1 + 0.2 != 0.3); it must never get in.
    with pytest.raises(InvalidAmount):
        parse_amount(12.5)
    with pytest.raises(InvalidAmount):
        parse_amount(0.1 + 0.2)


def test_invalid_amount_is_a_value_error_with_a_useful_message():
    with pytest.raises(ValueError, match="more than two decimals"):
        parse_amount("1.234")
    with pytest.raises(InvalidAmount, match="negative"):
        parse_amount("-1.00")


def test_parse_amount_zero_only_when_allowed():
    assert parse_amount("0.00", allow_zero=True) == 0
    assert parse_amount("0", allow_zero=True) == 0


@pytest.mark.parametrize("fen, text", [
    (0, "0.00"),
    (1, "0.01"),
    (10, "0.10"),
    (100, "1.00"),
    (123450, "1234.50"),
    (6220, "62.20"),
    (-1, "-0.01"),
    (-5, "-0.05"),
    (-100, "-1.00"),
    (-123450, "-1234.50"),
    (999999999999999, "9999999999999.99"),
])
def test_format_fen(fen, text):
    assert format_fen(fen) == text


@pytest.mark.parametrize("fen", [0, 1, 99, 100, 101, 123450, 31415926])
def test_format_then_parse_round_trips(fen):
    assert parse_amount(format_fen(fen), allow_zero=True) == fen


@pytest.mark.parametrize("exact, fen", [
    (Decimal("2.5"), 3),        # half up, not to even (banker's rounding would give 2)
    (Decimal("0.5"), 1),        # banker's rounding would give 0
    (Decimal("3.5"), 4),
    (Decimal("2.4999"), 2),
    (Decimal("0.4999"), 0),
    (Decimal("0.5000"), 1),
    (Decimal("953.1"), 953),
    (Decimal("6220.000"), 6220),
    (Decimal("0"), 0),
    (Decimal(7), 7),
])
def test_round_fen_half_up(exact, fen):
    assert round_fen(exact) == fen
    assert type(round_fen(exact)) is int
