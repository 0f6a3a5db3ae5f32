"""A seeded simulator of a trading company's source systems: ERP, CRM, bank and bureau.

It writes the files those systems would drop, one folder per source and business date
(``landing/<source>/<YYYY-MM-DD>/…``), and what only tests may read under ``ground_truth/``.
Same seed and arguments give byte-identical output: every random draw comes from one
``random.Random(seed)`` in a fixed order, and no wall-clock time is written anywhere.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from xml.sax.saxutils import escape

from stdnum.cn import uscc

SCALES = {"tiny": 24, "small": 2_000, "medium": 20_000, "large": 200_000}

CAMT053_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
COMPANY_BANK_ACCOUNT = "31050161373600000123"

REGIONS = ["上海", "北京", "深圳", "广州", "杭州", "苏州", "南京", "成都", "武汉", "宁波", "青岛", "天津"]
REGION_DIVISIONS = {
    "上海": "310000", "北京": "110000", "深圳": "440300", "广州": "440100", "杭州": "330100",
    "苏州": "320500", "南京": "320100", "成都": "510100", "武汉": "420100", "宁波": "330200",
    "青岛": "370200", "天津": "120000",
}
BRANDS = ["华信", "恒通", "鼎盛", "瑞丰", "金桥", "宏达", "永泰", "新元", "中联", "远航", "汇丰源", "天成",
          "博远", "嘉禾", "启明", "盛世", "德润", "凯旋", "安达", "富海"]
INDUSTRIES = ["电子科技", "机械设备", "化工", "纺织", "食品", "建材", "物流", "医药", "汽车配件", "新能源"]
LEGAL_FORMS = ["有限公司", "有限责任公司", "股份有限公司"]
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
TERMS_DAYS = {"NET30": 30, "NET60": 60, "NET90": 90}

CENT = Decimal("0.01")


def _money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class Customer:
    customer_id: str  # ERP key
    account_id: str  # CRM key: the two systems are keyed independently
    name: str
    uscc: str
    payment_terms: str
    credit_limit: Decimal
    quality: float  # hidden: 0 (worst) .. 1 (best); drives volume, lateness and default
    owner_id: str
    registered_capital: Decimal
    open_invoices: list[Invoice] = field(default_factory=list)


@dataclass
class Invoice:
    invoice_id: str
    customer: Customer
    invoice_date: date
    due_date: date
    amount: Decimal
    pay_on: date | None  # simulated settlement date; None: not paid within the horizon


@dataclass
class DayActivity:
    invoices: list[Invoice] = field(default_factory=list)
    payments: list[tuple[str, Invoice, date]] = field(default_factory=list)


def _make_uscc(rng: random.Random, region: str) -> str:
    # registration authority 9 (industry & commerce), entity type 1 (enterprise), division,
    # then a 9-character organisation code; the last character is the GB 32100 check.
    organisation = "".join(rng.choice(USCC_ALPHABET[:10]) for _ in range(8))
    organisation += rng.choice("0123456789X")
    body = "91" + REGION_DIVISIONS[region] + organisation
    return body + uscc.calc_check_digit(body)


def _make_customers(rng: random.Random, count: int) -> list[Customer]:
    customers = []
    used_names: set[str] = set()
    for number in range(1, count + 1):
        region = rng.choice(REGIONS)
        while True:
            name = f"{region}{rng.choice(BRANDS)}{rng.choice(INDUSTRIES)}{rng.choice(LEGAL_FORMS)}"
            if name not in used_names:
                break
            name = f"{region}{rng.choice(BRANDS)}{rng.choice(BRANDS)}{rng.choice(INDUSTRIES)}有限公司"
            if name not in used_names:
                break
        used_names.add(name)
        quality = rng.betavariate(5, 2)
        limit = _money(round(rng.lognormvariate(13.0, 0.6) * (0.5 + quality), -4))
        customers.append(
            Customer(
                customer_id=f"C{number:06d}",
                account_id=f"ACC-{rng.randrange(10**7, 10**8)}",
                name=name,
                uscc=_make_uscc(rng, region),
                payment_terms=rng.choice(["NET30", "NET30", "NET60", "NET90"]),
                credit_limit=max(limit, Decimal("50000.00")),
                quality=quality,
                owner_id=f"S{rng.randrange(1, 40):03d}",
                registered_capital=_money(round(rng.lognormvariate(15.5, 1.0), -4)),
            )
        )
    return customers


def _simulate(rng: random.Random, customers: list[Customer], start: date, end: date):
    days: dict[date, DayActivity] = {}
    invoice_number = 0
    payment_number = 0
    current = start
    while current <= end:
        activity = days.setdefault(current, DayActivity())
        if current.weekday() < 5:
            for customer in customers:
                if rng.random() < 0.08 + 0.12 * customer.quality:
                    invoice_number += 1
                    amount = _money(rng.lognormvariate(10.5, 0.8))
                    due = current + timedelta(days=TERMS_DAYS[customer.payment_terms])
                    # weaker customers pay later; some of the weakest not at all
                    if rng.random() < 0.15 * (1 - customer.quality) ** 2:
                        pay_on = None
                    else:
                        delay = int(rng.gauss(25 * (1 - customer.quality) - 5, 8))
                        pay_on = due + timedelta(days=delay)
                        pay_on = max(pay_on, current + timedelta(days=1))
                    invoice = Invoice(
                        f"INV{current:%y%m}{invoice_number:07d}", customer, current, due, amount,
                        pay_on,
                    )
                    activity.invoices.append(invoice)
                    if pay_on is not None and pay_on <= end:
                        payment_number += 1
                        settle = days.setdefault(pay_on, DayActivity())
                        settle.payments.append((f"PAY{payment_number:08d}", invoice, pay_on))
        current += timedelta(days=1)
    return days


def _csv_bytes(header: list[str], rows: list[list[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _camt053(business_date: date, payments: list[tuple[str, Invoice, date]], rng: random.Random) -> bytes:
    created = f"{business_date.isoformat()}T23:30:00+08:00"
    entries = []
    total = Decimal("0.00")
    for payment_id, invoice, _ in payments:
        total += invoice.amount
        # Most payers cite the invoice; some write only their own name.
        remittance = (
            f"货款 {invoice.invoice_id}" if rng.random() < 0.8 else f"{invoice.customer.name} 付款"
        )
        entries.append(
            f"""      <Ntry>
        <Amt Ccy="CNY">{invoice.amount}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts><Cd>BOOK</Cd></Sts>
        <BookgDt><Dt>{business_date.isoformat()}</Dt></BookgDt>
        <ValDt><Dt>{business_date.isoformat()}</Dt></ValDt>
        <AcctSvcrRef>{payment_id}</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>DMCT</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls>
          <TxDtls>
            <Refs><EndToEndId>{payment_id}</EndToEndId></Refs>
            <RltdPties><Dbtr><Pty><Nm>{escape(invoice.customer.name)}</Nm></Pty></Dbtr></RltdPties>
            <RmtInf><Ustrd>{escape(remittance)}</Ustrd></RmtInf>
          </TxDtls>
        </NtryDtls>
      </Ntry>"""
        )
    body = "\n".join(entries)
    document = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="{CAMT053_NAMESPACE}">
  <BkToCstmrStmt>
    <GrpHdr>
      <MsgId>STMT{business_date:%Y%m%d}</MsgId>
      <CreDtTm>{created}</CreDtTm>
    </GrpHdr>
    <Stmt>
      <Id>{COMPANY_BANK_ACCOUNT}-{business_date:%Y%m%d}</Id>
      <CreDtTm>{created}</CreDtTm>
      <Acct><Id><Othr><Id>{COMPANY_BANK_ACCOUNT}</Id></Othr></Id><Ccy>CNY</Ccy></Acct>
      <TxsSummry><TtlCdtNtries><NbOfNtries>{len(payments)}</NbOfNtries><Sum>{total}</Sum></TtlCdtNtries></TxsSummry>
{body}
    </Stmt>
  </BkToCstmrStmt>
</Document>
"""
    return document.encode("utf-8")


