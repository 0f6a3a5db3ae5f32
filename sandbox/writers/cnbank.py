"""A Chinese bank's statement export (CSV, GB18030, Chinese headers): one row per entry, 借贷标志 贷
for credits and 借 for debits, the statement id in its own column."""

from __future__ import annotations

from sandbox.records import Statement


def cnbank_rows(statement: Statement) -> list[tuple]:
    """Rows in the bank-entry feed's column order (``ingestion.feeds.BANK_ENTRY_COLUMNS``)."""
    account = statement.account
    return [
        (statement.statement_id, account.account_id, entry.reference, statement.day, statement.day,
         "贷" if entry.is_credit else "借", entry.amount, account.currency, entry.end_to_end_id, entry.counterparty,
         entry.counterparty_account, entry.remittance)
        for entry in statement.entries
    ]
