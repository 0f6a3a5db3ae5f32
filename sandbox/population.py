"""The simulated company's counterparties: who they are (names, identifiers, people), how good a
credit risk they secretly are, and how that shows in their behaviour.

Every customer draws a hidden quality in (0, 1). Quality sets volumes, payment terms, the credit
limit, how late and how partially it pays, how often it disputes, and its probability of
default. Defaulters deteriorate before they stop paying (later payments, partial payments,
bureau events, a falling bureau score); some weak customers go through a rough patch without
defaulting, and some defaults come out of the blue, so the signals predict defaults well but not
perfectly. Days are ``date.toordinal()`` integers throughout the simulation.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import string
from dataclasses import dataclass, field
from datetime import date

from sandbox import identifiers, names
from sandbox.days import next_business_day
from sandbox.reference import (
    BRAND_CHARACTERS,
    CITIES,
    CITY_WEIGHTS,
    CNY_ACCOUNT_WEIGHTS,
    COMPANY_ACCOUNTS,
    CONTACT_TITLES,
    FOREIGN_CONTACT_TITLES,
    FOREIGN_COUNTRIES,
    FOREIGN_COUNTRY_WEIGHTS,
    FOREIGN_SALES_TEAM,
    FREE_MAIL_DOMAINS,
    GIVEN_NAME_CHARACTERS,
    INDUSTRIES,
    LEGAL_FORM_WEIGHTS,
    LEGAL_FORMS,
    SALES_TEAMS,
    SURNAMES,
    City,
    CompanyAccount,
    ForeignCountry,
)


class Weighted:
    """Options with weights, ready for fast repeated draws."""

    def __init__(self, options, weights):
        self.options = tuple(options)
        self.bounds = list(itertools.accumulate(weights))
        self.total = self.bounds[-1]


def pick(rng: random.Random, weighted: Weighted):
    return weighted.options[bisect.bisect(weighted.bounds, rng.random() * weighted.total)]


_CITY = Weighted(CITIES, CITY_WEIGHTS)
_LEGAL_FORM = Weighted(LEGAL_FORMS, LEGAL_FORM_WEIGHTS)
_FOREIGN_COUNTRY = Weighted(FOREIGN_COUNTRIES, FOREIGN_COUNTRY_WEIGHTS)
_CNY_ACCOUNT = Weighted(COMPANY_ACCOUNTS[:3], CNY_ACCOUNT_WEIGHTS)
# Payment terms by kind of customer: exporters, weak, key accounts, the rest.
_TERMS_FOREIGN = Weighted(("NET30", "NET60"), (60, 40))
_TERMS_WEAK = Weighted(("NET30", "NET60"), (85, 15))
_TERMS_KEY_ACCOUNT = Weighted(("NET30", "NET60", "NET90"), (20, 50, 30))
_TERMS_STANDARD = Weighted(("NET30", "NET60", "NET90"), (60, 30, 10))

FOREIGN_SHARE = 0.10
PROSPECT_SHARE = 0.05  # CRM accounts for companies that never became customers
DUPLICATE_CRM_SHARE = 0.03  # companies with two CRM accounts
GROUP_PARENT_SHARE = 0.04
CUSTOMERS_PER_SALES_REP = 120
TERMS_DAYS = {"NET30": 30, "NET60": 60, "NET90": 90}
# log-odds of the one-year probability of default: intercept and slope in quality; calibrated so
# that the portfolio's 12-month default rate lands near 4 % (2–6 % required).
PD_INTERCEPT, PD_SLOPE, PD_CENTRE = -3.95, 9.0, 0.70
WEEKDAYS_PAYING = (1, 2, 3, 4)  # Tuesday .. Friday: weekly payment runs
MONTHLY_PAY_DAYS = (5, 10, 15, 20, 25, 28)
HEADROOM_BASE = 1.45  # credit limit over expected exposure for an average customer
_BRAND_PINYIN = dict(BRAND_CHARACTERS)


@dataclass(slots=True)
class Person:
    name: str
    pinyin: str  # for e-mail addresses; empty for non-Chinese names
    id_number: str | None = None  # resident identity number
    mobile: str | None = None


@dataclass(slots=True)
class Company:
    """A legal entity as the outside world (bureau, banks) knows it."""

    true_id: str
    name: names.ChineseName | names.ForeignName
    country: str
    city: str
    industry_sector: str  # ERP's 行业
    crm_industry: str
    mail_domain: str
    uscc: str | None = None
    old_registration_number: str | None = None  # the business licence number before USCCs (2015)
    registration_number: str | None = None
    vat_number: str | None = None
    iban: str | None = None
    bank_account: str = ""  # the account it pays from
    legal_rep: Person | None = None
    established: int = 0
    registered_capital: int = 0  # cents
    subject_id: str | None = None  # the bureau's key (Chinese companies)

    @property
    def legal_name(self) -> str:
        return self.name.legal

    @property
    def is_foreign(self) -> bool:
        return self.country != "CN"


@dataclass(slots=True)
class BureauEvent:
    day: int
    kind: str  # litigation, dishonest_debtor, business_anomaly, admin_penalty, deregistration, revocation
    amount: int | None  # cents (CNY)
    description: str
    lasts_until: int | None = None  # business anomalies are lifted after a while


@dataclass(slots=True)
class Customer:
    """An ERP customer: identity, hidden risk, behaviour parameters and simulation state."""

    company: Company
    erp_id: str
    created: int
    quality: float
    segment: str
    currency: str
    terms: str
    orders_per_business_day: float
    mean_order: int  # cents
    late_mean: float  # days beyond terms in normal times
    late_spread: float
    partial_base: float
    dispute_base: float
    pay_habit: tuple  # ("due",), ("weekly", weekday) or ("monthly", day)
    account: CompanyAccount  # where it sends its money
    erp_name: str
    erp_shows_uscc: bool  # False: an old master record still carrying the pre-2015 licence number
    parent: Customer | None = None
    default_day: int | None = None  # stops paying from this day
    distress_onset: int | None = None
    episodes: list[tuple[int, int, float]] = field(default_factory=list)  # rough patches: start, end, peak
    write_off_day: int | None = None
    block_day: int | None = None
    bureau_events: list[BureauEvent] = field(default_factory=list)
    initial_litigations: int = 0
    initial_penalties: int = 0
    # --- state, changed by the simulation ---
    credit_limit: int = 0  # cents
    limit_valid_from: int = 0
    previous_limit: int | None = None
    limit_changed_by: str = ""
    limit_reason: str = ""
    status: str = "正常"  # 正常 active, 冻结 blocked
    legal_rep_mobile: str | None = None
    open_invoices: dict = field(default_factory=dict)
    open_receivables: int = 0
    orders: dict = field(default_factory=dict)  # open sales orders by id
    open_orders: int = 0  # their amount
    unapplied: int = 0
    unapplied_history: list[tuple] = field(default_factory=list)  # unapplied cash booked before the first delivery
    late_average: float = 0.0  # moving average of days beyond terms the ERP has seen
    next_review: int = 0
    registration_status: str = "存续"
    litigation_days: list[int] = field(default_factory=list)
    penalty_days: list[int] = field(default_factory=list)
    dishonest: bool = False
    anomaly_until: int = 0
    payer_name: str | None = None  # the name on the account it usually pays from

    @property
    def terms_days(self) -> int:
        return TERMS_DAYS[self.terms]

    @property
    def exposure(self) -> int:
        return self.open_receivables + self.open_orders - self.unapplied

    def distress(self, day: int) -> float:
        """0 in normal times, rising to 1 when a defaulter stops paying; rough patches peak lower."""
        level = 0.0
        if self.default_day is not None and day >= self.distress_onset:
            span = self.default_day - self.distress_onset
            level = 1.0 if span <= 0 else min(1.0, (day - self.distress_onset) / span) ** 1.5
        for start, end, peak in self.episodes:
            if start <= day <= end:
                level = max(level, peak * (1 - abs(2 * (day - start) / (end - start) - 1)))
        return level


@dataclass(slots=True)
class SalesRep:
    owner_id: str
    person: Person
    email: str
    team: str


@dataclass(slots=True)
class CrmContact:
    contact_id: str
    person: Person
    title: str
    email: str | None


@dataclass(slots=True)
class CrmAccount:
    account_id: str
    company: Company
    name: str
    uscc: str | None
    city: str
    industry: str
    owner: SalesRep
    created: int
    contacts: list[CrmContact]


@dataclass
class Population:
    customers: list[Customer]
    prospects: list[Company]
    crm_accounts: list[CrmAccount]
    sales_reps: list[SalesRep]


def _person(rng: random.Random, *, with_id: bool, born_from: int = 1960, born_to: int = 1995) -> Person:
    surname, surname_pinyin = rng.choice(SURNAMES)
    given = [rng.choice(GIVEN_NAME_CHARACTERS) for _ in range(rng.choice((1, 2, 2)))]
    name = surname + "".join(c for c, _ in given)
    pinyin = surname_pinyin + "".join(p for _, p in given)
    if not with_id:
        return Person(name, pinyin, mobile=identifiers.make_mobile(rng))
    birth = date(rng.randint(born_from, born_to), rng.randint(1, 12), rng.randint(1, 28))
    birthplaces = [code for city in CITIES for code, since in city.divisions if since <= birth.year]
    id_number = identifiers.make_resident_id(rng, rng.choice(birthplaces), birth, male=rng.random() < 0.7)
    return Person(name, pinyin, id_number, identifiers.make_mobile(rng))


def _chinese_name(rng: random.Random, used_names: set[str], *, city: City | None = None, brand: str | None = None,
                  is_group: bool = False) -> names.ChineseName:
    """A company name not used yet: region, brand, trade and legal form."""
    while True:
        name = names.ChineseName(
            city=city or pick(rng, _CITY),
            brand=brand or "".join(c for c, _ in rng.sample(BRAND_CHARACTERS, 2)),
            industry=rng.choice(INDUSTRIES), legal_form=pick(rng, _LEGAL_FORM),
            region_in_brackets=rng.random() < 0.2, is_group=is_group,
        )
        if name.legal not in used_names:
            used_names.add(name.legal)
            return name


def _chinese_company(rng: random.Random, true_id: str, used_names: set[str]) -> Company:
    name = _chinese_name(rng, used_names)
    city = name.city
    division = rng.choice(city.divisions)[0]
    brand_pinyin = "".join(_BRAND_PINYIN[c] for c in name.brand)
    return Company(
        true_id=true_id, name=name, country="CN", city=city.name, industry_sector=name.industry.erp_sector,
        crm_industry=name.industry.crm_industry, mail_domain=f"{brand_pinyin}-{name.industry.domain}.com",
        bank_account=identifiers.make_local_account_number(rng, "CN"),
        legal_rep=_person(rng, with_id=True),
        registered_capital=rng.choice((100, 200, 300, 500, 1000, 2000, 5000, 10000)) * 10_000 * 100,
        subject_id=f"QXB{rng.randrange(10**9, 10**10)}",
        uscc=identifiers.make_uscc(rng, division),
        old_registration_number=identifiers.make_old_registration_number(rng, division),
    )


def _foreign_name(rng: random.Random, country: ForeignCountry, used_names: set[str]) -> names.ForeignName:
    """A family or place name with a trade and legal form; when those run out, two partners'
    names (Müller & Weber), then an acronym (MTB Antriebstechnik GmbH), as real registers have."""
    for attempt in itertools.count():
        if attempt == 0:
            distinctive = rng.choice(country.surnames)
        elif attempt < 3 and len(country.surnames) > 1:
            distinctive = " & ".join(rng.sample(country.surnames, 2))
        else:
            distinctive = "".join(rng.choices(string.ascii_uppercase, k=3))
        name = names.ForeignName(distinctive, rng.choice(country.business_words), rng.choice(country.legal_forms))
        if name.legal not in used_names:
            used_names.add(name.legal)
            return name
    raise AssertionError("unreachable")


def _foreign_company(rng: random.Random, true_id: str, used_names: set[str]) -> Company:
    country = pick(rng, _FOREIGN_COUNTRY)
    name = _foreign_name(rng, country, used_names)
    vat = identifiers.make_vat_number(rng, country.code)
    iban = identifiers.make_iban(rng, country.code)
    rep = Person(f"{rng.choice(country.first_names)} {rng.choice(country.surnames)}", "")
    slug = "".join(c for c in names.ascii_fold(name.distinctive).lower() if c.isalnum())
    return Company(
        true_id=true_id, name=name, country=country.code, city=rng.choice(country.cities),
        industry_sector="批发和零售业" if "Trad" in name.business else "制造业",
        crm_industry="Wholesale" if "Trad" in name.business else "Manufacturing",
        mail_domain=f"{slug}.{country.code.lower() if country.code not in ('US', 'GB') else 'com'}",
        registration_number=identifiers.make_registration_number(rng, country.code, vat), vat_number=vat,
        iban=iban, bank_account=iban or identifiers.make_local_account_number(rng, country.code), legal_rep=rep,
        registered_capital=rng.choice((25_000, 100_000, 500_000, 1_000_000)) * 100,
    )


def nice_amount(value: float, minimum: int) -> int:
    """Round to two significant digits, as credit committees do (in cents)."""
    if value <= minimum:
        return minimum
    magnitude = 10 ** max(0, int(math.floor(math.log10(value))) - 1)
    return int(round(value / magnitude) * magnitude)


def _behaviour(rng: random.Random, company: Company, quality: float) -> dict:
    foreign = company.is_foreign
    if foreign:
        orders_per_year = min(400.0, rng.lognormvariate(math.log(14), 0.7))
        mean_order = rng.lognormvariate(math.log(15_000), 0.8)
    else:
        orders_per_year = min(2_000.0, rng.lognormvariate(math.log(36), 0.8) * (0.7 + 0.6 * quality))
        mean_order = rng.lognormvariate(math.log(20_000), 0.9)
    cny_volume = orders_per_year * mean_order * (7.5 if foreign else 1.0)
    segment = "key_account" if cny_volume >= 5_000_000 else "mid_market" if cny_volume >= 800_000 else "small_business"
    if foreign:
        terms = pick(rng, _TERMS_FOREIGN)
    elif quality < 0.35:
        terms = pick(rng, _TERMS_WEAK)
    elif segment == "key_account":
        terms = pick(rng, _TERMS_KEY_ACCOUNT)
    else:
        terms = pick(rng, _TERMS_STANDARD)
    habit_roll = rng.random()
    if habit_roll < (0.5 if quality >= 0.75 else 0.3):
        habit = ("due",)
    elif habit_roll < (0.9 if quality >= 0.75 else 0.65):
        habit = ("weekly", rng.choice(WEEKDAYS_PAYING))
    else:
        habit = ("monthly", rng.choice(MONTHLY_PAY_DAYS))
    return {
        "segment": segment,
        "terms": terms,
        "orders_per_business_day": orders_per_year / 261,
        "mean_order": int(mean_order * 100),
        "late_mean": 36 * (1 - quality) ** 1.5 - 3 + rng.gauss(0, 2),
        "late_spread": 3 + 9 * (1 - quality),
        "partial_base": 0.01 + 0.12 * (1 - quality) ** 2,
        "dispute_base": 0.01 + 0.05 * (1 - quality),
        "pay_habit": habit,
    }


def initial_credit_limit(rng: random.Random, customer: Customer) -> int:
    """A limit sized to the customer's expected exposure, with headroom for the good ones."""
    habit_days = {"due": 1, "weekly": 3, "monthly": 15}[customer.pay_habit[0]]
    days_outstanding = customer.terms_days + max(0.0, customer.late_mean) + habit_days + 4
    daily_sales = customer.orders_per_business_day * 261 / 365 * customer.mean_order
    headroom = rng.lognormvariate(math.log(HEADROOM_BASE + 0.5 * customer.quality), 0.2)
    minimum = (5_000 if customer.company.is_foreign else 20_000) * 100
    return nice_amount(max(daily_sales * days_outstanding * headroom, 2.5 * customer.mean_order), minimum)


