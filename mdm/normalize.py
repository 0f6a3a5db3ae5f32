"""Normalisation of the attributes entity resolution compares: company names, cities, identifiers.

A company name becomes a *matching key*: NFKC (full-width → half-width), traditional → simplified
Chinese (OpenCC ``t2s``), lower case, German umlauts and accents folded to ASCII, the region in
brackets (``（上海）``) removed, a leading region (``上海``, ``广东省深圳市``) removed, legal-form
suffixes (有限公司, Co., Ltd., GmbH, …, also when a bank cut them short) removed, and spaces and
punctuation removed::

    華信電子（上海）有限公司  → 华信电子
    上海华信电子科技有限公司  → 华信电子科技
    ＡＢＣ　Ｃｏ．，Ｌｔｄ．   → abc

The region and legal form that were stripped are kept as attributes of their own
(:class:`NameParts`), because two companies may differ only in them (上海华信电子 / 北京华信电子).

Region names come from the administrative division codes that python-stdnum ships for resident
ID numbers (``stdnum/cn/loc.dat``, GB/T 2260): provinces and prefecture-level cities, with their
short forms (广西壮族自治区 → 广西, 深圳市 → 深圳). The same table maps the division code inside a
USCC (characters 3–8) to the city of the registering office.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

import opencc
from pypinyin import Style, pinyin
from stdnum import iban as iban_number
from stdnum.cn import uscc as uscc_number

_T2S = opencc.OpenCC("t2s")

# Folds that NFKD does not do (or does differently from how payers and banks write them).
_LATIN_FOLDS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ø": "oe", "æ": "ae", "ł": "l", "đ": "d",
                              "&": " and "})
# A bank may append SWIFT sub-field codes to the counterparty name: "ACME INC /ACCT/12345".
_SWIFT_CODES = re.compile(r"\s*//?[A-Z]{3,5}/.*$")
_BRACKETS = re.compile(r"[(\[【{<《][^()\[\]【】{}<>《》]*[)\]】}>》]")
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u9fff]")

# Chinese legal forms, longest first; a name cut short by a bank may end in any prefix of them
# ("…有限责" of 有限责任公司), which is stripped too when at least two characters long.
CHINESE_LEGAL_FORMS = (
    "股份有限公司", "有限责任公司", "有限公司", "股份公司", "分公司",
    "总公司", "公司", "厂", "商行", "经营部",
)
# Latin-script legal forms as words (after folding, lower case, punctuation turned into spaces).
LATIN_LEGAL_FORMS = (
    "gmbh and co kg", "gmbh co kg", "co limited", "co ltd", "company limited", "pte ltd", "private limited",
    "sp z o o", "s r l", "s p a", "s a r l", "b v", "n v", "s a", "s a s", "gmbh", "ag", "kg", "ug", "se",
    "ltd", "limited", "plc", "llc", "llp", "inc", "incorporated", "corp", "corporation", "co", "company",
    "sarl", "sas", "sa", "srl", "spa", "bv", "nv", "ab", "oy", "as", "aps", "pte", "pty", "kft", "sro",
)
_LATIN_LEGAL = re.compile(
    r"(?:\s(?:" + "|".join(sorted((re.escape(f).replace(r"\ ", r"\s+") for f in LATIN_LEGAL_FORMS),
                                   key=len, reverse=True)) + r"))+\s*$"
)


# Spellings of one legal form (kept apart: "Co., Limited" is not "Limited", GmbH is not AG).
_LEGAL_FORM_SYNONYMS = {"limited": "ltd", "colimited": "coltd", "companylimited": "coltd", "incorporated": "inc",
                        "corporation": "corp", "gmbhandcokg": "gmbhcokg", "privatelimited": "pteltd", "sas": "sas",
                        "company": "co"}


@dataclass(frozen=True, slots=True)
class NameParts:
    key: str  # the matching key: region and legal form stripped
    raw_key: str  # the same without stripping a leading region (a brand may look like a city: 金华)
    region: str | None  # city or province named in the name (short form, e.g. 上海)
    legal_form: str | None  # normalised legal form, e.g. 有限公司, gmbh
    script: str  # "cjk" or "latin" (or "" when empty)


@dataclass(frozen=True, slots=True)
class Division:
    province: str  # short form: 广东, 上海
    city: str  # short form of the prefecture-level city: 深圳 (the municipality itself for 上海 etc.)


def _short_region(name: str) -> str:
    """广西壮族自治区 → 广西, 延边朝鲜族自治州 → 延边, 深圳市 → 深圳, 香港特别行政区 → 香港."""
    short = re.sub(r"(?:[\u4e00-\u9fff]{1,5}?族)*(?:特别行政区|自治区|自治州|地区|盟|省|市)$", "", name)
    return short if len(short) >= 2 else name


@cache
def divisions() -> dict[str, Division]:
    """Administrative division code (6 digits; also the 4-digit prefecture and 2-digit province
    prefixes) → province and prefecture-level city, current names."""
    text = resources.files("stdnum.cn").joinpath("loc.dat").read_text(encoding="utf-8")
    provinces: dict[str, str] = {}
    prefectures: dict[str, str] = {}
    counties: dict[str, str] = {}
    province = ""
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if not line.startswith(" "):
            province, rest = line.split(" ", 1)
            provinces[province] = _current_name(rest)
            continue
        code, rest = line.strip().split(" ", 1)
        name = _current_name(rest)
        if not name:
            continue
        full = province + code
        if code.endswith("00"):
            prefectures[full[:4]] = name
        counties[full] = name
    result: dict[str, Division] = {}
    municipalities = {"11", "12", "31", "50"}
    for code, name in counties.items():
        prov = _short_region(provinces[code[:2]])
        if code[:2] in municipalities:
            city = prov
        else:
            prefecture = prefectures.get(code[:4], "")
            if not prefecture or prefecture.endswith(("辖区", "县", "直辖县级行政单位", "直辖县级行政区划")):
                prefecture = name if code[4:] != "00" else ""
            city = _short_region(prefecture) if prefecture else prov
        result[code] = Division(prov, city)
    return result


def _current_name(props: str) -> str:
    match = re.search(r'county="([^"]*)"|province="([^"]*)"', props)
    if not match:
        return ""
    value = match.group(1) or match.group(2) or ""
    names = [re.sub(r"^\[[^\]]*\]", "", part) for part in value.split(",")]
    # The last name listed is the current one ("[-1980]旅大市,[1981-]大连市"); skip struck-off ones.
    current = [n for n, part in zip(names, value.split(","), strict=True) if not re.match(r"^\[\d*-\d+\]", part)]
    return (current or names)[-1]


@cache
def region_names() -> dict[str, tuple[str, str]]:
    """Every province and prefecture name, full and short, → (kind, short form); kind is
    'province' or 'city'. Municipalities (上海) are cities."""
    names: dict[str, tuple[str, str]] = {}
    text = resources.files("stdnum.cn").joinpath("loc.dat").read_text(encoding="utf-8")
    province = ""
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if not line.startswith(" "):
            province, rest = line.split(" ", 1)
            full = _current_name(rest)
            kind = "city" if province in {"11", "12", "31", "50"} else "province"
            for form in {full, _short_region(full)}:
                names.setdefault(form, (kind, _short_region(full)))
            continue
        code, rest = line.strip().split(" ", 1)
        if not code.endswith("00") or code == "0000":
            continue
        full = _current_name(rest)
        if not full or full.endswith(("辖区", "县", "行政单位", "行政区划")):
            continue
        for form in {full, _short_region(full)}:
            if len(form) >= 2:
                names.setdefault(form, ("city", _short_region(full)))
    return names


@cache
def _region_pattern() -> re.Pattern[str]:
    alternatives = sorted(region_names(), key=len, reverse=True)
    return re.compile("^(?:" + "|".join(map(re.escape, alternatives)) + ")")


def fold(text: str) -> str:
    """NFKC (full-width → half-width), traditional → simplified, lower case, Latin accents folded."""
    text = unicodedata.normalize("NFKC", text)
    if _CJK.search(text):
        text = _T2S.convert(text)
    text = text.lower().translate(_LATIN_FOLDS)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _squash(text: str) -> str:
    return _NOT_WORD.sub("", text)


def _strip_chinese_legal_form(text: str) -> tuple[str, str | None]:
    for form in CHINESE_LEGAL_FORMS[:4]:  # the company forms proper
        if text.endswith(form) and len(text) > len(form):
            return text[: -len(form)], form
    # Mistyped (有公限司, 限有公司): a trailing run of legal-form characters ending in 司.
    soup = re.search(r"[有限责任股份公司]{3,}$", text)
    if soup and soup.group(0).endswith("司") and len(text) - len(soup.group(0)) >= 2:
        return text[: soup.start()], None
    for form in CHINESE_LEGAL_FORMS[4:]:
        if text.endswith(form) and len(text) > len(form):
            return text[: -len(form)], form
    # Cut short by a bank's field length: a trailing prefix of a legal form (at least 2 characters).
    for form in CHINESE_LEGAL_FORMS:
        for cut in range(len(form) - 1, 1, -1):
            if text.endswith(form[:cut]) and len(text) > cut + 1:
                return text[:-cut], None
    return text, None


def _strip_leading_region(text: str) -> tuple[str, str | None]:
    """Remove a leading province and/or city (广东省深圳市华信 → 华信); the city's short form, else
    the province's, is returned as the region."""
    names = region_names()
    match = _region_pattern().match(text)
    if not match or len(text) - match.end() < 2:
        return text, None
    kind, short = names[match.group(0)]
    rest = text[match.end():]
    if kind == "province":
        following = _region_pattern().match(rest)
        if following and len(rest) - following.end() >= 2:
            inner_kind, inner_short = names[following.group(0)]
            if inner_kind == "city":
                return rest[following.end():], inner_short
        return rest, short
    return rest, short


