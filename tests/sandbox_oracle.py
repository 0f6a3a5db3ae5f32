"""An independent Python reading of the sandbox's landing files: what the marts should say.

The warehouse computes exposure in SQL from raw tables; this computes it straight from the files
(decoded with the ingestion readers, which have their own tests), keeping for each business key
the latest delivery, as the ERP meant it. Tests compare the two amount by amount.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

from ingestion.feeds import delivery_number, extract_name, feed_named
from ingestion.readers import FileReport, read
from ingestion.validation import validate


def latest_rows(landing: Path, feed_name: str, up_to: date) -> list[dict]:
    """Valid rows of a feed up to a business date, the latest delivery of each key winning."""
    feed = feed_named(feed_name)
    files = []
    for path in landing.glob(f"{feed.source}/*/*"):
        business_date = date.fromisoformat(path.parent.name)
        if business_date <= up_to and feed.matches(feed.source, path.name):
            files.append((business_date, extract_name(path.name), delivery_number(path.name), path))
    # a later delivery of the same extract replaces the earlier one entirely
    latest_delivery = {}
    for business_date, extract, _delivery, path in sorted(files):
        latest_delivery[(business_date, extract)] = path
    rows: dict[tuple, dict] = {}
    for (_, _), path in sorted(latest_delivery.items()):
        for _, _, fields in read(path, feed, FileReport()):
            values, rejection = validate(feed, fields)
            if rejection is None:
                row = dict(zip([c.name for c in feed.columns], values, strict=True))
                rows[tuple(row[k] for k in feed.key)] = row
    return list(rows.values())


def expected_exposure(landing: Path, as_of: date) -> dict[str, dict[str, Decimal]]:
    """Per ERP customer: open receivables, open orders, unapplied cash, exposure and limit, in the
    limit's currency."""
    customers = {row["customer_id"]: row for row in latest_rows(landing, "erp_customers", as_of)}
    limits = {}
    for change in sorted(latest_rows(landing, "erp_credit_limits", as_of), key=lambda r: r["valid_from"]):
        if change["valid_from"] <= as_of:
            limits[change["customer_id"]] = (change["credit_limit"], change["currency"])
    rates = {}
    for rate in sorted(latest_rows(landing, "erp_fx_rates", as_of), key=lambda r: r["rate_date"]):
        if rate["rate_date"] <= as_of:
            rates[rate["currency"]] = rate["cny_per_unit"]
    rates["CNY"] = Decimal(1)

    reduced: dict[str, Decimal] = defaultdict(Decimal)
    unapplied: dict[str, list] = defaultdict(list)
    for payment in latest_rows(landing, "erp_payments", as_of):
        if payment["payment_date"] <= as_of:
            if payment["invoice_id"] is None:
                unapplied[payment["customer_id"]].append((payment["applied_amount"], payment["currency"]))
            else:
                reduced[payment["invoice_id"]] += payment["applied_amount"]
    for note in latest_rows(landing, "erp_credit_notes", as_of):
        if note["credit_note_date"] <= as_of:
            reduced[note["invoice_id"]] += note["amount"]
    for write_off in latest_rows(landing, "erp_write_offs", as_of):
        if write_off["write_off_date"] <= as_of:
            reduced[write_off["invoice_id"]] += write_off["amount"]

    amounts: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for invoice in latest_rows(landing, "erp_invoices", as_of):
        if invoice["invoice_date"] <= as_of:
            open_amount = invoice["amount"] - reduced[invoice["invoice_id"]]
            if open_amount > 0:
                amounts[invoice["customer_id"]]["open_receivables"].append((open_amount, invoice["currency"]))
    orders: dict[str, dict] = {}
    for event in latest_rows(landing, "erp_sales_orders", as_of):
        if event["status_date"] <= as_of:
            order = orders.setdefault(event["order_id"], {**event, "closed": False})
            order["closed"] |= event["status"].lower() in {"invoiced", "cancelled"}
    for order in orders.values():
        if not order["closed"]:
            amounts[order["customer_id"]]["open_orders"].append((order["order_amount"], order["currency"]))
    for customer_id, entries in unapplied.items():
        amounts[customer_id]["unapplied_cash"].extend(entries)

    result = {}
    for customer_id, customer in customers.items():
        limit, currency = limits.get(customer_id, (customer["credit_limit"], customer["currency"]))

        def total(kind: str, customer_id=customer_id, currency=currency) -> Decimal:
            return sum(
                (amount if amount_currency == currency else amount * rates[amount_currency] / rates[currency]
                 for amount, amount_currency in amounts[customer_id][kind]),
                Decimal(0),
            )

        open_ar, open_orders, cash = total("open_receivables"), total("open_orders"), total("unapplied_cash")
        result[customer_id] = {
            "open_receivables": open_ar.quantize(Decimal("0.01")),
            "open_orders": open_orders.quantize(Decimal("0.01")),
            "unapplied_cash": cash.quantize(Decimal("0.01")),
            "exposure": (open_ar + open_orders - cash).quantize(Decimal("0.01")),
            "credit_limit": limit,
            "currency": currency,
        }
    return result