def _annual_pd(quality: float) -> float:
    return 1 / (1 + math.exp(-(PD_INTERCEPT + PD_SLOPE * (PD_CENTRE - quality))))


def _draw_default(rng: random.Random, customer: Customer, sim_start: int, end: int) -> None:
    """When (if ever within the horizon) the customer stops paying, and how it gets there."""
    hazard = -math.log(1 - _annual_pd(customer.quality)) / 365
    at_risk_from = max(sim_start, customer.created + 90)
    day = at_risk_from + int(rng.expovariate(hazard))
    parent = customer.parent
    if parent is not None and parent.default_day is not None and rng.random() < 0.6:
        day = min(day, parent.default_day + rng.randint(15, 90))  # the group goes down together
    if day > end:
        return
    customer.default_day = day
    sudden = rng.random() < 0.2
    customer.distress_onset = day - (rng.randint(0, 20) if sudden else rng.randint(90, 270))
    customer.block_day = next_business_day(day + rng.randint(30, 75))
    customer.write_off_day = next_business_day(day + rng.randint(150, 330))


def _draw_rough_patches(rng: random.Random, customer: Customer, sim_start: int, end: int) -> None:
    if customer.default_day is None and rng.random() < 0.5 * (1 - customer.quality) ** 1.5:
        start = rng.randint(sim_start, end)
        customer.episodes.append((start, start + rng.randint(60, 150), rng.uniform(0.3, 0.7)))