@lru_cache(maxsize=200_000)
def name_parts(name: str | None) -> NameParts:
    """Split a company name into its matching key, region and legal form (see the module doc)."""
    if not name or not name.strip():
        return NameParts("", "", None, None, "")
    text = fold(_SWIFT_CODES.sub("", name))
    if _CJK.search(text):
        region = None
        bracketed = [m.group(0)[1:-1] for m in _BRACKETS.finditer(text)]
        for inner in bracketed:
            inner = _squash(inner)
            if inner in region_names():
                region = region_names()[inner][1]
                break
        has_bracket = bool(bracketed)
        text = _squash(_BRACKETS.sub("", text))
        text, legal_form = _strip_chinese_legal_form(text)
        raw_key = text
        if not has_bracket:
            # 华信电子科技（上海）有限公司 names the region in brackets: what leads is the brand.
            text, leading = _strip_leading_region(text)
            region = region or leading
        # the region may also trail the business (华信电子上海有限公司)
        return NameParts(text, raw_key, region, legal_form, "cjk")
    text = _BRACKETS.sub(" ", text)
    spaced = " " + " ".join(_NOT_WORD.sub(" ", text).split())
    legal_form = None
    match = _LATIN_LEGAL.search(spaced)
    if match and match.start() > 0:
        legal_form = " ".join(match.group(0).split()) or None
        spaced = spaced[: match.start()]
    key = _squash(spaced)
    form = _squash(legal_form) if legal_form else None
    return NameParts(key, key, None, _LEGAL_FORM_SYNONYMS.get(form, form) if form else None, "latin" if key else "")


