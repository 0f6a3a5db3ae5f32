"""The catalogue of source feeds: which landing files belong to which raw table, in which format,
with which columns, types and header names.

This is the contract between the source systems (and the sandbox that imitates them) and the
warehouse. A feed is recognised by its source folder and file-name pattern; a CSV header is
matched to columns by name or by any alias (Chinese ERP exports, bank exports). Columns are the raw
table's business columns; every raw table also carries the lineage columns in ``LINEAGE_COLUMNS``.
Personal data columns (``pii=True``) never reach the database in plaintext: the loader stores
``<name>_encrypted`` (AES-GCM), ``<name>_hash`` (keyed HMAC blind index) and ``<name>_masked``
(e.g. ``110***********1234``) instead.

File names: ``<pattern>`` with the business date as YYYYMMDD; a re-delivery of the same extract
adds ``__<n>`` before the extension (``invoices_20261005__2.csv``) and supersedes earlier ones.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

RAW_SCHEMA = "raw"

# Postgres types of the lineage columns every raw table carries.
LINEAGE_COLUMNS = {
    "_batch_id": "bigint not null",
    "_source_file": "text not null",
    "_source_line": "integer not null",
    "_loaded_at": "timestamptz not null",
}

# Column types the validator knows; the value is the Postgres type of the raw column.
COLUMN_TYPES = {
    "text": "text",
    "date": "date",
    "amount": "numeric(18,2)",
    "rate": "numeric(18,8)",
    "integer": "integer",
    "boolean": "boolean",
    "currency": "char(3)",
    "direction": "char(4)",  # CRDT (money in) or DBIT
    "uscc": "char(18)",
    "resident_id": "text",  # stored encrypted: always pii
    "mobile": "text",
    "email": "text",
    "iban": "text",
    "vat": "text",
}

# A re-delivery suffix: "__2" before the extension.
REDELIVERY = re.compile(r"__(\d+)(?=\.[^.]+$)")


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "text"
    required: bool = True
    pii: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def pg_type(self) -> str:
        return COLUMN_TYPES[self.type]

    @property
    def stored_columns(self) -> list[tuple[str, str]]:
        """The raw table's columns for this value: itself, or its ciphertext and blind index."""
        if self.pii:
            return [(f"{self.name}_encrypted", "bytea"), (f"{self.name}_hash", "text"), (f"{self.name}_masked", "text")]
        return [(self.name, self.pg_type)]


@dataclass(frozen=True)
class Feed:
    name: str  # unique feed name
    source: str  # landing folder: erp, crm, bank, bureau
    pattern: str  # file-name glob inside landing/<source>/<business date>/
    format: str  # csv, camt053, camt054, mt940, bai2, jsonl
    columns: tuple[Column, ...]
    table: str | None = None  # raw table; defaults to the feed name (several feeds may share one)
    description: str = ""
    key: tuple[str, ...] = ()  # identifies a row within one delivery

    @property
    def table_name(self) -> str:
        return self.table or self.name

    @property
    def qualified_table(self) -> str:
        return f"{RAW_SCHEMA}.{self.table_name}"

    @property
    def has_pii(self) -> bool:
        return any(column.pii for column in self.columns)

    def matches(self, source: str, file_name: str) -> bool:
        return source == self.source and fnmatch.fnmatch(extract_name(file_name).lower(), self.pattern)


def extract_name(file_name: str) -> str:
    """The extract a file delivers: its name without a re-delivery suffix."""
    return REDELIVERY.sub("", file_name)


def delivery_number(file_name: str) -> int:
    """1 for the first delivery of an extract, n for ``…__n.ext``."""
    match = REDELIVERY.search(file_name)
    return int(match.group(1)) if match else 1


def _c(name: str, type_: str = "text", *aliases: str, required: bool = True, pii: bool = False) -> Column:
    return Column(name, type_, required=required, pii=pii, aliases=aliases)


# Bank statement entries from every format land in one table; these are its columns.
BANK_ENTRY_COLUMNS = (
    _c("statement_id"),
    _c("account_id", "text", "本方账号"),
    _c("entry_reference", "text", "交易流水号"),
    _c("booking_date", "date", "交易日期"),
    _c("value_date", "date", "起息日", required=False),
    _c("credit_debit", "direction", "借贷标志"),
    _c("amount", "amount", "交易金额"),
    _c("currency", "currency", "币种"),
    _c("end_to_end_id", "text", required=False),
    _c("payer_name", "text", "对方户名", required=False),
    _c("payer_account", "text", "对方账号", required=False, pii=True),
    _c("remittance_information", "text", "附言", "摘要", required=False),
)