_LITIGATION_CAUSES = ("买卖合同纠纷", "买卖合同纠纷", "借款合同纠纷", "劳动争议", "租赁合同纠纷", "承揽合同纠纷")
_ANOMALY_CAUSES = ("未按规定期限公示年度报告", "通过登记的住所或者经营场所无法联系", "公示企业信息隐瞒真实情况")
_PENALTY_CAUSES = ("环境保护违法行为", "税务违法行为", "产品质量不合格", "消防安全违法行为")


def _events_between(rng: random.Random, rate_per_year: float, first: int, last: int) -> list[int]:
    days, day = [], first
    while rate_per_year > 0:
        day += int(rng.expovariate(rate_per_year / 365)) + 1
        if day > last:
            return days
        days.append(day)
    return days


def _draw_bureau_events(rng: random.Random, customer: Customer, sim_start: int, end: int) -> None:
    """Adverse events: a background rate for everyone, more for the weak, and the trail a
    deteriorating company leaves before (and after) it stops paying."""
    q = customer.quality
    volume = customer.mean_order * 3
    events: list[BureauEvent] = []

    def litigation(day: int) -> BureauEvent:
        return BureauEvent(day, "litigation", int(volume * rng.uniform(0.5, 4)), rng.choice(_LITIGATION_CAUSES))

    def anomaly(day: int) -> BureauEvent:
        return BureauEvent(day, "business_anomaly", None, rng.choice(_ANOMALY_CAUSES), day + rng.randint(30, 180))

    def penalty(day: int) -> BureauEvent:
        return BureauEvent(day, "admin_penalty", rng.randint(5, 200) * 100_000, rng.choice(_PENALTY_CAUSES))

    for make, rate in ((litigation, 0.04 + 0.5 * (1 - q) ** 2), (penalty, 0.02 + 0.08 * (1 - q)),
                       (anomaly, 0.01 + 0.08 * (1 - q) ** 2)):
        events.extend(make(day) for day in _events_between(rng, rate, sim_start, end))
    customer.initial_litigations = min(6, int(rng.expovariate(1 / max(0.01, 3 * (0.04 + 0.5 * (1 - q) ** 2)))))
    customer.initial_penalties = min(3, int(rng.expovariate(1 / max(0.01, 2 * (0.02 + 0.08 * (1 - q))))))
    stop, onset = customer.default_day, customer.distress_onset
    if stop is not None:
        gradual = stop - onset > 30
        if rng.random() < (0.75 if gradual else 0.3):
            window = (onset, stop + 30) if gradual else (stop, stop + 60)
            events.extend(litigation(rng.randint(*window)) for _ in range(rng.randint(1, 3)))
        if rng.random() < (0.45 if gradual else 0.3):
            offset = rng.randint(-90, -10) if gradual and rng.random() < 0.6 else rng.randint(10, 150)
            events.append(BureauEvent(stop + offset, "dishonest_debtor", int(volume * rng.uniform(1, 5)),
                                      "失信被执行人：有履行能力而拒不履行生效法律文书确定义务"))
        if gradual and rng.random() < 0.3:
            events.append(anomaly(rng.randint(onset, stop + 60)))
        if rng.random() < 0.25:
            if rng.random() < 0.6:
                events.append(BureauEvent(stop + rng.randint(90, 400), "revocation", None, "吊销营业执照"))
            else:
                events.append(BureauEvent(stop + rng.randint(90, 400), "deregistration", None, "注销登记"))
    for start, finish, _ in customer.episodes:
        if rng.random() < 0.5:
            events.append(litigation(rng.randint(start, finish)))
    customer.bureau_events = sorted((e for e in events if sim_start <= e.day <= end), key=lambda e: e.day)


