"""Company and person names, and the ways other systems garble them.

The same company is written differently by the ERP clerk, the sales rep in the CRM, the payer's
bank and the bureau: short names, the region in brackets, traditional characters, full-width
letters, typos, stray spaces, upper-case ASCII in SWIFT messages. Entity resolution in the
warehouse has to see through all of it; ``ground_truth/entities.csv`` says what is what.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from sandbox.reference import CONFUSABLE_CHARACTERS, FULL_WIDTH, TRADITIONAL, City, Industry

# SWIFT's X character set: what survives in an MT940 field.
_SWIFT_ALLOWED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-?:().,'+ ")
_ASCII_FOLDS = {"Ä": "AE", "Ö": "OE", "Ü": "UE", "ß": "SS", "Ł": "L", "Ø": "OE", "Å": "A", "&": "AND"}


@dataclass(frozen=True, slots=True)
class ChineseName:
    """A Chinese company's name and the parts it is built from."""

    city: City
    brand: str
    industry: Industry
    legal_form: str
    region_in_brackets: bool  # 华信电子科技（上海）有限公司 rather than 上海华信电子科技有限公司
    is_group: bool = False

    @property
    def business(self) -> str:
        return "集团" if self.is_group else self.industry.word

    @property
    def legal(self) -> str:
        if self.region_in_brackets:
            return f"{self.brand}{self.business}（{self.city.name}）{self.legal_form}"
        return f"{self.city.name}{self.brand}{self.business}{self.legal_form}"

    @property
    def short(self) -> str:
        """What people call it: brand and trade, 华信电子."""
        return f"{self.brand}{'集团' if self.is_group else self.industry.short}"

    @property
    def short_with_region(self) -> str:
        return f"{self.short}（{self.city.name}）"


@dataclass(frozen=True, slots=True)
class ForeignName:
    distinctive: str  # a family name, partners' names or an acronym
    business: str
    legal_form: str

    @property
    def legal(self) -> str:
        return f"{self.distinctive} {self.business} {self.legal_form}"

    @property
    def short(self) -> str:
        return f"{self.distinctive} {self.business}"


def traditional(text: str) -> str:
    return "".join(TRADITIONAL.get(c, c) for c in text)


def full_width(text: str) -> str:
    return "".join(FULL_WIDTH.get(c, c) for c in text)


def half_width_brackets(text: str) -> str:
    return text.replace("（", "(").replace("）", ")")


def typo(rng: random.Random, text: str) -> str:
    """One slip of the keyboard: a confusable character, or (Latin script) two letters swapped."""
    positions = [i for i, c in enumerate(text) if c in CONFUSABLE_CHARACTERS]
    if positions:
        i = rng.choice(positions)
        return text[:i] + CONFUSABLE_CHARACTERS[text[i]] + text[i + 1:]
    letters = [i for i in range(len(text) - 1) if text[i].isalpha() and text[i + 1].isalpha()]
    if not letters:
        return text
    i = rng.choice(letters)
    return text[:i] + text[i + 1] + text[i] + text[i + 2:]


def stray_spaces(rng: random.Random, text: str) -> str:
    i = rng.randrange(1, len(text)) if len(text) > 1 else 0
    return f" {text[:i]} {text[i:]}  " if rng.random() < 0.5 else f"{text[:i]} {text[i:]}"


@lru_cache(maxsize=65536)
def ascii_fold(text: str) -> str:
    folded = []
    for char in text:
        upper = char.upper()
        if upper in _ASCII_FOLDS:
            folded.append(_ASCII_FOLDS[upper])
            continue
        decomposed = unicodedata.normalize("NFKD", upper)
        folded.append("".join(c for c in decomposed if not unicodedata.combining(c)))
    return "".join(folded)


def swift_text(text: str, width: int = 35) -> str:
    """Upper-case ASCII in SWIFT's character set, cut to the field width, as banks transmit names."""
    cleaned = "".join(c if c in _SWIFT_ALLOWED else " " for c in ascii_fold(text))
    return " ".join(cleaned.split())[:width].rstrip()


def chinese_crm_variant(rng: random.Random, name: ChineseName) -> str:
    """How a sales rep keys a Chinese company into the CRM."""
    roll = rng.random()
    if roll < 0.45:
        return name.legal
    if roll < 0.60:
        return name.short
    if roll < 0.72:
        return name.short_with_region
    if roll < 0.78:
        return half_width_brackets(name.short_with_region)
    if roll < 0.84:
        return traditional(name.legal)
    if roll < 0.90:
        return typo(rng, name.legal)
    if roll < 0.95:
        return stray_spaces(rng, name.legal)
    return f"{name.short}\u3000{name.legal_form}"  # a full-width space, as IMEs type it


def foreign_crm_variant(rng: random.Random, name: ForeignName) -> str:
    roll = rng.random()
    if roll < 0.5:
        return name.legal
    if roll < 0.7:
        return name.short
    if roll < 0.8:
        return name.legal.upper()
    if roll < 0.88:
        return typo(rng, name.legal)
    if roll < 0.95:
        return ascii_fold(name.legal).title()
    return full_width(name.short)  # typed with the Chinese input method left in full-width mode


def chinese_payer_variant(rng: random.Random, name: ChineseName, legal_rep: str) -> str:
    """The payer name on a bank statement: whatever the paying bank account is called."""
    roll = rng.random()
    if roll < 0.62:
        return name.legal
    if roll < 0.74:
        return name.short
    if roll < 0.80:
        return name.short_with_region
    if roll < 0.86:
        return typo(rng, name.legal)
    if roll < 0.90:
        return half_width_brackets(name.legal)
    if roll < 0.94:
        return name.legal[:12]  # some banks cut the counterparty name
    if roll < 0.97:
        return legal_rep  # the owner paid from a personal account
    return stray_spaces(rng, name.legal)


def foreign_payer_variant(rng: random.Random, name: ForeignName) -> str:
    roll = rng.random()
    if roll < 0.6:
        return name.legal
    if roll < 0.8:
        return name.short
    if roll < 0.9:
        return typo(rng, name.legal)
    return ascii_fold(name.legal)
