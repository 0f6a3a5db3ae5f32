"""Day by day: orders, invoices, credit notes, payments through the banks into the ERP, credit
limit decisions, defaults and write-offs, bureau events, CRM upkeep.

The simulation starts a warm-up period before the first business date so that receivables are
open and payments flow from day one; nothing is delivered for warm-up days, except that the first
delivery carries what an initial load would (open invoices with the payments and credit notes
already booked against them, open orders, current credit limits). Only open state is kept:
settled invoices and finished orders are dropped, and every day's output goes to the sink at
once, so memory grows with the number of customers, not with the length of the period.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from sandbox.bank import Banks
from sandbox.days import add_business_days, is_business_day, is_first_of_month, is_month_end, next_business_day, weekday
from sandbox.population import BureauEvent, Customer, Population, Weighted, initial_credit_limit, nice_amount, pick
from sandbox.records import Invoice, Order, Statement, Transfer
from sandbox.reference import CREDIT_ANALYSTS

WARM_UP_DAYS = 150
FX_START = {"USD": 7.10, "EUR": 7.75, "HKD": 0.912, "GBP": 9.05, "JPY": 0.0475}
_WRITE_OFF_REASONS = ("customer insolvent", "uncollectible after legal action", "customer ceased trading")
_INVOICING_LAGS = Weighted((0, 1, 2, 3, 5, 8, 12), (10, 25, 25, 15, 15, 7, 3))  # business days, order to invoice
_BOOKING_LAGS = Weighted((0, 1, 2), (60, 30, 10))  # business days, bank receipt to ERP booking


class Sink(Protocol):
    """Where the simulated systems deliver (files, or nothing when only the behaviour matters)."""

    def rows(self, feed: str, day: int, rows: list[tuple], *, is_delta: bool) -> None: ...

    def statement(self, statement: Statement) -> None: ...

    def entity(self, system: str, record_id: str, true_id: str) -> None: ...


class NullSink:
    def rows(self, feed: str, day: int, rows: list[tuple], *, is_delta: bool) -> None:
        pass

    def statement(self, statement: Statement) -> None:
        pass

    def entity(self, system: str, record_id: str, true_id: str) -> None:
        pass


@dataclass(slots=True)
class Agenda:
    """What is due on one day."""

    creations: list[Customer] = field(default_factory=list)
    arrivals: list[Customer] = field(default_factory=list)
    order_outcomes: list[tuple[Order, bool]] = field(default_factory=list)  # (order, cancelled)
    credit_notes: list[tuple[Invoice, int, str]] = field(default_factory=list)
    receipts: dict[int, list[tuple[Invoice, int, bool]]] = field(default_factory=dict)  # by id(customer)
    bookings: list[Transfer] = field(default_factory=list)
    reviews: list[tuple[Customer, str]] = field(default_factory=list)  # (customer, trigger)
    blocks: list[Customer] = field(default_factory=list)
    write_offs: list[Customer] = field(default_factory=list)
    bureau_events: list[tuple[Customer, BureauEvent]] = field(default_factory=list)


@dataclass
class Counts:
    invoices: int = 0
    payments: int = 0
    bank_entries: int = 0
    over_limit_checks: int = 0
    over_limit: int = 0


class Simulation:
    def __init__(self, population: Population, rng: random.Random, *, start: int, end: int, sink: Sink):
        self.population = population
        self.customers = population.customers
        self.rng = rng
        self.sim_start = start - WARM_UP_DAYS
        self.start, self.end = start, end
        self.sink = sink
        self.agenda: dict[int, Agenda] = {}
        self.business_days = [d for d in range(self.sim_start, end + 1) if is_business_day(d)]
        self.business_index = {d: i for i, d in enumerate(self.business_days)}
        self.next_arrival: dict[int, float] = {}  # id(customer) -> business-day index of its next order
        self.banks = Banks(rng, len(self.customers))
        self.fx = dict(FX_START)
        self.counters: dict[str, int] = {}
        # the company has been invoicing for years: numbers do not start at 1
        self.invoice_number, self.export_invoice_number = 37_000_000, 120_000
        self.bureau_event_number = 0
        self.counts = Counts()
        self.recording = False
        self.reps_by_team: dict[str, list] = {}
        for rep in population.sales_reps:
            self.reps_by_team.setdefault(rep.team, []).append(rep)
        self.bureau_inbox: list[tuple[Customer, BureauEvent, str]] = []  # reported at the next delivery
        self.today = self._fresh_outputs()
        self.changed_customers: dict[str, Customer] = {}
        self.current_day = self.sim_start
        self.day_code = ""

    # --- scheduling -------------------------------------------------------------------------

    def _on(self, day: int) -> Agenda:
        """The agenda of ``day``, today's included: what is scheduled for today still happens today."""
        assert day >= self.current_day, f"scheduling into the past: {day} < {self.current_day}"
        agenda = self.agenda.get(day)
        if agenda is None:
            agenda = self.agenda[day] = Agenda()
        return agenda

    def _number(self, prefix: str, width: int = 5) -> str:
        """Today's next document number of a kind: prefix, YYMMDD, running number (SO26100500012)."""
        self.counters[prefix] = number = self.counters.get(prefix, 0) + 1
        return f"{prefix}{self.day_code}{number:0{width}d}"

    def _schedule_order(self, customer: Customer, when: float) -> None:
        """Orders arrive as a Poisson process in business-day time; ``when`` is the next one's."""
        if int(when) < len(self.business_days):
            self.next_arrival[id(customer)] = when
            self._on(self.business_days[int(when)]).arrivals.append(customer)

    def run(self, progress: Callable[[int, int], None] | None = None) -> Counts:
        for customer in self.customers:
            if customer.created <= self.sim_start:
                self._open_account(customer, self.sim_start, valid_from=max(
                    customer.created, self.sim_start - self.rng.randint(0, 365)))
            else:
                self._on(customer.created).creations.append(customer)
            for event in customer.bureau_events:
                self._on(event.day).bureau_events.append((customer, event))
            if customer.block_day is not None:
                self._on(customer.block_day).blocks.append(customer)
            if customer.write_off_day is not None:
                self._on(customer.write_off_day).write_offs.append(customer)
        days = range(self.sim_start, self.end + 1)
        for done, day in enumerate(days, start=1):
            self._simulate_day(day)
            if progress is not None:
                progress(done, len(days))
        return self.counts

    def _open_account(self, customer: Customer, day: int, *, valid_from: int) -> None:
        customer.credit_limit = initial_credit_limit(self.rng, customer)
        customer.limit_valid_from = valid_from
        customer.limit_changed_by = self.rng.choice(CREDIT_ANALYSTS)
        customer.limit_reason = "new customer" if valid_from == customer.created else "annual review"
        customer.next_review = next_business_day(valid_from + (365 if customer.quality > 0.6 else 182))
        while customer.next_review <= day:
            customer.next_review = next_business_day(customer.next_review + 182)
        self._on(customer.next_review).reviews.append((customer, "periodic"))
        index = self.business_index.get(next_business_day(day))
        if index is not None:
            self._schedule_order(customer, index + self.rng.expovariate(customer.orders_per_business_day))

    # --- one day --------------------------------------------------------------------------------

    def _fresh_outputs(self) -> dict[str, list[tuple]]:
        return {feed: [] for feed in ("erp_sales_orders", "erp_invoices", "erp_credit_notes", "erp_payments",
                                      "erp_write_offs", "erp_credit_limits")}

    def _simulate_day(self, day: int) -> None:
        self.recording = day >= self.start
        self.current_day = day
        self.day_code = f"{date.fromordinal(day):%y%m%d}"
        self.counters = {}
        agenda = self._on(day)
        if day == self.start:
            self._initial_load()
        if is_business_day(day):
            for customer in agenda.creations:
                self._open_account(customer, day, valid_from=day)
                self._emit("erp_credit_limits", self._limit_row(customer))
                self.changed_customers[customer.erp_id] = customer
            self._orders(day, agenda.arrivals)
            for order, cancelled in agenda.order_outcomes:
                self._settle_order(order, cancelled, day)
            for invoice, amount, reason in agenda.credit_notes:
                self._credit_note(invoice, amount, reason, day)
            for parts in agenda.receipts.values():
                self._receive(parts, day)
            for transfer in agenda.bookings:
                self._book(transfer, day)
            for customer in agenda.blocks:
                self._block(customer, day)
            for customer, trigger in agenda.reviews:
                self._review(customer, trigger, day)
            for customer in agenda.write_offs:
                self._write_off(customer, day)
            self._master_data_upkeep(day)
            statements = self.banks.close_day(day)
            self._move_fx()
        else:
            statements = []
        if self.recording:
            self._deliver(day, statements)
        if weekday(day) == 0 or day == self.start:
            self._crm_upkeep(day)
            self._bureau_delivery(day)
        for customer, event in agenda.bureau_events:
            self._bureau_event(customer, event)
        del self.agenda[day]
        self.today = self._fresh_outputs()
        self.changed_customers = {}

    # --- sales ----------------------------------------------------------------------------------

    def _orders(self, day: int, arrivals: list[Customer]) -> None:
        rng = self.rng
        index = self.business_index[day]
        for customer in arrivals:
            if customer.status != "正常":
                continue  # blocked: sales stop taking orders
            when = self.next_arrival[id(customer)]
            while when < index + 1:
                amount = max(10_000, int(customer.mean_order * rng.lognormvariate(-0.125, 0.5)) // 100 * 100)
                order = Order(self._number("SO"), customer, day, amount)
                customer.orders[order.order_id] = order
                customer.open_orders += amount
                self._emit("erp_sales_orders", self._order_row(order, "open", day))
                # Over the limit, the credit desk holds the order; some are never released.
                held = customer.exposure > customer.credit_limit and rng.random() < 0.3
                cancelled = held or rng.random() < 0.03
                lag = pick(rng, _INVOICING_LAGS)
                self._on(add_business_days(day, lag)).order_outcomes.append((order, cancelled))
                when += rng.expovariate(customer.orders_per_business_day)
            self._schedule_order(customer, when)

    def _order_row(self, order: Order, status: str, day: int) -> tuple:
        c = order.customer
        return order.order_id, c.erp_id, order.day, c.currency, order.amount, status, day

    def _settle_order(self, order: Order, cancelled: bool, day: int) -> None:
        customer = order.customer
        if customer.orders.pop(order.order_id, None) is None:
            return  # cancelled when the customer was blocked
        customer.open_orders -= order.amount
        if cancelled or customer.status != "正常":
            self._emit("erp_sales_orders", self._order_row(order, "cancelled", day))
            return
        self._emit("erp_sales_orders", self._order_row(order, "invoiced", day))
        year = date.fromordinal(day).year % 100
        if customer.company.is_foreign:
            self.export_invoice_number += 1
            invoice_id = f"EXP{year:02d}{self.export_invoice_number:07d}"
        else:  # a fully digitalised VAT e-invoice number (全电发票号码): 20 digits
            self.invoice_number += 1
            invoice_id = f"{year:02d}312000{self.invoice_number:012d}"
        invoice = Invoice(invoice_id, customer, order.order_id, day, day + customer.terms_days, order.amount,
                          order.amount, history=None if self.recording else [])
        customer.open_invoices[invoice_id] = invoice
        customer.open_receivables += invoice.amount
        if self.recording:
            self.counts.invoices += 1
        self._emit("erp_invoices", self._invoice_row(invoice))
        self._plan_settlement(invoice)

    def _invoice_row(self, invoice: Invoice) -> tuple:
        c = invoice.customer
        return (invoice.invoice_id, c.erp_id, invoice.order_id, invoice.day, invoice.due, c.terms, c.currency,
                invoice.amount)

    # --- how an invoice will be settled -----------------------------------------------------

    def _plan_settlement(self, invoice: Invoice) -> None:
        """Decide now, from the customer's (hidden) state at the due date, how the invoice gets
        settled: credit notes, one payment or several, late or not, or never (default)."""
        rng = self.rng
        customer = invoice.customer
        distress = customer.distress(invoice.due)
        payable = invoice.amount
        not_before = invoice.day + 3
        later: list[tuple[int, int]] = []  # extra (day, amount) parts
        roll = rng.random()
        dispute = customer.dispute_base + 0.10 * distress
        if roll < dispute:  # the customer contests part of the invoice and pays the rest
            disputed = max(100, int(payable * rng.uniform(0.1, 1.0)))
            resolved = next_business_day(invoice.day + rng.randint(20, 70))
            if rng.random() < 0.6:
                self._on(resolved).credit_notes.append((invoice, disputed, "dispute"))
            else:
                later.append((resolved + rng.randint(3, 20), disputed))
            payable -= disputed
        elif roll < dispute + 0.05:
            reason = "return" if roll < dispute + 0.02 else "discount"
            share = rng.uniform(0.1, 1.0) if reason == "return" else rng.uniform(0.01, 0.05)
            credited = max(100, min(payable, int(payable * share)))
            noted = next_business_day(invoice.day + (rng.randint(3, 25) if reason == "return" else rng.randint(1, 10)))
            self._on(noted).credit_notes.append((invoice, credited, reason))
            payable -= credited
            not_before = max(not_before, noted + 1)
        cap = invoice.due + (85 if customer.default_day is not None else 70)  # solvent payers settle before 90 DPD
        delay = rng.gauss(customer.late_mean + 40 * distress, customer.late_spread)
        pay_day = min(cap, self._by_habit(customer, max(not_before, invoice.due + round(delay))))
        parts = []
        if payable > 0:
            partial_share = rng.uniform(0.3, 0.8)
            first = int(payable * partial_share) // 10_000 * 10_000
            if rng.random() < customer.partial_base + 0.5 * distress and 0 < first < payable:
                parts = [(pay_day, first), (min(cap, pay_day + rng.randint(14, 45)), payable - first)]
            else:
                parts = [(pay_day, payable)]
        for day, amount in parts + later:
            day = next_business_day(day)
            if day > self.end or (customer.default_day is not None and day >= customer.default_day):
                continue  # beyond the horizon, or the customer has stopped paying by then
            self._on(day).receipts.setdefault(id(customer), []).append((invoice, amount, len(parts) > 1))

    def _by_habit(self, customer: Customer, day: int) -> int:
        habit = customer.pay_habit
        if habit[0] == "weekly":
            return day + (habit[1] - weekday(day)) % 7
        if habit[0] == "monthly":
            value = date.fromordinal(day)
            if value.day <= habit[1]:
                return day + habit[1] - value.day
            following = date(value.year + value.month // 12, value.month % 12 + 1, habit[1])
            return following.toordinal()
        return day

    def _credit_note(self, invoice: Invoice, amount: int, reason: str, day: int) -> None:
        customer = invoice.customer
        if customer.open_invoices.get(invoice.invoice_id) is not invoice:
            return  # written off meanwhile
        amount = min(amount, invoice.open)
        row = (self._number("CN"), invoice.invoice_id, customer.erp_id, day, customer.currency, amount,
               reason)
        self._emit("erp_credit_notes", row)
        if invoice.history is not None:
            invoice.history.append(("erp_credit_notes", row))
        self._reduce(invoice, amount)

    def _reduce(self, invoice: Invoice, amount: int) -> None:
        invoice.open -= amount
        invoice.customer.open_receivables -= amount
        if invoice.open == 0:
            del invoice.customer.open_invoices[invoice.invoice_id]

    # --- cash -----------------------------------------------------------------------------------

    def _receive(self, parts: list[tuple[Invoice, int, bool]], day: int) -> None:
        """The customer's bank sends the money: one transfer for everything due, or one each."""
        rng = self.rng
        customer = parts[0][0].customer
        if len(parts) > 1 and rng.random() < 0.85:
            groups = [parts[i:i + 15] for i in range(0, len(parts), 15)]
        else:
            groups = [[part] for part in parts]
        for group in groups:
            total = sum(amount for _, amount, _ in group)
            overpaid = 0
            if rng.random() < 0.01:  # rounded up to the next thousand: the rest stays unapplied
                overpaid = (-total) % 100_000
            per_invoice: dict[str, list] = {}  # two parts of one invoice due the same day: one application
            for invoice, amount, _ in group:
                per_invoice.setdefault(invoice.invoice_id, [invoice, 0])[1] += amount
            transfer = Transfer(customer, "", day, [(invoice, amount) for invoice, amount in per_invoice.values()],
                                overpaid)
            entry = self.banks.receive(transfer, day, partial=any(partial for _, _, partial in group))
            transfer.bank_reference = entry.reference
            if self.recording:
                self.counts.bank_entries += 1
            lag = pick(rng, _BOOKING_LAGS)
            self._on(add_business_days(day, lag)).bookings.append(transfer)

    def _book(self, transfer: Transfer, day: int) -> None:
        """The ERP books the receipt and applies it to the invoices (one row per application)."""
        customer = transfer.customer
        payment_id = self._number("SK")
        unapplied = transfer.overpaid
        rows = []
        for invoice, amount in transfer.parts:
            if customer.open_invoices.get(invoice.invoice_id) is not invoice:
                unapplied += amount
                continue
            applied = min(amount, invoice.open)
            unapplied += amount - applied
            row = (payment_id, customer.erp_id, day, customer.currency, transfer.amount, invoice.invoice_id, applied,
                   transfer.bank_reference)
            rows.append(row)
            if invoice.history is not None:
                invoice.history.append(("erp_payments", row))
            self._reduce(invoice, applied)
            if invoice.open == 0:
                customer.late_average = 0.8 * customer.late_average + 0.2 * (day - invoice.due)
        if unapplied:
            row = (payment_id, customer.erp_id, day, customer.currency, transfer.amount, None, unapplied,
                   transfer.bank_reference)
            rows.append(row)
            customer.unapplied += unapplied
            if not self.recording:
                customer.unapplied_history.append(row)
        for row in rows:
            self._emit("erp_payments", row)
        if self.recording:
            self.counts.payments += 1

    # --- credit management ----------------------------------------------------------------------

    def _set_limit(self, customer: Customer, new_limit: int, day: int, reason: str) -> None:
        customer.previous_limit = customer.credit_limit
        customer.credit_limit = new_limit
        customer.limit_valid_from = day
        customer.limit_changed_by = self.rng.choice(CREDIT_ANALYSTS)
        customer.limit_reason = reason
        self._emit("erp_credit_limits", self._limit_row(customer))
        self.changed_customers[customer.erp_id] = customer

    @staticmethod
    def _limit_row(customer: Customer) -> tuple:
        return (customer.erp_id, customer.limit_valid_from, customer.credit_limit, customer.currency,
                customer.previous_limit, customer.limit_changed_by, customer.limit_reason)

    def _review(self, customer: Customer, trigger: str, day: int) -> None:
        """A periodic review (yearly, half-yearly for weaker customers) or one triggered by a bureau
        event. At most one limit change per customer and day."""
        if trigger == "periodic":
            customer.next_review = next_business_day(day + (365 if customer.quality > 0.6 else 182))
            if customer.next_review <= self.end:
                self._on(customer.next_review).reviews.append((customer, "periodic"))
        if customer.status != "正常" or customer.limit_valid_from == day:
            return
        rng = self.rng
        limit = customer.credit_limit
        minimum = 5_000_00 if customer.company.is_foreign else 20_000_00
        if trigger != "periodic":
            if rng.random() < {"dishonest_debtor": 0.8, "litigation": 0.3, "business_anomaly": 0.3}.get(trigger, 0.1):
                self._set_limit(customer, nice_amount(limit * rng.uniform(0.4, 0.7), minimum), day,
                                f"bureau alert: {trigger.replace('_', ' ')}")
            return
        recent_litigation = sum(1 for d in customer.litigation_days if d > day - 180)
        adverse = customer.dishonest or customer.anomaly_until > day or recent_litigation > 0
        late = customer.late_average
        utilisation = customer.exposure / limit if limit else 1.0
        if customer.dishonest or late > 30 or (adverse and late > 10):
            reason = "review: adverse bureau events" if adverse else "review: payment delays"
            self._set_limit(customer, nice_amount(limit * rng.uniform(0.5, 0.8), minimum), day, reason)
        elif utilisation > 0.6 and late < 8 and not adverse:
            self._set_limit(customer, nice_amount(limit * rng.uniform(1.2, 1.6), minimum), day,
                            "annual review: increase")
        elif utilisation < 0.15 and rng.random() < 0.3:
            self._set_limit(customer, nice_amount(limit * 0.7, minimum), day, "annual review: low utilisation")

    def _block(self, customer: Customer, day: int) -> None:
        """The credit desk notices the arrears: account blocked, limit to zero, open orders cancelled."""
        customer.status = "冻结"
        self._set_limit(customer, 0, day, "credit hold: overdue receivables")
        for order in customer.orders.values():
            self._emit("erp_sales_orders", self._order_row(order, "cancelled", day))
        customer.orders = {}
        customer.open_orders = 0

    def _write_off(self, customer: Customer, day: int) -> None:
        if not customer.open_invoices:
            customer.write_off_day = None  # nothing left to write off
            return
        reason = self.rng.choice(_WRITE_OFF_REASONS)
        for invoice in list(customer.open_invoices.values()):
            self._emit("erp_write_offs", (self._number("WO", 4), invoice.invoice_id, customer.erp_id, day,
                                          customer.currency, invoice.open, reason))
            self._reduce(invoice, invoice.open)
        customer.write_off_day = day

    def _master_data_upkeep(self, day: int) -> None:
        """A few customers a day get their master record touched (a new mobile number for the
        legal representative), which puts them in that day's delta."""
        rng = self.rng
        for _ in range(int(len(self.customers) * 0.0005 + rng.random())):
            customer = self.customers[rng.randrange(len(self.customers))]
            if customer.created <= day and not customer.company.is_foreign:
                customer.legal_rep_mobile = rng.choice(("139", "186", "151")) + f"{rng.randrange(10**8):08d}"
                self.changed_customers[customer.erp_id] = customer

    def _move_fx(self) -> None:
        for currency, rate in self.fx.items():
            self.fx[currency] = rate * math.exp(self.rng.gauss(0, 0.003) + 0.02 * math.log(FX_START[currency] / rate))

    # --- CRM and bureau -------------------------------------------------------------------------

    def _crm_upkeep(self, day: int) -> None:
        """Accounts change hands now and then; the CRM's weekly full extract follows."""
        rng = self.rng
        accounts = self.population.crm_accounts
        for _ in range(int(len(accounts) * 0.002 + rng.random())):
            account = accounts[rng.randrange(len(accounts))]
            account.owner = rng.choice(self.reps_by_team[account.owner.team])
        if not self.recording:
            return
        visible = [a for a in accounts if a.created <= day]
        for account in visible:
            self.sink.entity("crm", account.account_id, account.company.true_id)
        self.sink.rows("crm_accounts", day, [
            (a.account_id, a.name, a.uscc, a.city, a.industry, a.owner.owner_id, a.created) for a in visible
        ], is_delta=False)
        self.sink.rows("crm_contacts", day, [
            (c.contact_id, a.account_id, c.person.name, c.title, c.person.mobile, c.email)
            for a in visible for c in a.contacts
        ], is_delta=False)
        self.sink.rows("crm_owners", day, [
            (r.owner_id, r.person.name, r.email, r.team) for r in self.population.sales_reps
        ], is_delta=False)

    def _bureau_event(self, customer: Customer, event: BureauEvent) -> None:
        match event.kind:
            case "litigation":
                customer.litigation_days.append(event.day)
            case "admin_penalty":
                customer.penalty_days.append(event.day)
            case "dishonest_debtor":
                customer.dishonest = True
            case "business_anomaly":
                customer.anomaly_until = max(customer.anomaly_until, event.lasts_until)
            case "deregistration":
                customer.registration_status = "注销"
            case "revocation":
                customer.registration_status = "吊销"
        self.bureau_event_number += 1
        event_id = f"EV{date.fromordinal(event.day):%y}{self.bureau_event_number:08d}"
        self.bureau_inbox.append((customer, event, event_id))

    def _bureau_delivery(self, day: int) -> None:
        """The bureau's weekly delivery: a report per monitored company and the week's adverse
        events. The credit desk reads it and reviews the customers concerned."""
        rng = self.rng
        events, self.bureau_inbox = self.bureau_inbox, []
        for customer, event, _ in events:
            if event.kind in ("deregistration", "revocation"):
                if customer.status == "正常" and customer.block_day is None:
                    customer.block_day = add_business_days(day, rng.randint(1, 5))
                    self._on(customer.block_day).blocks.append(customer)
            else:
                self._on(add_business_days(day, rng.randint(1, 10))).reviews.append((customer, event.kind))
        if not self.recording:
            return
        reports = []
        for customer in self.customers:
            if not customer.company.is_foreign and customer.created <= day:
                reports.append(self._bureau_report(customer, day))
                self.sink.entity("bureau", customer.company.subject_id, customer.company.true_id)
        self.sink.rows("bureau_company_reports", day, reports, is_delta=False)
        self.sink.rows("bureau_events", day, [
            (event_id, c.company.subject_id, c.company.uscc, e.day, e.kind, e.amount, e.description)
            for c, e, event_id in events
        ], is_delta=True)

    def _bureau_report(self, customer: Customer, day: int) -> tuple:
        company = customer.company
        litigations = customer.initial_litigations + len(customer.litigation_days)
        recent = sum(1 for d in customer.litigation_days if d > day - 180)
        penalties = customer.initial_penalties + len(customer.penalty_days)
        anomaly = customer.anomaly_until > day
        score = (380 + 420 * customer.quality - 200 * customer.distress(day) - 30 * min(recent, 4)
                 - 150 * customer.dishonest - 50 * anomaly - 10 * min(penalties, 3) + self.rng.gauss(0, 10))
        if customer.registration_status != "存续":
            score = 300
        return (company.subject_id, company.uscc, company.legal_name, day, customer.registration_status,
                company.registered_capital, company.established, litigations, customer.dishonest, anomaly, penalties,
                int(min(950, max(300, score))))

    # --- delivery ---------------------------------------------------------------------------------

    def _emit(self, feed: str, row: tuple) -> None:
        if self.recording:
            self.today[feed].append(row)

    def _initial_load(self) -> None:
        """What a first extract carries: open invoices with what was booked against them, open
        orders, the unapplied cash, every customer's current limit."""
        self.recording = True
        for customer in self.customers:
            for invoice in customer.open_invoices.values():
                self.today["erp_invoices"].append(self._invoice_row(invoice))
                for feed, row in invoice.history:
                    self.today[feed].append(row)
                invoice.history = None
            self.today["erp_payments"].extend(customer.unapplied_history)
            customer.unapplied_history = []
            if customer.created < self.start:
                self.today["erp_credit_limits"].append(self._limit_row(customer))
        for customer in self.customers:
            for order in customer.orders.values():
                self.today["erp_sales_orders"].append(self._order_row(order, "open", order.day))

    def _deliver(self, day: int, statements: list[Statement]) -> None:
        sink = self.sink
        initial = day == self.start
        if is_business_day(day) or initial:
            for feed in ("erp_sales_orders", "erp_invoices", "erp_payments"):
                sink.rows(feed, day, self.today[feed], is_delta=True)
        for feed in ("erp_credit_notes", "erp_write_offs", "erp_credit_limits"):
            if self.today[feed]:
                sink.rows(feed, day, self.today[feed], is_delta=True)
        if initial or is_first_of_month(day):
            self._customer_master(day, [c for c in self.customers if c.created <= day], full=True)
        elif self.changed_customers:
            self._customer_master(day, list(self.changed_customers.values()), full=False)
        if is_month_end(day):
            self._open_items(day)
        if is_business_day(day):
            sink.rows("erp_fx_rates", day, [(day, currency, f"{rate:.6f}" if rate < 0.1 else f"{rate:.4f}")
                                             for currency, rate in self.fx.items()], is_delta=False)
            for statement in statements:
                sink.statement(statement)

    def _customer_master(self, day: int, customers: list[Customer], *, full: bool) -> None:
        rows = []
        for c in customers:
            company = c.company
            foreign = company.is_foreign
            rep = company.legal_rep
            self.sink.entity("erp", c.erp_id, company.true_id)
            rows.append((
                c.erp_id, c.erp_name, company.uscc if c.erp_shows_uscc else None,
                company.registration_number if foreign else (None if c.erp_shows_uscc
                                                             else company.old_registration_number),
                company.vat_number, company.country, company.city, company.industry_sector,
                c.parent.erp_id if c.parent else None, c.terms, c.credit_limit, c.currency, c.status, c.created,
                rep.name, rep.id_number, c.legal_rep_mobile, company.iban,
            ))
        self.sink.rows("erp_customers", day, rows, is_delta=not full)

    def _open_items(self, day: int) -> None:
        rows = []
        active = over = 0
        for c in self.customers:
            for invoice in c.open_invoices.values():
                rows.append((day, invoice.invoice_id, c.erp_id, c.currency, invoice.open, invoice.due))
            if c.created <= day and c.status == "正常":
                active += 1
                over += c.exposure > c.credit_limit
        self.counts.over_limit_checks += active
        self.counts.over_limit += over
        self.sink.rows("erp_open_items", day, rows, is_delta=False)