def _sales_reps(rng: random.Random, count: int) -> list[SalesRep]:
    reps = []
    teams = list(SALES_TEAMS) + [FOREIGN_SALES_TEAM]
    for number in range(count):
        person = _person(rng, with_id=False)
        team = teams[number % len(teams)]
        reps.append(SalesRep(identifiers.salesforce_id("005", 700_000 + number), person,
                             f"{person.pinyin}@huadong-trading.com", team))
    return reps


def _contacts(rng: random.Random, company: Company, first_number: int) -> list[CrmContact]:
    contacts = []
    for offset in range(rng.choice((1, 1, 2, 2, 3))):
        contact_id = identifiers.salesforce_id("003", first_number + offset)
        if company.is_foreign:
            country = next(c for c in FOREIGN_COUNTRIES if c.code == company.country)
            surname = names.ascii_fold(rng.choice(country.surnames)).title()
            first = rng.choice(country.first_names)
            person = Person(f"{first} {surname}", "")
            person.mobile = f"+{rng.choice(('49', '33', '39', '31', '1', '65', '852'))}{identifiers.digits(rng, 10)}"
            local = "".join(c for c in f"{first}.{surname}".lower() if c.isalnum() or c == ".")
            email = f"{names.ascii_fold(local).lower()}@{company.mail_domain}"
            title = rng.choice(FOREIGN_CONTACT_TITLES)
        else:
            person = _person(rng, with_id=False)
            roll = rng.random()
            if roll < 0.45:
                email = f"{person.pinyin}@{company.mail_domain}"
            elif roll < 0.75:
                email = f"{person.pinyin}{rng.randint(70, 99)}@{rng.choice(FREE_MAIL_DOMAINS)}"
            else:
                email = None
            if rng.random() < 0.1:
                person.mobile = None
            title = rng.choice(CONTACT_TITLES)
        contacts.append(CrmContact(contact_id, person, title, email))
    return contacts


