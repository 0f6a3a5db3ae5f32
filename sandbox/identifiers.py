"""Identifiers that pass the real check-digit rules: USCC, resident ID numbers, mobile numbers,
EU VAT numbers, IBANs, CRM record ids. python-stdnum is the oracle wherever it has one."""

from __future__ import annotations

import random
import string
from datetime import date

from stdnum import iban, luhn
from stdnum.at import uid as at_uid
from stdnum.cn import ric, uscc
from stdnum.eu import vat as eu_vat
from stdnum.iso7064 import mod_11_10

from sandbox.reference import MOBILE_PREFIXES

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ORGANISATION_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ALPHANUMERIC = string.digits + string.ascii_uppercase


def digits(rng: random.Random, count: int, *, leading_zero: bool = True) -> str:
    first = rng.choice(string.digits if leading_zero else "123456789")
    return first + "".join(rng.choices(string.digits, k=count - 1))


def organisation_code(rng: random.Random) -> str:
    """A GB 11714 organisation code (8 characters and its mod-11 check), the core of a USCC."""
    body = digits(rng, 8, leading_zero=False)
    total = sum(_ALPHANUMERIC.index(c) * w for c, w in zip(body, _ORGANISATION_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + {10: "X", 11: "0"}.get(check, str(check))


def make_uscc(rng: random.Random, division: str) -> str:
    """GB 32100: registration authority 9 (market regulation), entity type 1 (company), the
    division of the registering office, the organisation code, the mod-31 check character."""
    body = "91" + division + organisation_code(rng)
    return body + uscc.calc_check_digit(body)


def make_old_registration_number(rng: random.Random, division: str) -> str:
    """The 15-digit business licence number (注册号) used before USCCs, ISO 7064 mod 11,10 check."""
    body = division + digits(rng, 8)
    return body + mod_11_10.calc_check_digit(body)


def make_resident_id(rng: random.Random, division: str, birth: date, male: bool) -> str:
    sequence = rng.randrange(0, 500) * 2 + (1 if male else 0)
    body = f"{division}{birth:%Y%m%d}{sequence:03d}"
    number = body + ric.calc_check_digit(body + "0")
    assert ric.is_valid(number), number
    return number


def make_mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + digits(rng, 8)


def break_check_character(number: str, alphabet: str) -> str:
    """The same number with a different, wrong check character (a typo in the last position)."""
    last = number[-1]
    choices = [c for c in alphabet if c != last]
    # Deterministic given the number: the defect must not consume the simulation's random stream.
    return number[:-1] + choices[sum(map(ord, number)) % len(choices)]


def _complete(rng: random.Random, make_body, suffix_digits: int, is_valid) -> str:
    """Draw bodies until one of the possible trailing check digits makes the number valid."""
    while True:
        body = make_body(rng)
        for suffix in range(10**suffix_digits):
            candidate = body + f"{suffix:0{suffix_digits}d}"
            if is_valid(candidate):
                return candidate


def _french_vat(rng: random.Random) -> str:
    siren = digits(rng, 8, leading_zero=False)
    siren += luhn.calc_check_digit(siren)
    key = (12 + 3 * (int(siren) % 97)) % 97
    return f"FR{key:02d}{siren}"


def _swedish_vat(rng: random.Random) -> str:
    organisation = "5" + digits(rng, 8)
    return f"SE{organisation}{luhn.calc_check_digit(organisation)}01"


def _dutch_vat(rng: random.Random) -> str:
    number = _complete(rng, lambda r: "NL" + digits(r, 8, leading_zero=False), 1,
                       lambda c: eu_vat.is_valid(c + "B01"))
    return number + "B01"


_VAT_MAKERS = {
    "DE": lambda rng: _complete(rng, lambda r: "DE" + digits(r, 8, leading_zero=False), 1, eu_vat.is_valid),
    "AT": lambda rng: (lambda body: "AT" + body + at_uid.calc_check_digit(body))("U" + digits(rng, 7)),
    "FR": _french_vat,
    "IT": lambda rng: _complete(rng, lambda r: "IT" + digits(r, 7) + f"{r.randint(1, 100):03d}", 1, eu_vat.is_valid),
    "NL": _dutch_vat,
    "PL": lambda rng: _complete(rng, lambda r: "PL" + digits(r, 9, leading_zero=False), 1, eu_vat.is_valid),
    "SE": _swedish_vat,
}


def make_vat_number(rng: random.Random, country: str) -> str | None:
    """A VAT number valid under ``stdnum.eu.vat`` for EU countries; None elsewhere (the UK's are
    no longer EU VAT numbers, and the ERP keeps only EU ones for reverse-charge invoicing)."""
    maker = _VAT_MAKERS.get(country)
    return maker(rng) if maker else None


def make_registration_number(rng: random.Random, country: str, vat_number: str | None) -> str:
    """The company register's number as foreign customers put it on their documents."""
    match country:
        case "DE":
            return f"HRB {rng.randint(10000, 999999)}"
        case "FR":
            return vat_number[4:]  # the SIREN
        case "IT":
            return f"MI-{rng.randint(1000000, 2699999)}"
        case "NL":
            return digits(rng, 8, leading_zero=False)
        case "AT":
            return f"FN {rng.randint(100000, 599999)}{rng.choice('abdfghikmpstvwxyz')}"
        case "PL":
            return "0000" + digits(rng, 6)
        case "SE":
            return f"{vat_number[2:8]}-{vat_number[8:12]}"
        case "GB":
            return digits(rng, 8)
        case "US":
            return f"{rng.randint(10, 98)}-{digits(rng, 7)}"
        case "SG":
            return f"{rng.randint(2005, 2022)}{digits(rng, 5)}{rng.choice('CDEGHKMNRWZ')}"
        case _:
            return digits(rng, 7, leading_zero=False)


_IBAN_BBAN = {
    "DE": lambda rng: digits(rng, 8, leading_zero=False) + digits(rng, 10),
    "FR": lambda rng: _french_bban(rng),
    "IT": lambda rng: rng.choice(string.ascii_uppercase) + digits(rng, 5) + digits(rng, 5) + digits(rng, 12),
    "NL": lambda rng: rng.choice(("ABNA", "RABO", "INGB", "TRIO")) + digits(rng, 10),
    "AT": lambda rng: digits(rng, 5, leading_zero=False) + digits(rng, 11),
    "PL": lambda rng: digits(rng, 8, leading_zero=False) + digits(rng, 16),
    "SE": lambda rng: digits(rng, 3, leading_zero=False) + digits(rng, 17),
    "GB": lambda rng: rng.choice(("BARC", "HBUK", "LOYD", "NWBK")) + digits(rng, 6) + digits(rng, 8),
}


def _french_bban(rng: random.Random) -> str:
    bank, branch, account = digits(rng, 5, leading_zero=False), digits(rng, 5), digits(rng, 11)
    key = 97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97
    return f"{bank}{branch}{account}{key:02d}"


def make_iban(rng: random.Random, country: str) -> str | None:
    """A valid IBAN for countries that use them; None elsewhere."""
    bban = _IBAN_BBAN.get(country)
    if bban is None:
        return None
    body = country + "00" + bban(rng)
    number = country + iban.calc_check_digits(body) + body[4:]
    assert iban.is_valid(number), number
    return number


def make_local_account_number(rng: random.Random, country: str) -> str:
    """Bank account numbers where there is no IBAN: Chinese banks (16-19 digits), US, HK, SG."""
    match country:
        case "CN":
            return digits(rng, rng.choice((16, 17, 19)), leading_zero=False)
        case "US":
            return digits(rng, 10, leading_zero=False)
        case "HK":
            return f"{rng.randint(100, 899)}{digits(rng, 6)}{rng.randint(1, 999):03d}"
        case _:
            return digits(rng, 10, leading_zero=False)


_SALESFORCE_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def salesforce_id(prefix: str, number: int) -> str:
    """An 18-character Salesforce record id: key prefix, pod, a base-62 number, and the
    case-safe suffix (one character per 5-character chunk, encoding which are upper case)."""
    alphabet = string.digits + string.ascii_uppercase + string.ascii_lowercase
    encoded = ""
    for _ in range(9):
        number, remainder = divmod(number, 62)
        encoded = alphabet[remainder] + encoded
    short = f"{prefix}5g0{encoded}"
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, c in enumerate(short[chunk * 5:chunk * 5 + 5]) if c.isupper())
        suffix += _SALESFORCE_SUFFIX[bits]
    return short + suffix