@lru_cache(maxsize=50_000)
def _readings(char: str) -> tuple[str, ...]:
    """A character's toneless readings, the most common first (长: zhang, chang)."""
    if not _CJK.match(char):
        return (char,)
    readings = pinyin(char, style=Style.NORMAL, heteronym=True, errors="default")[0]
    return tuple(dict.fromkeys(readings)) or (char,)


@lru_cache(maxsize=200_000)
def pinyin_keys(key: str | None, limit: int = 16) -> tuple[str, ...]:
    """The toneless pinyin spellings of a Chinese name key, the most common reading first:
    恒祥化工 and the homophone typo 恒详化工 share 'heng xiang hua gong'; 盛长 (sheng zhang / sheng
    chang) meets 盛昌 (sheng chang). Chinese typists use pinyin input methods, so their slips are
    mostly homophones. At most ``limit`` spellings (heteronyms multiply them)."""
    if not key or not _CJK.search(key):
        return ()
    spellings = [""]
    for char in key:
        readings = _readings(char)
        spellings = [f"{s} {r}".strip() for s in spellings for r in readings][:limit]
    return tuple(spellings)


def pinyin_key(key: str | None) -> str | None:
    """The most common pinyin spelling of a Chinese name key (see :func:`pinyin_keys`)."""
    keys = pinyin_keys(key)
    return keys[0] if keys else None