def build_population(rng: random.Random, count: int, *, history_start: int, sim_start: int, end: int) -> Population:
    """``count`` customers (some created during the simulation), their CRM accounts, prospects,
    sales reps, hidden risk and pre-drawn bureau events."""
    used_names: set[str] = set()
    foreign_flags = [number < round(count * FOREIGN_SHARE) for number in range(count)]
    rng.shuffle(foreign_flags)
    customers: list[Customer] = []
    for number, foreign in enumerate(foreign_flags):
        true_id = f"T{number + 1:07d}"
        company = _foreign_company(rng, true_id, used_names) if foreign else _chinese_company(rng, true_id, used_names)
        # About one in eight customers is new during the simulated period.
        if rng.random() < 0.12:
            created = next_business_day(rng.randint(sim_start + 1, end - 3))
        else:
            created = next_business_day(rng.randint(history_start, sim_start - 30))
        company.established = min(created - rng.randint(30, 15 * 365), created - 30)
        company.established = max(company.established, date(1993, 1, 1).toordinal())
        quality = min(0.995, max(0.005, rng.betavariate(5, 2)))
        behaviour = _behaviour(rng, company, quality)
        currency = next(c.currency for c in FOREIGN_COUNTRIES if c.code == company.country) if foreign else "CNY"
        if foreign:
            account = next(a for a in COMPANY_ACCOUNTS if a.format == "mt940" and a.currency == currency)
        else:
            account = pick(rng, _CNY_ACCOUNT)
        erp_name = company.legal_name
        if not foreign and rng.random() < 0.04:  # the clerk typed a short name or a typo years ago
            erp_name = rng.choice((company.name.short + "有限公司", names.typo(rng, company.legal_name)))
        customers.append(Customer(
            company=company, erp_id=f"KH{number + 1:06d}", created=created, quality=quality, currency=currency,
            account=account, erp_name=erp_name, erp_shows_uscc=foreign or rng.random() < 0.95, **behaviour,
        ))
        customers[-1].legal_rep_mobile = company.legal_rep.mobile
    _form_groups(rng, customers, used_names)
    for customer in sorted(customers, key=lambda c: c.parent is not None):  # parents first: contagion
        _draw_default(rng, customer, sim_start, end)
        _draw_rough_patches(rng, customer, sim_start, end)
        if not customer.company.is_foreign:
            _draw_bureau_events(rng, customer, sim_start, end)
    prospects = [
        _foreign_company(rng, f"P{n + 1:07d}", used_names) if rng.random() < FOREIGN_SHARE
        else _chinese_company(rng, f"P{n + 1:07d}", used_names)
        for n in range(max(1, round(count * PROSPECT_SHARE)))
    ]
    reps = _sales_reps(rng, max(len(SALES_TEAMS) + 1, count // CUSTOMERS_PER_SALES_REP))
    accounts = _crm_accounts(rng, customers, prospects, reps, sim_start, end)
    return Population(customers, prospects, accounts, reps)


def _form_groups(rng: random.Random, customers: list[Customer], used_names: set[str]) -> None:
    """Some Chinese customers belong to groups: a parent (集团) and subsidiaries sharing its brand,
    its fortunes (quality) and, often, its fate (default)."""
    chinese = [c for c in customers if not c.company.is_foreign]
    parents = rng.sample(chinese, max(1 if len(chinese) >= 10 else 0, round(len(customers) * GROUP_PARENT_SHARE)))
    parent_ids = {id(p) for p in parents}
    free = [c for c in chinese if id(c) not in parent_ids]
    rng.shuffle(free)
    for parent in parents:
        company = parent.company
        company.name = _chinese_name(rng, used_names, city=company.name.city, brand=company.name.brand, is_group=True)
        parent.erp_name = company.legal_name
        for _ in range(rng.randint(1, 4)):
            if not free:
                return
            child = free.pop()
            child.parent = parent
            child.company.name = _chinese_name(rng, used_names, city=child.company.name.city,
                                               brand=company.name.brand)
            child.erp_name = child.company.legal_name
            child.quality = 0.6 * parent.quality + 0.4 * child.quality
            child.created = max(child.created, parent.created)


def _crm_accounts(rng: random.Random, customers: list[Customer], prospects: list[Company], reps: list[SalesRep],
                  sim_start: int, end: int) -> list[CrmAccount]:
    reps_by_team: dict[str, list[SalesRep]] = {}
    for rep in reps:
        reps_by_team.setdefault(rep.team, []).append(rep)
    region_team = {city.name: f"{city.region}区" for city in CITIES}
    accounts: list[CrmAccount] = []
    contact_number = 500_000

    def add(company: Company, created: int, uscc_share: float) -> None:
        nonlocal contact_number
        team = FOREIGN_SALES_TEAM if company.is_foreign else region_team[company.city]
        if company.is_foreign:
            name = names.foreign_crm_variant(rng, company.name)
            city = company.city
        else:
            name = names.chinese_crm_variant(rng, company.name)
            city = next(c.crm_name for c in CITIES if c.name == company.city) if rng.random() < 0.7 else company.city
        contacts = _contacts(rng, company, contact_number)
        contact_number += len(contacts)
        accounts.append(CrmAccount(
            account_id=identifiers.salesforce_id("001", 100_000 + len(accounts)), company=company, name=name,
            uscc=company.uscc if rng.random() < uscc_share else None, city=city, industry=company.crm_industry,
            owner=rng.choice(reps_by_team[team]), created=created, contacts=contacts,
        ))

    for customer in customers:
        # Sales knew the company before the ERP did.
        add(customer.company, customer.created - rng.randint(0, 400), 0.8)
        if rng.random() < DUPLICATE_CRM_SHARE:
            add(customer.company, customer.created + rng.randint(30, 700), 0.5)
    for company in prospects:
        add(company, rng.randint(sim_start - 700, end), 0.7)
    return accounts