BANK_ENTRY_KEY = ("account_id", "entry_reference")

FEEDS: tuple[Feed, ...] = (
    # --- ERP (Kingdee-style exports: GB18030, Chinese headers; SAP-style: UTF-8, English) ---
    Feed("erp_customers", "erp", "customers_*.csv", "csv", (
        _c("customer_id", "text", "客户编码"),
        _c("customer_name", "text", "客户名称"),
        _c("uscc", "uscc", "统一社会信用代码", required=False),
        _c("registration_number", "text", "注册号", required=False),
        _c("vat_number", "vat", "税号", required=False),
        _c("country", "text", "国家", required=False),
        _c("city", "text", "城市", required=False),
        _c("industry", "text", "行业", required=False),
        _c("parent_customer_id", "text", "上级客户编码", required=False),
        _c("payment_terms", "text", "收款条件"),
        _c("credit_limit", "amount", "信用额度"),
        _c("currency", "currency", "币别"),
        _c("status", "text", "状态", required=False),
        _c("created_date", "date", "创建日期", required=False),
        _c("legal_rep_name", "text", "法定代表人", required=False, pii=True),
        _c("legal_rep_id_number", "resident_id", "法人身份证号", required=False, pii=True),
        _c("legal_rep_mobile", "mobile", "法人手机", required=False, pii=True),
        _c("iban", "iban", required=False),
    ), description="Customer master: full extract on the 1st of each month, deltas on other days.",
       key=("customer_id",)),
    Feed("erp_credit_limits", "erp", "credit_limits_*.csv", "csv", (
        _c("customer_id"),
        _c("valid_from", "date"),
        _c("credit_limit", "amount"),
        _c("currency", "currency"),
        _c("previous_limit", "amount", required=False),
        _c("changed_by", required=False),
        _c("change_reason", required=False),
    ), description="Credit limit changes (who, when, old, new, why).",
       key=("customer_id", "valid_from")),
    Feed("erp_sales_orders", "erp", "sales_orders_*.csv", "csv", (
        _c("order_id"),
        _c("customer_id"),
        _c("order_date", "date"),
        _c("currency", "currency"),
        _c("order_amount", "amount"),
        _c("status"),  # open, invoiced, cancelled
        _c("status_date", "date"),
    ), description="Sales orders: a row each time an order is created or changes status.",
       key=("order_id", "status")),
    Feed("erp_invoices", "erp", "invoices_*.csv", "csv", (
        _c("invoice_id", "text", "发票号码"),
        _c("customer_id", "text", "客户编码"),
        _c("order_id", "text", "销售订单号", required=False),
        _c("invoice_date", "date", "开票日期"),
        _c("due_date", "date", "到期日"),
        _c("payment_terms", "text", "收款条件", required=False),
        _c("currency", "currency", "币别"),
        _c("amount", "amount", "价税合计"),
    ), description="Invoices issued that day (Yonyou-style GB18030 export with Chinese headers).",
       key=("invoice_id",)),
    Feed("erp_credit_notes", "erp", "credit_notes_*.csv", "csv", (
        _c("credit_note_id"),
        _c("invoice_id"),
        _c("customer_id"),
        _c("credit_note_date", "date"),
        _c("currency", "currency"),
        _c("amount", "amount"),
        _c("reason", required=False),  # dispute, return, discount
    ), description="Credit notes against invoices.",
       key=("credit_note_id",)),
    Feed("erp_payments", "erp", "payments_*.csv", "csv", (
        _c("payment_id"),
        _c("customer_id"),
        _c("payment_date", "date"),
        _c("currency", "currency"),
        _c("payment_amount", "amount"),
        _c("invoice_id", required=False),  # empty: the unapplied remainder
        _c("applied_amount", "amount"),
        _c("bank_reference", required=False),
    ), description="Payments received and their application to invoices, one row per application.",
       key=("payment_id", "invoice_id")),
    Feed("erp_write_offs", "erp", "write_offs_*.csv", "csv", (
        _c("write_off_id"),
        _c("invoice_id"),
        _c("customer_id"),
        _c("write_off_date", "date"),
        _c("currency", "currency"),
        _c("amount", "amount"),
        _c("reason", required=False),
    ), description="Receivables written off.",
       key=("write_off_id",)),
    Feed("erp_open_items", "erp", "open_items_*.csv", "csv", (
        _c("as_of_date", "date"),
        _c("invoice_id"),
        _c("customer_id"),
        _c("currency", "currency"),
        _c("open_amount", "amount"),
        _c("due_date", "date"),
    ), description="The ERP's own open-items report at each month-end: what the marts reconcile to.",
       key=("as_of_date", "invoice_id")),
    Feed("erp_fx_rates", "erp", "fx_rates_*.csv", "csv", (
        _c("rate_date", "date"),
        _c("currency", "currency"),
        _c("cny_per_unit", "rate"),
    ), description="Daily exchange rates to CNY.",
       key=("rate_date", "currency")),
    # --- CRM (UTF-8, English headers; keyed independently of the ERP) ---
    Feed("crm_accounts", "crm", "accounts_*.csv", "csv", (
        _c("account_id"),
        _c("account_name"),
        _c("uscc", "uscc", required=False),
        _c("city", required=False),
        _c("industry", required=False),
        _c("owner_id", required=False),
        _c("created_date", "date", required=False),
    ), description="CRM accounts, weekly full extract.",
       key=("account_id",)),
    Feed("crm_contacts", "crm", "contacts_*.csv", "csv", (
        _c("contact_id"),
        _c("account_id"),
        _c("contact_name", pii=True),
        _c("title", required=False),
        _c("mobile", "mobile", required=False, pii=True),
        _c("email", "email", required=False, pii=True),
    ), description="CRM contacts, weekly full extract.",
       key=("contact_id",)),
    Feed("crm_owners", "crm", "owners_*.csv", "csv", (
        _c("owner_id"),
        _c("owner_name", pii=True),
        _c("email", "email", required=False, pii=True),
        _c("team", required=False),
    ), description="Sales reps who own accounts (and make the collection calls).",
       key=("owner_id",)),
    # --- Bank statements: one table, several formats ---
    Feed("bank_camt053", "bank", "camt053_*.xml", "camt053", BANK_ENTRY_COLUMNS,
         table="bank_statement_entries",
       key=("account_id", "entry_reference"), description="ISO 20022 camt.053 end-of-day statements."),
    Feed("bank_camt054", "bank", "camt054_*.xml", "camt054", BANK_ENTRY_COLUMNS,
         table="bank_statement_entries",
       key=("account_id", "entry_reference"), description="ISO 20022 camt.054 credit notifications."),
    Feed("bank_mt940", "bank", "mt940_*.sta", "mt940", BANK_ENTRY_COLUMNS,
         table="bank_statement_entries",
       key=("account_id", "entry_reference"), description="SWIFT MT940 statements."),
    Feed("bank_bai2", "bank", "bai2_*.txt", "bai2", BANK_ENTRY_COLUMNS,
         table="bank_statement_entries",
       key=("account_id", "entry_reference"), description="BAI2 statements (US banks)."),
    Feed("bank_cn_csv", "bank", "cnbank_*.csv", "csv", BANK_ENTRY_COLUMNS,
         table="bank_statement_entries",
       key=("account_id", "entry_reference"), description="A Chinese bank's CSV export (GB18030, Chinese headers)."),
    # --- Bureau ---
    Feed("bureau_company_reports", "bureau", "company_reports_*.jsonl", "jsonl", (
        _c("subject_id"),
        _c("uscc", "uscc", required=False),
        _c("company_name"),
        _c("report_date", "date"),
        _c("registration_status"),  # 存续 active, 注销 deregistered, 吊销 revoked
        _c("registered_capital", "amount", required=False),
        _c("established_date", "date", required=False),
        _c("litigation_count", "integer", required=False),
        _c("is_dishonest_debtor", "boolean", required=False),
        _c("is_business_anomaly", "boolean", required=False),
        _c("admin_penalty_count", "integer", required=False),
        _c("bureau_score", "integer", required=False),
    ), description="Weekly company reports from a business information provider.",
       key=("subject_id", "report_date")),
    Feed("bureau_events", "bureau", "bureau_events_*.csv", "csv", (
        _c("event_id"),
        _c("subject_id"),
        _c("uscc", "uscc", required=False),
        _c("event_date", "date"),
        _c("event_type"),  # litigation, dishonest_debtor, business_anomaly, admin_penalty, deregistration, revocation
        _c("amount", "amount", required=False),
        _c("description", required=False),
    ), description="Adverse events reported in the week.",
       key=("event_id",)),
)


def feed_for(source: str, file_name: str) -> Feed | None:
    return next((feed for feed in FEEDS if feed.matches(source, file_name)), None)


def feed_named(name: str) -> Feed:
    for feed in FEEDS:
        if feed.name == name:
            return feed
    raise KeyError(name)


def raw_tables() -> dict[str, list[Feed]]:
    """Raw table name -> the feeds that load into it (they share its columns)."""
    tables: dict[str, list[Feed]] = {}
    for feed in FEEDS:
        tables.setdefault(feed.table_name, []).append(feed)
    return tables
