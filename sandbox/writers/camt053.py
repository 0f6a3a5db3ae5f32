"""ISO 20022 camt.053 end-of-day statements in the two versions banks actually send.

Element order follows the XSDs (BankToCustomerStatementV02 / V08): GrpHdr(MsgId, CreDtTm),
Stmt(Id, ElctrncSeqNb, CreDtTm, Acct, Bal+, TxsSummry, Ntry*). The versions differ where real
parsers trip: 001.02 writes the status as ``<Sts>BOOK</Sts>``, the debtor as
``<Dbtr><Nm>`` and the bank as ``<BIC>``; 001.08 writes ``<Sts><Cd>BOOK</Cd></Sts>``,
``<Dbtr><Pty><Nm>``, ``<BICFI>`` and repeats the amount in the transaction details.
"""

from __future__ import annotations

from datetime import date
from xml.sax.saxutils import escape

from sandbox.records import BankEntry, Statement
from sandbox.writers.tabular import money

NAMESPACES = {
    "camt053.001.02": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02",
    "camt053.001.08": "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08",
}
# ISO bank transaction codes: domain, family, sub-family.
_TRANSACTION_CODES = {
    "customer_payment": ("PMNT", "RCDT", "DMCT"),
    "supplier_payment": ("PMNT", "ICDT", "DMCT"),
    "bank_fee": ("ACMT", "MDOP", "CHRG"),
}


def _account(number: str) -> str:
    if number[:2].isalpha():
        return f"<Id><IBAN>{number}</IBAN></Id>"
    return f"<Id><Othr><Id>{escape(number)}</Id></Othr></Id>"


def _balance(code: str, cents: int, currency: str, day: str) -> str:
    indicator = "CRDT" if cents >= 0 else "DBIT"
    return (f"      <Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
            f"<Amt Ccy=\"{currency}\">{money(abs(cents))}</Amt>"
            f"<CdtDbtInd>{indicator}</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>")


def _entry(entry: BankEntry, currency: str, day: str, version8: bool) -> str:
    indicator = "CRDT" if entry.is_credit else "DBIT"
    amount = f"<Amt Ccy=\"{currency}\">{money(entry.amount)}</Amt>"
    domain, family, sub_family = _TRANSACTION_CODES[entry.kind]
    status = "<Sts><Cd>BOOK</Cd></Sts>" if version8 else "<Sts>BOOK</Sts>"
    party_role, account_role = ("Dbtr", "DbtrAcct") if entry.is_credit else ("Cdtr", "CdtrAcct")
    parties = ""
    if entry.counterparty:
        name = f"<Nm>{escape(entry.counterparty)}</Nm>"
        party = f"<Pty>{name}</Pty>" if version8 else name
        party = f"<{party_role}>{party}</{party_role}>"
        account = (f"<{account_role}>{_account(entry.counterparty_account)}</{account_role}>"
                   if entry.counterparty_account else "")
        parties = f"\n            <RltdPties>{party}{account}</RltdPties>"
    remittance = f"\n            <RmtInf><Ustrd>{escape(entry.remittance)}</Ustrd></RmtInf>" if entry.remittance else ""
    repeated_amount = f"\n            {amount}<CdtDbtInd>{indicator}</CdtDbtInd>" if version8 else ""
    return f"""      <Ntry>
        {amount}
        <CdtDbtInd>{indicator}</CdtDbtInd>
        {status}
        <BookgDt><Dt>{day}</Dt></BookgDt>
        <ValDt><Dt>{day}</Dt></ValDt>
        <AcctSvcrRef>{escape(entry.reference)}</AcctSvcrRef>
        <BkTxCd><Domn><Cd>{domain}</Cd><Fmly><Cd>{family}</Cd><SubFmlyCd>{sub_family}</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls>
          <TxDtls>
            <Refs><EndToEndId>{escape(entry.end_to_end_id)}</EndToEndId></Refs>{repeated_amount}{parties}{remittance}
          </TxDtls>
        </NtryDtls>
      </Ntry>"""


def camt053_document(statement: Statement) -> str:
    account = statement.account
    version8 = account.format == "camt053.001.08"
    business_day = date.fromordinal(statement.day)
    day = business_day.isoformat()
    created = f"{day}T23:45:00+08:00"  # from the business date, never the clock: output stays reproducible
    currency = account.currency
    credits = [e.amount for e in statement.entries if e.is_credit]
    debits = [e.amount for e in statement.entries if not e.is_credit]
    bic = f"<BICFI>{account.bic}</BICFI>" if version8 else f"<BIC>{account.bic}</BIC>"
    summary = (f"<TtlCdtNtries><NbOfNtries>{len(credits)}</NbOfNtries><Sum>{money(sum(credits))}</Sum></TtlCdtNtries>"
               f"<TtlDbtNtries><NbOfNtries>{len(debits)}</NbOfNtries><Sum>{money(sum(debits))}</Sum></TtlDbtNtries>")
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<Document xmlns="{NAMESPACES[account.format]}">',
        "  <BkToCstmrStmt>",
        "    <GrpHdr>",
        f"      <MsgId>{account.bic}{business_day:%Y%m%d}{statement.number:05d}</MsgId>",
        f"      <CreDtTm>{created}</CreDtTm>",
        "    </GrpHdr>",
        "    <Stmt>",
        f"      <Id>{statement.statement_id}</Id>",
        f"      <ElctrncSeqNb>{statement.number}</ElctrncSeqNb>",
        f"      <CreDtTm>{created}</CreDtTm>",
        f"      <Acct>{_account(account.account_id)}<Ccy>{currency}</Ccy>"
        f"<Svcr><FinInstnId>{bic}</FinInstnId></Svcr></Acct>",
        _balance("OPBD", statement.opening, currency, day),
        _balance("CLBD", statement.closing, currency, day),
        f"      <TxsSummry>{summary}</TxsSummry>",
        *(_entry(e, currency, day, version8) for e in statement.entries),
        "    </Stmt>",
        "  </BkToCstmrStmt>",
        "</Document>",
    ]
    return "\n".join(lines) + "\n"
