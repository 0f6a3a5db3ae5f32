"""Policy files (``scoring/policies/*.yml``): loading, validation and the content hash.

A rule set is versioned twice: by the ``version`` its author writes and by a content hash of what it
says (canonical JSON of the parsed YAML, so re-indenting or editing comments does not change it).
Each rule also carries its own integer ``version``; activation refuses a changed rule whose version
was not raised (see ``scoring.rules.registry``). Every problem found is reported with the rule's id
and where it sits in the file; nothing of an invalid file is used.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from scoring.rules.expressions import CheckedExpression, ExpressionError, parse
from scoring.rules.targets import SOURCE_SYSTEMS, TARGETS

POLICIES_DIR = Path(__file__).resolve().parents[1] / "policies"
DEFAULT_POLICY = POLICIES_DIR / "credit_policy.yml"
SEVERITIES = ("low", "medium", "high", "critical")
RULE_ID = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
DEFAULT_SLA = {"erp": 1, "bank": 1, "bureau": 8, "crm": 8}


class PolicyError(ValueError):
    """An invalid policy file; ``problems`` lists each one, naming the rule."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class Escalation:
    when: CheckedExpression
    severity: str


@dataclass(frozen=True)
class Rule:
    id: str
    version: int
    kind: str  # blacklist, warning, decline, refer
    targets: tuple[str, ...]
    condition: CheckedExpression
    description: str
    severity: str = "medium"
    escalations: tuple[Escalation, ...] = ()
    for_days: int = 1
    evidence: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        names = list(self.condition.columns)
        for escalation in self.escalations:
            names.extend(c for c in escalation.when.columns if c not in names)
        names.extend(c for c in self.evidence if c not in names)
        return tuple(names)


@dataclass(frozen=True)
class LimitFormula:
    """proposed = base × every factor, then floors, caps and rounding, each step stated in the reason."""

    id: str
    version: int
    target: str
    base: CheckedExpression
    factors: dict[str, CheckedExpression]
    min_limit: float = 0.0
    max_limit: float | None = None
    max_increase_ratio: float | None = None
    max_decrease_ratio: float | None = None
    round_to: float = 1.0

    @property
    def columns(self) -> tuple[str, ...]:
        names = list(self.base.columns)
        for factor in self.factors.values():
            names.extend(c for c in factor.columns if c not in names)
        return tuple(names)


@dataclass(frozen=True)
class Collections:
    lgd: float
    ccf: float
    dunning_levels: tuple[tuple[str, int], ...]  # (level, minimum DPD), ascending
    default_pd_by_dpd: tuple[tuple[int | None, float], ...]  # (maximum DPD or None, PD), ascending
    min_dpd: int = 1

    def dunning_level(self, dpd: int) -> str | None:
        level = None
        for name, minimum in self.dunning_levels:
            if dpd >= minimum:
                level = name
        return level

    def default_pd(self, dpd: int) -> float:
        for maximum, pd in self.default_pd_by_dpd:
            if maximum is None or dpd <= maximum:
                return pd
        return self.default_pd_by_dpd[-1][1]


@dataclass(frozen=True)
class Characteristic:
    name: str
    bins: tuple[tuple[float | None, float], ...] = ()  # (upper bound exclusive or None, points)
    categories: dict[str, float] = field(default_factory=dict)
    other: float = 0.0
    missing: float = 0.0


@dataclass(frozen=True)
class Scorecard:
    """points = base_points + Σ characteristic points; odds of good = base_odds × 2^((points - base_points)/pdo)."""

    id: str
    version: int
    base_points: float
    base_odds: float
    pdo: float
    characteristics: tuple[Characteristic, ...]

    def score(self, application: dict[str, Any]) -> tuple[float, float, list[dict[str, Any]]]:
        """Points, PD and each characteristic's contribution (the reasons). The grade is the PD's on
        the project's master scale (scoring.model.master_scale)."""
        points, contributions = self.base_points, []
        for characteristic in self.characteristics:
            value = application.get(characteristic.name)
            if value is None:
                earned, band = characteristic.missing, "missing"
            elif characteristic.categories or not characteristic.bins:
                earned = characteristic.categories.get(str(value), characteristic.other)
                band = str(value) if str(value) in characteristic.categories else "other"
            else:
                earned, band = characteristic.bins[-1][1], "top band"
                for upper, bin_points in characteristic.bins:
                    if upper is not None and float(value) < upper:
                        earned, band = bin_points, f"below {upper:g}"
                        break
            points += earned
            contributions.append({"characteristic": characteristic.name, "value": value, "band": band,
                                  "points": earned})
        odds = self.base_odds * 2 ** ((points - self.base_points) / self.pdo)
        pd = 1 / (1 + odds)
        return round(points, 2), round(pd, 6), contributions


