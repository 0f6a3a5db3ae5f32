"""Read the source records entity resolution links from the staging views, and derive the
attributes it compares (normalised names, cities, identifiers, invoice citations).

Personal data is never decrypted here: the only personal attribute used is the bank payer
account's blind index ``payer_account_hash`` (a keyed HMAC), compared for equality.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import pandas as pd
import psycopg

from mdm import normalize

SOURCE_SYSTEMS = ("erp", "crm", "bureau", "bank")
MASTER_SYSTEMS = ("erp", "crm", "bureau")

_QUERIES = {
    "erp": (
        "stg_erp__customers",
        """select customer_id as source_record_id, customer_name as name, uscc, registration_number,
                  vat_number, country_code as country, city, industry, parent_customer_id, customer_status as status,
                  iban
           from staging.stg_erp__customers""",
    ),
    "crm": (
        "stg_crm__accounts",
        """select account_id as source_record_id, account_name as name, uscc, city, industry
           from staging.stg_crm__accounts""",
    ),
    "bureau": (
        "stg_bureau__company_reports",
        """select distinct on (subject_id) subject_id as source_record_id, company_name as name, uscc,
                  registration_status_code as status, report_date
           from staging.stg_bureau__company_reports
           order by subject_id, report_date desc""",
    ),
    "bureau_events": (
        "stg_bureau__events",
        """select distinct on (subject_id) subject_id as source_record_id, uscc
           from staging.stg_bureau__events where subject_id is not null
           order by subject_id, event_date desc""",
    ),
    "bank": (
        "stg_bank__statement_entries",
        """select bank_entry_id as source_record_id, payer_name as name, payer_account_hash,
                  remittance_information, end_to_end_id, entry_reference, booking_date, amount, currency
           from staging.stg_bank__statement_entries where is_credit""",
    ),
    "invoices": (
        "stg_erp__invoices",
        "select invoice_id, customer_id from staging.stg_erp__invoices",
    ),
    "payments": (
        "stg_erp__payments",
        """select distinct bank_reference, currency, payment_amount, customer_id from staging.stg_erp__payments
           where bank_reference is not null and customer_id is not null""",
    ),
}

# Tokens in free-text remittance information that may be document numbers (invoice ids).
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_/.]{3,}[A-Za-z0-9]")


@dataclass
class SourceData:
    masters: pd.DataFrame  # erp, crm and bureau records with normalised attributes
    bank: pd.DataFrame  # incoming-payment bank entries with normalised payer names and citations
    invoices: dict[str, str]  # invoice id (upper case) -> ERP customer id


def _frame(conn: psycopg.Connection, view: str, query: str) -> pd.DataFrame | None:
    if conn.execute("select to_regclass(%s)", (f"staging.{view}",)).fetchone()[0] is None:
        return None
    cursor = conn.execute(query)
    columns = [c.name for c in cursor.description]
    return pd.DataFrame(cursor.fetchall(), columns=columns, dtype=object)


def load(conn: psycopg.Connection) -> SourceData:
    frames = {name: _frame(conn, view, query) for name, (view, query) in _QUERIES.items()}
    parts = []
    for system in MASTER_SYSTEMS:
        frame = frames[system]
        if system == "bureau":
            events = frames["bureau_events"]
            if events is not None and len(events):
                known = set(frame["source_record_id"]) if frame is not None else set()
                extra = events[~events["source_record_id"].isin(known)]
                frame = extra if frame is None else pd.concat([frame, extra], ignore_index=True)
        if frame is None or not len(frame):
            continue
        frame = frame.copy()
        frame["source_system"] = system
        parts.append(frame)
    masters = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["source_system",
                                                                                      "source_record_id", "name"])
    masters = _master_features(masters)

    invoices: dict[str, str] = {}
    if frames["invoices"] is not None:
        invoices = {str(i).upper(): str(c) for i, c in zip(frames["invoices"]["invoice_id"],
                                                              frames["invoices"]["customer_id"], strict=True)}
    # The ERP's cash application names the bank reference of each receipt. References are unique
    # only per bank account (two HSBC accounts both issue HK260113000003), so a receipt is matched on
    # reference, currency and amount.
    references: dict[tuple, set[str]] = {}
    if frames["payments"] is not None:
        payments = frames["payments"]
        for reference, currency, amount, customer in zip(payments["bank_reference"], payments["currency"],
                                                         payments["payment_amount"], payments["customer_id"],
                                                         strict=True):
            key = (str(reference).upper(), str(currency).upper(), _cents(amount))
            references.setdefault(key, set()).add(str(customer))
    bank = frames["bank"] if frames["bank"] is not None else pd.DataFrame(
        columns=["source_record_id", "name", "payer_account_hash", "remittance_information", "end_to_end_id",
                 "entry_reference", "booking_date", "amount", "currency"])
    ibans: dict[str, set[str]] = {}
    for system, record, iban in zip(masters["source_system"], masters["source_record_id"], masters["iban"],
                                    strict=True):
        if system == "erp" and isinstance(iban, str):
            ibans.setdefault(iban, set()).add(record)
    bank = _bank_features(bank.copy(), invoices, references, ibans)
    return SourceData(masters, bank, invoices)


def _values(frame: pd.DataFrame, name: str) -> list:
    """A column as a list of Python values, None for missing (pandas may hold NaN or NA)."""
    if name not in frame.columns:
        return [None] * len(frame)
    return [_clean(v) for v in frame[name].tolist()]


def _clean(value):
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


def _name_columns(names: list) -> dict[str, list]:
    parts = [normalize.name_parts(n) for n in names]
    return {
        "name": names,
        "name_key": [p.key or None for p in parts],
        "raw_key": [p.raw_key or None for p in parts],
        "name_region": [p.region for p in parts],
        "legal_form": [p.legal_form for p in parts],
        "script": [p.script or None for p in parts],
        "pinyin_key": [normalize.pinyin_key(p.key) for p in parts],
        "pinyin_keys": [list(normalize.pinyin_keys(p.key)) for p in parts],
    }


def _master_features(frame: pd.DataFrame) -> pd.DataFrame:
    systems = [str(v) for v in frame["source_system"].tolist()] if len(frame) else []
    records = [str(v) for v in frame["source_record_id"].tolist()] if len(frame) else []
    columns: dict[str, list] = {
        "source_system": systems,
        "source_record_id": records,
        "unique_id": [f"{s}|{r}" for s, r in zip(systems, records, strict=True)],
        **_name_columns(_values(frame, "name")),
    }
    usccs = [normalize.valid_uscc(v) for v in _values(frame, "uscc")]
    columns["uscc"] = usccs
    # A record with a USCC is a Chinese company; CRM and bureau records have no country column.
    columns["country"] = [c.upper() if c else ("CN" if u else None)
                          for c, u in zip(_values(frame, "country"), usccs, strict=True)]
    columns["city"] = _values(frame, "city")
    columns["city_key"] = [normalize.city_key(c) or region or normalize.uscc_city(u)
                           for c, region, u in zip(columns["city"], columns["name_region"], usccs, strict=True)]
    columns["registration_number"] = _values(frame, "registration_number")
    columns["vat_number"] = _values(frame, "vat_number")
    columns["registration_key"] = [normalize.registration_key(n, c) for n, c in
                                   zip(columns["registration_number"], columns["country"], strict=True)]
    columns["vat_key"] = [normalize.vat_key(v) for v in columns["vat_number"]]
    columns["iban"] = [normalize.iban_key(v) for v in _values(frame, "iban")]
    columns["industry"] = _values(frame, "industry")
    columns["parent_source_record_id"] = _values(frame, "parent_customer_id")
    columns["status"] = _values(frame, "status")
    return pd.DataFrame(columns, dtype=object)


def _cents(value) -> int | None:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    try:
        return round(float(value) * 100)
    except (TypeError, ValueError):
        return None


def _fold_token(token: str) -> str:
    return unicodedata.normalize("NFKC", token).upper().strip(".-/_")


SUFFIX_DIGITS = 8


def invoice_suffixes(invoices: dict[str, str]) -> dict[str, str]:
    """The last eight characters of each invoice id -> the id, where no other invoice shares them:
    payers often quote only the tail of a 20-digit e-invoice number."""
    seen: dict[str, str | None] = {}
    for invoice_id in invoices:
        if len(invoice_id) > SUFFIX_DIGITS:
            tail = invoice_id[-SUFFIX_DIGITS:]
            seen[tail] = None if tail in seen else invoice_id
    return {tail: invoice_id for tail, invoice_id in seen.items() if invoice_id}


def cited_invoices(text: str | None, invoices: dict[str, str], suffixes: dict[str, str] | None = None) -> list[str]:
    """Invoice ids of the ERP found in a remittance text: any token that is a known invoice id, or
    (with ``suffixes``) the unambiguous last eight digits of one."""
    if not text:
        return []
    folded = unicodedata.normalize("NFKC", text)
    found = []
    for match in _TOKEN.finditer(folded):
        token = _fold_token(match.group(0))
        for candidate in (token, *re.split(r"[/,;.]", token)):
            invoice_id = candidate if candidate in invoices else None
            if invoice_id is None and suffixes and len(candidate) == SUFFIX_DIGITS:
                invoice_id = suffixes.get(candidate)
            if invoice_id and invoice_id not in found:
                found.append(invoice_id)
    return found


def _bank_features(frame: pd.DataFrame, invoices: dict[str, str], references: dict[str, set[str]],
                   ibans: dict[str, set[str]]) -> pd.DataFrame:
    records = [str(v) for v in frame["source_record_id"].tolist()] if len(frame) else []
    remittance = _values(frame, "remittance_information")
    names = _values(frame, "name")
    suffixes = invoice_suffixes(invoices)
    cited = [cited_invoices(text, invoices, suffixes) for text in remittance]
    erp_ids = []
    currencies = [c.upper() if c else None for c in _values(frame, "currency")]
    amounts = [_cents(a) for a in (frame["amount"].tolist() if "amount" in frame.columns else [None] * len(frame))]
    for invoice_list, e2e, reference, name, text, currency, amount in zip(
            cited, _values(frame, "end_to_end_id"), _values(frame, "entry_reference"), names, remittance, currencies,
            amounts, strict=True):
        invoice_list = invoice_list + [i for i in cited_invoices(e2e, invoices) if i not in invoice_list]
        found = {invoices[i] for i in invoice_list}
        # the payer's IBAN (SWIFT statements write it as /ACCT/… beside the name or the remittance),
        # when the ERP keeps that IBAN for a customer: a company account, not personal data
        for number in normalize.ibans_in(name) + normalize.ibans_in(text):
            found |= ibans.get(number, set())
        # the ERP's own cash application, when it recorded the bank reference of the receipt
        for ref in (e2e, reference):
            if ref:
                found |= references.get((ref.upper(), currency, amount), set())
        erp_ids.append(sorted(found))
    columns: dict[str, list] = {
        "source_system": ["bank"] * len(records),
        "source_record_id": records,
        "unique_id": [f"bank|{r}" for r in records],
        **_name_columns(names),
        "payer_account_hash": _values(frame, "payer_account_hash"),
        "remittance_information": remittance,
        "cited_invoices": cited,
        "cited_erp_ids": erp_ids,
        "currency": _values(frame, "currency"),
    }
    return pd.DataFrame(columns, dtype=object)
