"""Shared by the notice tests: a frozen clock, households in arrears imported through the
command line, and readers for the PDFs the program issues."""
import subprocess
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

SHANGHAI = ZoneInfo("Asia/Shanghai")
FROZEN = datetime(2026, 5, 31, 10, 0, tzinfo=SHANGHAI)
ESTATE = "示例花园"
REF = f"{ESTATE}/3栋/1201"


@pytest.fixture
def clock():
    with time_machine.travel(FROZEN, tick=False) as traveller:
        yield traveller


@pytest.fixture
def household(clock, cli, write_csv):
    """SPEC §10's example household (300.00 due 2026-01-31, 100.00 paid 2026-03-02), plus
    a second charge (2026-04, 300.00 due 2026-04-30) and a neighbour who owes nothing."""
    units = write_csv("units.csv", "estate,building,unit,area_m2,owner_name,owner_phone\n"
                      f"{ESTATE},3栋,1201,89.50,张伟,13812345678\n"
                      f"{ESTATE},3栋,1202,89.50,李娜,13900001111\n")
    charges = write_csv("charges.csv", "estate,building,unit,period,fee_item,amount,due_date\n"
                        f"{ESTATE},3栋,1201,2026-01,物业管理费,300.00,2026-01-31\n"
                        f"{ESTATE},3栋,1201,2026-04,物业管理费,300.00,2026-04-30\n")
    payments = write_csv("payments.csv", "estate,building,unit,amount,paid_on,method,reference\n"
                         f"{ESTATE},3栋,1201,100.00,2026-03-02,wechat,WX0001\n")
    for kind, path in (("units", units), ("charges", charges), ("payments", payments)):
        result = cli("import", kind, path)
        assert result.exit_code == 0, result.output
    return REF


@pytest.fixture
def many_households(clock, cli, write_csv):
    """``count`` households each owing one charge due 2026-03-31 (stage demand on 2026-05-31)."""
    def make(count):
        units = ["estate,building,unit,area_m2,owner_name,owner_phone"]
        charges = ["estate,building,unit,period,fee_item,amount,due_date"]
        for n in range(1, count + 1):
            building, number = f"{1 + (n - 1) // 20}栋", f"{(n - 1) % 20 + 1:02d}01"
            units.append(f"{ESTATE},{building},{number},80.00,业主{n:03d},1380000{n:04d}")
            charges.append(f"{ESTATE},{building},{number},2026-03,物业管理费,{100 + n}.00,2026-03-31")
        for kind, rows in (("units", units), ("charges", charges)):
            result = cli("import", kind, write_csv(f"{kind}.csv", "\n".join(rows) + "\n"))
            assert result.exit_code == 0, result.output
    return make


def pdf_text(path_or_bytes, layout=False):
    """The text of a PDF, with pdftotext (poppler)."""
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else open(path_or_bytes, "rb").read()
    args = ["pdftotext"] + (["-layout"] if layout else []) + ["-", "-"]
    return subprocess.run(args, input=data, capture_output=True, check=True).stdout.decode("utf-8")


def pdf_pages(data):
    import io

    from pypdf import PdfReader
    return len(PdfReader(io.BytesIO(data)).pages)


def count(table):
    from sqlalchemy import text

    from arrears.extensions import db
    return db.session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
