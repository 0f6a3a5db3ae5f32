"""Which rule set is active (and which runs in shadow), and the audit trail of every change.

``scoring.policy_versions`` holds one row per activation: the rule set's name and version, its
content hash, the full text (so a past decision can be replayed with exactly the rules in force),
who activated it and when, and its mode (active or shadow). Activating a different content hash also
writes ``scoring.policy_audit``: from which hash to which, and which rules were added, removed or
changed. Re-activating what is already in force changes nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml

from credit_dw import audit
from scoring.rules.policy import DEFAULT_POLICY, PolicyError, RuleSet, load_policy, parse_policy, rule_fingerprints

REGISTRY_DDL = """
create schema if not exists scoring;
create table if not exists scoring.policy_versions (
    policy_version_id bigserial primary key,
    rule_set text not null,
    version text not null,
    content_hash text not null,
    mode text not null check (mode in ('active', 'shadow')),
    activated_at timestamptz not null default now(),
    activated_by text not null,
    retired_at timestamptz,
    retired_by text,
    source text,
    content text not null
);
create index if not exists policy_versions_in_force on scoring.policy_versions (rule_set, mode)
    where retired_at is null;
create table if not exists scoring.policy_audit (
    audit_id bigserial primary key,
    rule_set text not null,
    event text not null,
    mode text not null,
    from_version text,
    from_hash text,
    to_version text,
    to_hash text,
    changes jsonb not null,
    changed_by text not null,
    changed_at timestamptz not null default now()
);
"""


@dataclass(frozen=True)
class ActivationResult:
    rule_set: str
    version: str
    content_hash: str
    mode: str
    changed: bool
    changes: dict[str, list[str]]
    previous_hash: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"rule_set": self.rule_set, "version": self.version, "content_hash": self.content_hash,
                "mode": self.mode, "changed": self.changed, "changes": self.changes,
                "previous_hash": self.previous_hash}


def ensure_registry(conn) -> None:
    conn.execute(REGISTRY_DDL)


def in_force(conn, rule_set: str, mode: str = "active") -> RuleSet | None:
    """The rule set in force for ``mode``, parsed from the text stored when it was activated."""
    ensure_registry(conn)
    row = conn.execute(
        """select content, source from scoring.policy_versions
           where rule_set = %s and mode = %s and retired_at is null
           order by activated_at desc, policy_version_id desc limit 1""",
        (rule_set, mode),
    ).fetchone()
    if row is None:
        return None
    return parse_policy(row[0], source=f"{rule_set} ({mode}, from {row[1] or 'the registry'})")


def stored_version(conn, rule_set: str, content_hash_prefix: str) -> RuleSet | None:
    """A rule set ever activated, by (a prefix of) its content hash."""
    ensure_registry(conn)
    row = conn.execute(
        """select content, source from scoring.policy_versions
           where rule_set = %s and content_hash like %s order by activated_at desc limit 1""",
        (rule_set, content_hash_prefix.replace("%", "").replace("_", "") + "%"),
    ).fetchone()
    return parse_policy(row[0], source=f"{rule_set} {content_hash_prefix}") if row else None


def rule_sets(conn) -> list[dict[str, Any]]:
    ensure_registry(conn)
    cursor = conn.execute(
        """select rule_set, mode, version, content_hash, activated_at, activated_by, retired_at
           from scoring.policy_versions order by rule_set, activated_at desc, policy_version_id desc"""
    )
    columns = [c.name for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def diff(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, list[str]]:
    before = rule_fingerprints(old or {})
    after = rule_fingerprints(new)
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": sorted(r for r in set(after) & set(before) if after[r][1] != before[r][1]),
        "settings_changed": sorted(
            key for key in ("source_sla", "collections", "description")
            if (old or {}).get(key) != new.get(key)
        ),
    }


def activate(conn, rule_set: RuleSet, *, by: str, mode: str = "active", at: datetime | None = None
             ) -> ActivationResult:
    """Put ``rule_set`` in force for ``mode``. A changed rule must carry a higher version than the one
    in force; an identical content hash is a no-op."""
    if not by or not by.strip():
        raise ValueError("activation needs the name of who activates (--by)")
    if mode not in ("active", "shadow"):
        raise ValueError("mode is active or shadow")
    ensure_registry(conn)
    conn.execute("select pg_advisory_xact_lock(hashtext('scoring.policy_versions'))")
    current = conn.execute(
        """select policy_version_id, version, content_hash, content from scoring.policy_versions
           where rule_set = %s and mode = %s and retired_at is null
           order by activated_at desc, policy_version_id desc limit 1""",
        (rule_set.name, mode),
    ).fetchone()
    if current and current[2] == rule_set.content_hash:
        return ActivationResult(rule_set.name, rule_set.version, rule_set.content_hash, mode, False,
                                {"added": [], "removed": [], "changed": [], "settings_changed": []}, current[2])
    # compare with what is active (for shadow too: a shadow is a proposal against the active set)
    reference = current if mode == "active" else conn.execute(
        """select policy_version_id, version, content_hash, content from scoring.policy_versions
           where rule_set = %s and mode = 'active' and retired_at is null
           order by activated_at desc, policy_version_id desc limit 1""",
        (rule_set.name,),
    ).fetchone()
    old_document = yaml.safe_load(reference[3]) if reference else None
    changes = diff(old_document, rule_set.raw)
    if reference:
        before, after = rule_fingerprints(old_document), rule_fingerprints(rule_set.raw)
        unbumped = [rule for rule in changes["changed"] if after[rule][0] <= before[rule][0]]
        if unbumped:
            raise PolicyError(rule_set.source, [
                f"rule {rule!r}: its content changed but its version did not "
                f"(still {after[rule][0]}, in force: {before[rule][0]}); raise the rule's version"
                for rule in unbumped
            ])
        if str(reference[1]) == rule_set.version and mode == "active":
            raise PolicyError(rule_set.source, [
                f"version: {rule_set.version!r} is already in force with other content; raise the version"
            ])
    if current:
        conn.execute(
            "update scoring.policy_versions set retired_at = coalesce(%s, now()), retired_by = %s "
            "where policy_version_id = %s",
            (at, by, current[0]),
        )
    conn.execute(
        """insert into scoring.policy_versions
               (rule_set, version, content_hash, mode, activated_at, activated_by, source, content)
           values (%s, %s, %s, %s, coalesce(%s, now()), %s, %s, %s)""",
        (rule_set.name, rule_set.version, rule_set.content_hash, mode, at, by, rule_set.source, rule_set.text),
    )
    conn.execute(
        """insert into scoring.policy_audit
               (rule_set, event, mode, from_version, from_hash, to_version, to_hash, changes, changed_by, changed_at)
           values (%s, %s, %s, %s, %s, %s, %s, %s, %s, coalesce(%s, now()))""",
        (rule_set.name, "activated" if mode == "active" else "shadow_started", mode,
         current[1] if current else None, current[2] if current else None, rule_set.version,
         rule_set.content_hash, json.dumps(changes), by, at),
    )
    # the policy's own trail above has the detail; the warehouse-wide audit log has the event
    audit.record(conn, "policy_activate" if mode == "active" else "policy_shadow_start",
                 f"scoring.policy/{rule_set.name}",
                 {"version": rule_set.version, "content_hash": rule_set.content_hash, "by": by,
                  "from_hash": current[2] if current else None, "changes": changes})
    return ActivationResult(rule_set.name, rule_set.version, rule_set.content_hash, mode, True, changes,
                            current[2] if current else None)


def retire_shadow(conn, rule_set: str, *, by: str) -> bool:
    ensure_registry(conn)
    row = conn.execute(
        """update scoring.policy_versions set retired_at = now(), retired_by = %s
           where rule_set = %s and mode = 'shadow' and retired_at is null returning version, content_hash""",
        (by, rule_set),
    ).fetchone()
    if row:
        conn.execute(
            """insert into scoring.policy_audit (rule_set, event, mode, from_version, from_hash, changes, changed_by)
               values (%s, 'shadow_stopped', 'shadow', %s, %s, '{}'::jsonb, %s)""",
            (rule_set, row[0], row[1], by),
        )
    return row is not None


def active_or_bootstrap(conn) -> RuleSet:
    """The active credit policy; on a warehouse that never had one, the bundled file, activated by
    'system' (recorded like any activation)."""
    bundled = load_policy(DEFAULT_POLICY)
    active = in_force(conn, bundled.name)
    if active is not None:
        return active
    activate(conn, bundled, by="system (first run)")
    return bundled