@dataclass(frozen=True)
class Application:
    scorecard: Scorecard
    decline: tuple[Rule, ...]
    refer: tuple[Rule, ...]
    initial_limit: LimitFormula


@dataclass(frozen=True)
class RuleSet:
    name: str
    version: str
    description: str
    content_hash: str
    text: str
    source: str
    sla: dict[str, int]
    blacklist: tuple[Rule, ...]
    warnings: tuple[Rule, ...]
    limits: LimitFormula | None
    collections: Collections | None
    application: Application | None
    raw: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.name} {self.version} ({self.content_hash[:12]})"

    @property
    def customer_rules(self) -> tuple[Rule, ...]:
        """Rules evaluated nightly over the customer target (blacklist first)."""
        return tuple(r for r in (*self.blacklist, *self.warnings) if "customer" in r.targets)

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.customer_rules if r.id == rule_id), None)


def content_hash(document: Any) -> str:
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def rule_fingerprints(document: dict[str, Any]) -> dict[str, tuple[int, str]]:
    """{rule id: (declared version, hash of the rule's own content)} for every rule in a parsed file."""
    prints: dict[str, tuple[int, str]] = {}
    for section in ("blacklist", "warnings"):
        for entry in document.get(section) or []:
            if isinstance(entry, dict) and "id" in entry:
                prints[str(entry["id"])] = (int(entry.get("version", 1)), content_hash(entry))
    application = document.get("application") or {}
    for section in ("decline", "refer"):
        for entry in application.get(section) or []:
            if isinstance(entry, dict) and "id" in entry:
                prints[str(entry["id"])] = (int(entry.get("version", 1)), content_hash(entry))
    for holder, key in ((document, "limits"), (application, "scorecard"), (application, "initial_limit")):
        entry = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(entry, dict):
            prints[str(entry.get("id", key))] = (int(entry.get("version", 1)), content_hash(entry))
    return prints


def load_policy(path: str | Path) -> RuleSet:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyError(str(path), [f"cannot read the file: {error.strerror or error}"]) from None
    return parse_policy(text, source=str(path))


def parse_policy(text: str, *, source: str = "<policy>") -> RuleSet:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PolicyError(source, [f"not valid YAML: {str(error).splitlines()[0]}"]) from None
    if not isinstance(document, dict):
        raise PolicyError(source, ["the file must hold a mapping (rule_set:, version:, …)"])
    return _Parser(document, text, source).parse()