def _bureau_report(customer: Customer, report_date: date, rng: random.Random) -> dict:
    weak = customer.quality < 0.35
    return {
        "uscc": customer.uscc,
        "company_name": customer.name,
        "report_date": report_date.isoformat(),
        "registration_status": "存续",
        "registered_capital": str(customer.registered_capital),
        "litigation_count": rng.randrange(2, 6) if weak else rng.choice([0, 0, 0, 1]),
        "is_dishonest_debtor": weak and rng.random() < 0.3,
        "bureau_score": int(300 + 550 * customer.quality + rng.gauss(0, 25)),
    }


def generate(out: Path, *, start: date, end: date, seed: int = 42, scale: str = "tiny") -> dict:
    """Write the sandbox's landing files and ground truth for business dates start..end."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    rng = random.Random(seed)
    customers = _make_customers(rng, SCALES[scale])
    days = _simulate(rng, customers, start, end)
    landing = out / "landing"
    files: list[Path] = []

    def write(source: str, business_date: date, name: str, payload: bytes) -> None:
        path = landing / source / business_date.isoformat() / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
        files.append(path)

    # The ERP and CRM masters arrive as a full extract on the first day.
    write("erp", start, f"customers_{start:%Y%m%d}.csv", _csv_bytes(
        ["customer_id", "customer_name", "uscc", "payment_terms", "credit_limit", "currency"],
        [[c.customer_id, c.name, c.uscc, c.payment_terms, c.credit_limit, "CNY"] for c in customers],
    ))
    write("crm", start, f"accounts_{start:%Y%m%d}.csv", _csv_bytes(
        ["account_id", "account_name", "uscc", "owner_id"],
        [[c.account_id, c.name, c.uscc, c.owner_id] for c in customers],
    ))
    for business_date in sorted(days):
        activity = days[business_date]
        stamp = f"{business_date:%Y%m%d}"
        write("erp", business_date, f"invoices_{stamp}.csv", _csv_bytes(
            ["invoice_id", "customer_id", "invoice_date", "due_date", "currency", "amount"],
            [[i.invoice_id, i.customer.customer_id, i.invoice_date, i.due_date, "CNY", i.amount]
             for i in activity.invoices],
        ))
        write("erp", business_date, f"payments_{stamp}.csv", _csv_bytes(
            ["payment_id", "invoice_id", "customer_id", "payment_date", "currency", "amount"],
            [[p, i.invoice_id, i.customer.customer_id, paid, "CNY", i.amount]
             for p, i, paid in activity.payments],
        ))
        if business_date.weekday() < 5:
            write("bank", business_date, f"camt053_{stamp}.xml",
                  _camt053(business_date, activity.payments, rng))
        # The bureau delivers weekly (Mondays) and on the first day.
        if business_date == start or business_date.weekday() == 0:
            reports = [_bureau_report(c, business_date, rng) for c in customers]
            write("bureau", business_date, f"company_reports_{stamp}.jsonl", "".join(
                json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in reports
            ).encode("utf-8"))

    truth = out / "ground_truth"
    truth.mkdir(parents=True, exist_ok=True)
    (truth / "entities.csv").write_bytes(_csv_bytes(
        ["source_system", "source_record_id", "true_customer_id"],
        [row for c in customers for row in (["erp", c.customer_id, c.customer_id],
                                            ["crm", c.account_id, c.customer_id])],
    ))
    return {
        "customers": len(customers),
        "days": len(days),
        "invoices": sum(len(d.invoices) for d in days.values()),
        "payments": sum(len(d.payments) for d in days.values()),
        "files": len(files),
        "landing": str(landing),
    }