_IBAN_TOKEN = re.compile(r"\b[A-Z]{2}\d{2}[A-Z0-9]{10,30}\b")


def ibans_in(text: str | None) -> list[str]:
    """Valid IBANs written in a text (SWIFT statements carry the payer's as /ACCT/…)."""
    if not text:
        return []
    found = []
    for token in _IBAN_TOKEN.findall(unicodedata.normalize("NFKC", text).upper()):
        if iban_number.is_valid(token) and token not in found:
            found.append(token)
    return found


def iban_key(number: str | None) -> str | None:
    if not number:
        return None
    text = _squash(unicodedata.normalize("NFKC", number)).upper()
    return text if iban_number.is_valid(text) else None


def name_key(name: str | None) -> str:
    """The matching key of a company name (see the module docstring)."""
    return name_parts(name).key


@lru_cache(maxsize=10_000)
def city_key(city: str | None) -> str | None:
    """上海市 / 上海 / 上海市浦东新区 → 上海; München / Muenchen / MUNCHEN → muenchen / munchen."""
    if not city or not city.strip():
        return None
    text = _squash(fold(city))
    if not text:
        return None
    if _CJK.search(text):
        names = region_names()
        if text in names:
            return names[text][1]
        match = _region_pattern().match(text)
        if match:
            kind, short = names[match.group(0)]
            rest = text[match.end():]
            following = _region_pattern().match(rest) if kind == "province" else None
            if following and names[following.group(0)][0] == "city":
                return names[following.group(0)][1]
            return short
        return _short_region(text)
    return text


def uscc_city(code: str | None) -> str | None:
    """The city of the registering office, from the division code inside a USCC."""
    if not code or len(code) != 18:
        return None
    division = divisions().get(code[2:8])
    return division.city if division else None


def valid_uscc(code: str | None) -> str | None:
    """The USCC in canonical form when its check character is right, else None."""
    if not code:
        return None
    text = _squash(unicodedata.normalize("NFKC", code)).upper()
    return text if len(text) == 18 and uscc_number.is_valid(text) else None


def registration_key(number: str | None, country: str | None = None) -> str | None:
    """A company registration or VAT number as a comparable key: upper case, no spaces or
    punctuation, prefixed with the country (so that a German HRB number never equals an Italian
    REA number by accident)."""
    if not number or not number.strip():
        return None
    text = _squash(unicodedata.normalize("NFKC", number)).upper()
    if len(text) < 4:
        return None
    return f"{(country or '').upper()}:{text}"


def vat_key(number: str | None) -> str | None:
    """An EU VAT number as a key: its compact form, country prefix included (DE123456789)."""
    if not number or not number.strip():
        return None
    text = _squash(unicodedata.normalize("NFKC", number)).upper()
    return f"VAT:{text}" if len(text) >= 6 else None