class _Parser:
    def __init__(self, document: dict[str, Any], text: str, source: str):
        self.document, self.text, self.source = document, text, source
        self.problems: list[str] = []
        self.ids: set[str] = set()

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def parse(self) -> RuleSet:
        document = self.document
        known = {"rule_set", "version", "description", "source_sla", "blacklist", "warnings", "limits",
                 "collections", "application"}
        for key in sorted(set(document) - known):
            self.problem(key, "unknown section")
        name = str(document.get("rule_set") or "")
        if not RULE_ID.match(name):
            self.problem("rule_set", "must be a lowercase name (letters, digits, underscores)")
        version = document.get("version")
        if version is None or not str(version).strip():
            self.problem("version", "is required (e.g. \"2026.10.1\")")
        sla = self.parse_sla(document.get("source_sla"))
        blacklist = self.parse_rules(document.get("blacklist"), "blacklist", ("customer", "application"))
        warnings = self.parse_rules(document.get("warnings"), "warning", ("customer",))
        limits = self.parse_limit(document["limits"], "limits", "customer") if "limits" in document else None
        collections = self.parse_collections(document["collections"]) if "collections" in document else None
        application = self.parse_application(document["application"]) if "application" in document else None
        if self.problems:
            raise PolicyError(self.source, self.problems)
        return RuleSet(
            name=name, version=str(version), description=str(document.get("description") or ""),
            content_hash=content_hash(document), text=self.text, source=self.source, sla=sla,
            blacklist=blacklist, warnings=warnings, limits=limits, collections=collections,
            application=application, raw=document,
        )

    def parse_sla(self, value: Any) -> dict[str, int]:
        if value is None:
            return dict(DEFAULT_SLA)
        if not isinstance(value, dict):
            self.problem("source_sla", "must map each source (erp, bank, bureau, crm) to business days")
            return dict(DEFAULT_SLA)
        sla = dict(DEFAULT_SLA)
        for system, days in value.items():
            if system not in SOURCE_SYSTEMS:
                self.problem(f"source_sla.{system}", f"unknown source (known: {', '.join(SOURCE_SYSTEMS)})")
            elif not isinstance(days, int) or isinstance(days, bool) or days < 0:
                self.problem(f"source_sla.{system}", "must be a whole number of business days, 0 or more")
            else:
                sla[system] = days
        return sla

    def rule_id(self, entry: dict, where: str) -> str | None:
        rule_id = entry.get("id")
        if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
            self.problem(where, "needs an id: a lowercase name (letters, digits, underscores)")
            return None
        if rule_id in self.ids:
            self.problem(f"rule {rule_id!r}", "the id is used twice")
        self.ids.add(rule_id)
        return rule_id

    def version_of(self, entry: dict, label: str) -> int:
        version = entry.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            self.problem(label, "version must be a whole number, 1 or more")
            return 1
        return version

    def expression(self, text: Any, label: str, targets: tuple[str, ...], *, boolean: bool) -> CheckedExpression | None:
        if not isinstance(text, str | int | float) or isinstance(text, bool):
            self.problem(label, "must be an SQL expression (text)")
            return None
        checked = None
        for target in targets:
            try:
                checked = parse(str(text), TARGETS[target], boolean=boolean, allow_constant=not boolean)
            except ExpressionError as error:
                suffix = f" (target {target})" if len(targets) > 1 else ""
                self.problem(label, f"{error}{suffix}")
                return None
        return checked

    def parse_rules(self, entries: Any, kind: str, default_targets: tuple[str, ...]) -> tuple[Rule, ...]:
        section = {"blacklist": "blacklist", "warning": "warnings"}.get(kind, f"application.{kind}")
        if entries is None:
            return ()
        if not isinstance(entries, list):
            self.problem(section, "must be a list of rules")
            return ()
        rules = []
        for index, entry in enumerate(entries):
            where = f"{section}[{index}]"
            if not isinstance(entry, dict):
                self.problem(where, "must be a mapping with id, condition, …")
                continue
            rule_id = self.rule_id(entry, where)
            label = f"rule {rule_id!r} ({where})" if rule_id else where
            allowed = {"id", "version", "description", "condition", "severity", "escalate", "for_days",
                       "evidence", "targets"}
            for key in sorted(set(entry) - allowed):
                self.problem(label, f"unknown field {key!r}")
            targets = entry.get("targets", list(default_targets))
            if not isinstance(targets, list) or not targets or any(t not in TARGETS for t in targets):
                self.problem(label, f"targets must be a list of: {', '.join(TARGETS)}")
                continue
            targets = tuple(targets)
            if kind in {"warning"} and targets != ("customer",):
                self.problem(label, "warning rules run over the customer target only")
            if kind in {"decline", "refer"} and targets != ("application",):
                self.problem(label, f"{kind} rules run over the application target only")
            condition = self.expression(entry.get("condition"), f"{label} condition", targets, boolean=True)
            severity = entry.get("severity", "critical" if kind == "blacklist" else "medium")
            if severity not in SEVERITIES:
                self.problem(label, f"severity must be one of {', '.join(SEVERITIES)}")
            escalations = []
            for number, step in enumerate(entry.get("escalate") or []):
                if not isinstance(step, dict) or step.get("severity") not in SEVERITIES or "when" not in step:
                    self.problem(f"{label} escalate[{number}]", "needs when: <condition> and severity: "
                                 + "|".join(SEVERITIES))
                    continue
                when = self.expression(step["when"], f"{label} escalate[{number}]", targets, boolean=True)
                if when is not None:
                    escalations.append(Escalation(when, step["severity"]))
            for_days = entry.get("for_days", 1)
            if not isinstance(for_days, int) or isinstance(for_days, bool) or not 1 <= for_days <= 366:
                self.problem(label, "for_days must be a whole number from 1 to 366")
                for_days = 1
            if for_days > 1 and targets != ("customer",):
                self.problem(label, "for_days needs history: only rules over the customer target may use it")
            evidence = entry.get("evidence") or []
            if not isinstance(evidence, list) or any(
                not isinstance(c, str) or any(c not in TARGETS[t] for t in targets) for c in evidence
            ):
                self.problem(label, "evidence must list allowed columns of the rule's targets")
                evidence = []
            if condition is not None and rule_id:
                rules.append(Rule(
                    id=rule_id, version=self.version_of(entry, label), kind=kind, targets=targets,
                    condition=condition, description=str(entry.get("description") or ""),
                    severity=severity if severity in SEVERITIES else "medium", escalations=tuple(escalations),
                    for_days=for_days, evidence=tuple(evidence),
                ))
        return tuple(rules)

    def number(self, entry: dict, key: str, label: str, *, default: float | None = None, low: float = 0.0,
               high: float | None = None) -> float | None:
        value = entry.get(key, default)
        if value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) \
                or value < low or (high is not None and value > high):
            bounds = f"from {low:g}" + (f" to {high:g}" if high is not None else "")
            self.problem(label, f"{key} must be a number {bounds}")
            return default
        return float(value)

    def parse_limit(self, entry: Any, where: str, target: str) -> LimitFormula | None:
        if not isinstance(entry, dict):
            self.problem(where, "must be a mapping with base, factors and caps")
            return None
        rule_id = self.rule_id({"id": entry.get("id", where.split(".")[-1])}, where)
        label = f"rule {rule_id!r} ({where})"
        for key in sorted(set(entry) - {"id", "version", "description", "base", "factors", "caps"}):
            self.problem(label, f"unknown field {key!r}")
        base = self.expression(entry.get("base"), f"{label} base", (target,), boolean=False)
        factors = {}
        raw_factors = entry.get("factors") or {}
        if not isinstance(raw_factors, dict):
            self.problem(label, "factors must map a name to an expression")
            raw_factors = {}
        for name, text in raw_factors.items():
            if not RULE_ID.match(str(name)):
                self.problem(label, f"factor name {name!r} must be a lowercase name")
                continue
            checked = self.expression(text, f"{label} factor {name}", (target,), boolean=False)
            if checked is not None:
                factors[str(name)] = checked
        caps = entry.get("caps") or {}
        if not isinstance(caps, dict):
            self.problem(label, "caps must be a mapping")
            caps = {}
        for key in sorted(set(caps) - {"min_limit", "max_limit", "max_increase_ratio", "max_decrease_ratio",
                                        "round_to"}):
            self.problem(label, f"unknown cap {key!r}")
        cap_label = f"{label} caps"
        result = LimitFormula(
            id=rule_id or where, version=self.version_of(entry, label), target=target, base=base, factors=factors,
            min_limit=self.number(caps, "min_limit", cap_label, default=0.0),
            max_limit=self.number(caps, "max_limit", cap_label),
            max_increase_ratio=self.number(caps, "max_increase_ratio", cap_label, low=1.0),
            max_decrease_ratio=self.number(caps, "max_decrease_ratio", cap_label, high=1.0),
            round_to=self.number(caps, "round_to", cap_label, default=1.0, low=0.01),
        )
        return result if base is not None else None

    def parse_collections(self, entry: Any) -> Collections | None:
        where = "collections"
        if not isinstance(entry, dict):
            self.problem(where, "must be a mapping with lgd, ccf, dunning_levels, default_pd_by_dpd")
            return None
        for key in sorted(set(entry) - {"lgd", "ccf", "dunning_levels", "default_pd_by_dpd", "min_dpd"}):
            self.problem(where, f"unknown field {key!r}")
        lgd = self.number(entry, "lgd", where, default=0.45, high=1.0)
        ccf = self.number(entry, "ccf", where, default=0.5, high=1.0)
        levels = []
        for index, level in enumerate(entry.get("dunning_levels") or []):
            if not isinstance(level, dict) or not isinstance(level.get("level"), str) \
                    or not isinstance(level.get("min_dpd"), int) or level["min_dpd"] < 1:
                self.problem(f"{where}.dunning_levels[{index}]", "needs level: <name> and min_dpd: <days, 1 or more>")
                continue
            levels.append((level["level"], level["min_dpd"]))
        if not levels:
            self.problem(where, "dunning_levels must list at least one level")
        elif [m for _, m in levels] != sorted({m for _, m in levels}):
            self.problem(where, "dunning_levels must have strictly increasing min_dpd")
        buckets = []
        for index, bucket in enumerate(entry.get("default_pd_by_dpd") or []):
            maximum = bucket.get("max_dpd") if isinstance(bucket, dict) else "?"
            pd = bucket.get("pd") if isinstance(bucket, dict) else None
            if (maximum is not None and not isinstance(maximum, int)) or not isinstance(pd, int | float) \
                    or not 0 <= pd <= 1:
                self.problem(f"{where}.default_pd_by_dpd[{index}]", "needs max_dpd: <days or null> and pd: 0..1")
                continue
            buckets.append((maximum, float(pd)))
        if not buckets or buckets[-1][0] is not None:
            self.problem(where, "default_pd_by_dpd must end with a bucket whose max_dpd is null (all the rest)")
        min_dpd = entry.get("min_dpd", 1)
        if not isinstance(min_dpd, int) or min_dpd < 1:
            self.problem(where, "min_dpd must be a whole number of days, 1 or more")
            min_dpd = 1
        return Collections(lgd=lgd or 0.0, ccf=ccf or 0.0, dunning_levels=tuple(levels),
                           default_pd_by_dpd=tuple(buckets), min_dpd=min_dpd)

    def parse_application(self, entry: Any) -> Application | None:
        where = "application"
        if not isinstance(entry, dict):
            self.problem(where, "must be a mapping with scorecard, decline, refer, initial_limit")
            return None
        for key in sorted(set(entry) - {"scorecard", "decline", "refer", "initial_limit"}):
            self.problem(where, f"unknown field {key!r}")
        scorecard = self.parse_scorecard(entry.get("scorecard"))
        decline = self.parse_rules(entry.get("decline"), "decline", ("application",))
        refer = self.parse_rules(entry.get("refer"), "refer", ("application",))
        initial = self.parse_limit(entry.get("initial_limit"), "application.initial_limit", "application")
        if scorecard is None or initial is None:
            return None
        return Application(scorecard=scorecard, decline=decline, refer=refer, initial_limit=initial)

    def parse_scorecard(self, entry: Any) -> Scorecard | None:
        where = "application.scorecard"
        if not isinstance(entry, dict):
            self.problem(where, "is required: base_points, base_odds, pdo, characteristics")
            return None
        rule_id = self.rule_id({"id": entry.get("id", "application_scorecard")}, where) or "application_scorecard"
        label = f"rule {rule_id!r} ({where})"
        base_points = self.number(entry, "base_points", label, default=600.0)
        base_odds = self.number(entry, "base_odds", label, default=50.0, low=0.0001)
        pdo = self.number(entry, "pdo", label, default=20.0, low=0.0001)
        characteristics = []
        for name, spec in (entry.get("characteristics") or {}).items():
            if name not in TARGETS["application"]:
                self.problem(label, f"characteristic {name!r} is not an application field")
                continue
            if not isinstance(spec, dict):
                self.problem(label, f"characteristic {name!r} needs bins or categories")
                continue
            bins = []
            for index, step in enumerate(spec.get("bins") or []):
                upper = step.get("below") if isinstance(step, dict) else "?"
                points = step.get("points") if isinstance(step, dict) else None
                if (upper is not None and not isinstance(upper, int | float)) or not isinstance(points, int | float):
                    self.problem(label, f"characteristic {name!r} bins[{index}] needs below: <number> and points")
                    continue
                bins.append((None if upper is None else float(upper), float(points)))
            if bins and bins[-1][0] is not None:
                self.problem(label, f"characteristic {name!r}: the last bin must have no 'below' (the rest)")
            categories = spec.get("categories") or {}
            if not isinstance(categories, dict):
                self.problem(label, f"characteristic {name!r}: categories must map a value to points")
                categories = {}
            characteristics.append(Characteristic(
                name=name, bins=tuple(bins), categories={str(k): float(v) for k, v in categories.items()},
                other=float(spec.get("other", 0)), missing=float(spec.get("missing", 0)),
            ))
        for key in sorted(set(entry) - {"id", "version", "description", "base_points", "base_odds", "pdo",
                                        "characteristics"}):
            self.problem(label, f"unknown field {key!r}")
        return Scorecard(id=rule_id, version=self.version_of(entry, label), base_points=base_points or 600.0,
                         base_odds=base_odds or 50.0, pdo=pdo or 20.0, characteristics=tuple(characteristics))
