"""Customer master: link ERP customers, CRM accounts, bank payers and bureau subjects to one customer.

Entry point for the nightly (between ``dbt build --select staging`` and the rest of dbt)::

    from mdm.resolve import resolve_entities
    summary = resolve_entities(database_url, run_id)

It reads the staging views, writes the ``mdm`` schema and returns a small dict of counts.

Method
------
1. **Deterministic**: master records (ERP, CRM, bureau) sharing a valid USCC (GB 32100 check
   character verified with python-stdnum), a VAT number or a company registration number are one
   customer (``match_method`` uscc / vat_number / registration_number, probability 1); so are
   records a data steward declared a match in ``mdm.steward_decisions`` (``steward``).
2. **Probabilistic, masters**: a Fellegi–Sunter model run by **Splink** (DuckDB backend) scores
   candidate pairs on the normalised name (:mod:`mdm.normalize`: legal form and region stripped,
   traditional → simplified with OpenCC, NFKC full-width → half-width, spaces and punctuation
   removed; levels for the same key, the same pinyin — homophone typos from pinyin input methods —,
   a Chinese abbreviation, one character off, Jaro–Winkler), city (the record's, else the region
   in its name, else the registering office's from the USCC division code), country, legal form,
   a learnt ERP-sector ↔ CRM-industry crosswalk, and different USCCs / VAT numbers as strong
   negative evidence. Pairs at or above ``Thresholds.link`` are merged strongest first unless the
   two clusters carry conflicting identities (two valid USCCs, VAT or registration numbers, two
   bureau subjects, two Latin-script legal forms such as GmbH vs AG, a steward's ``no_match``) or
   the record strongly matches two such clusters; those, and pairs in the grey zone
   (``Thresholds.review`` ≤ p < ``Thresholds.link``), go to the review queue. Records that match
   nothing are customers of their own (``singleton``).
3. **Probabilistic, bank payers**: each incoming-payment entry is scored against every candidate
   customer's profile on the payer name, invoices cited in the remittance or end-to-end reference
   (full number, or its last eight digits when unambiguous, mapped to the ERP customer through
   ``stg_erp__invoices``), the ERP's own cash application (``stg_erp__payments.bank_reference`` with
   currency and amount), an IBAN written in the name or remittance that the ERP keeps for a
   customer, the payer account's blind index already seen on that customer's other payments, and
   the region in the payer name. Bayes factors over all candidates give a posterior per customer
   (an entry belongs to at most one), so a name shared by two customers never links on the name
   alone. Linked at ``Thresholds.bank_link``; below it the entry stays ``unmatched`` with
   ``customer_id`` null (unapplied cash stays visible) and grey-zone entries are queued for review.

Why Splink rather than pg_trgm: pg_trgm only scores string similarity — weighting several
attributes, handling missing values and explaining a score (the review queue's reasons are
per-comparison Bayes factors) would all be hand-built around it. And its trigrams skip characters
the database locale does not call alphanumeric: on a cluster initialised with ``LC_CTYPE=C`` (the
embedded PostgreSQL 18 started from an environment without a UTF-8 locale: ``LANG=C credit-dw
warehouse url``) ``show_trgm('华信电子')`` is empty and every Chinese name scores 0, while under
``C.UTF-8`` (the PostgreSQL 15 server here, and the embedded server started from a UTF-8 shell)
CJK characters count. A matcher whose results depend on ``initdb``'s locale is not one to rely on.
Splink runs in-process on DuckDB: no extra service, and the same model runs on Spark if ever needed.

Model parameters (:mod:`mdm.model`), never EM: m-probabilities from pairs the identifiers already
joined (same USCC / VAT number; for bank entries, the customer whose invoice the remittance cites);
u-probabilities from random pairs the identifiers prove distinct (two different USCCs; an entry vs
a customer it does not cite). Splink's own random sampling would count every sampled pair as a
non-match: with about three records per customer, most sampled pairs with the same name *are*
matches, and the weight of a shared name collapses. The invoice and payer-account levels define
the bank labels, so their m and u are fixed (see :func:`mdm.model.bank_comparisons`). The trained
models are stored with each run in ``mdm.resolution_runs``.

Stable ids: :mod:`mdm.ids`. Survivorship (golden record, dbt model ``dim_customers``): name and
USCC from the ERP, else the bureau, else the CRM; city of registration from the bureau (registering
office in its USCC), else the ERP, else the CRM, else the region in the name; industry sector from
the ERP, CRM industry from the CRM; registration status from the bureau; among several ERP records
the one not closed or blocked with the smallest customer number.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
import psycopg

from mdm import ids, model, sources, store
from mdm.cluster import Clusters

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Thresholds:
    link: float = 0.95  # master pairs merged at or above
    review: float = 0.30  # master pairs in [review, link) go to the review queue
    bank_link: float = 0.90  # a bank entry is linked to its best customer at or above
    bank_review: float = 0.30  # bank entries in [bank_review, bank_link) go to the review queue


@dataclass
class Resolution:
    records: pd.DataFrame  # every source record: cluster_key, match_method, match_probability, match_reasons
    clusters: dict[str, list[tuple[str, str]]]  # cluster key -> master members (source_system, source_record_id)
    review: pd.DataFrame  # review queue items
    source_records: pd.DataFrame  # every record's normalised attributes (masters and bank entries)
    models: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    master_pairs: pd.DataFrame | None = None  # scored candidate pairs of master records (for inspection)


REVIEW_COLUMNS = [
    "kind", "review_reason", "match_probability", "reasons", "reasons_json",
    "left_unique_id", "right_unique_id", "right_cluster_key",
]


def resolve_entities(database_url: str, run_id: str | None = None, *, thresholds: Thresholds | None = None) -> dict:
    """Resolve every source record to a customer and write the ``mdm`` schema; returns counts.

    Reads ``staging.stg_erp__customers``, ``stg_crm__accounts``, ``stg_bureau__company_reports`` /
    ``stg_bureau__events``, ``stg_bank__statement_entries`` (credits), ``stg_erp__invoices`` and
    ``stg_erp__payments``; views that do not exist yet count as empty. Writes
    ``mdm.source_records``, ``mdm.customer_xref``, ``mdm.review_queue`` (replaced each run),
    ``mdm.customer_ids`` / ``mdm.customer_id_assignments`` (stable ids, kept) and a row in
    ``mdm.resolution_runs``, in one transaction under an advisory lock."""
    from credit_dw.warehouse import libpq_url

    thresholds = thresholds or Thresholds()
    run_id = run_id or f"mdm-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    started = time.perf_counter()
    with psycopg.connect(libpq_url(database_url)) as conn:
        store.ensure_schema(conn)
        conn.commit()
        conn.execute("select pg_advisory_xact_lock(hashtext('mdm.resolve_entities'))")
        data = sources.load(conn)
        decisions = store.steward_decisions(conn)
        resolution = resolve(data, decisions, thresholds)
        customer_ids, new_ids = ids.assign(conn, resolution.clusters, run_id)
        summary = store.write(conn, resolution, customer_ids, run_id, thresholds, new_ids)
        summary["seconds"] = round(time.perf_counter() - started, 3)
        store.record_run(conn, run_id, summary, resolution.models)
    log.info("entity resolution %s: %s", run_id, summary)
    return summary


def record_steward_decision(database_url: str, review_id: str, decision: str, decided_by: str,
                            note: str | None = None) -> None:
    """A data steward's verdict on a review-queue item: ``match`` (the two records are one customer)
    or ``no_match``. Kept in ``mdm.steward_decisions``; the next run applies it. For a bank entry,
    the pair is the entry and the customer's record shown on the right."""
    from credit_dw.warehouse import libpq_url

    if decision not in ("match", "no_match"):
        raise ValueError(f"decision must be 'match' or 'no_match', not {decision!r}")
    with psycopg.connect(libpq_url(database_url)) as conn:
        store.ensure_schema(conn)
        row = conn.execute(
            """select left_source_system, left_source_record_id, right_source_system, right_source_record_id
               from mdm.review_queue where review_id = %s""", (review_id,)).fetchone()
        if row is None:
            raise KeyError(f"no review item {review_id}")
        conn.execute(
            """insert into mdm.steward_decisions (left_source_system, left_source_record_id, right_source_system,
                                                  right_source_record_id, decision, decided_by, note)
               values (%s, %s, %s, %s, %s, %s, %s)
               on conflict (left_source_system, left_source_record_id, right_source_system, right_source_record_id)
               do update set decision = excluded.decision, decided_by = excluded.decided_by,
                             decided_at = now(), note = excluded.note""",
            (*row, decision, decided_by, note),
        )


def resolve(data: sources.SourceData, decisions: pd.DataFrame | None = None,
            thresholds: Thresholds | None = None) -> Resolution:
    """The whole resolution on loaded data, without touching the database."""
    thresholds = thresholds or Thresholds()
    masters = data.masters.copy()
    started = time.perf_counter()
    master_result = _resolve_masters(masters, decisions, thresholds)
    master_result["metrics"]["seconds_masters"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    bank_result = _resolve_bank(data.bank.copy(), masters, master_result, thresholds, decisions)
    bank_result["metrics"]["seconds_bank"] = round(time.perf_counter() - started, 2)
    records = pd.concat([master_result["records"], bank_result["records"]], ignore_index=True)
    review = pd.concat([master_result["review"], bank_result["review"]], ignore_index=True)
    clusters: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for system, record, key in zip(masters["source_system"], masters["source_record_id"],
                                   master_result["records"]["cluster_key"], strict=True):
        clusters[key].append((system, record))
    attribute_columns = ["source_system", "source_record_id", "name", "name_key", "name_region", "legal_form",
                         "uscc", "registration_number", "vat_number", "country", "city", "city_key", "industry",
                         "status", "parent_source_record_id"]
    source_records = pd.concat([masters.reindex(columns=attribute_columns),
                                data.bank.reindex(columns=attribute_columns)], ignore_index=True)
    return Resolution(records, dict(clusters), review, source_records,
                      models={"masters": master_result["model"], "bank": bank_result["model"]},
                      metrics={**master_result["metrics"], **bank_result["metrics"]},
                      master_pairs=master_result["pairs"])


def _objects(frame: pd.DataFrame, values: list) -> pd.Series:
    """A column of Python objects (None stays None: pandas would turn it into NaN in a str column)."""
    return pd.Series(values, index=frame.index, dtype=object)


# --- masters -------------------------------------------------------------------------------------------

def _industry_crosswalk(masters: pd.DataFrame, groups: dict[str, set[str]]) -> dict[str, set[str]]:
    """Industry values of different systems that co-occur within deterministic groups: the ERP's
    GB/T sector (制造业) and the CRM's picklist (Electronics) are different vocabularies."""
    token = dict(zip(masters["unique_id"], masters["industry_token"], strict=True))
    pair_counts: Counter = Counter()
    totals: Counter = Counter()
    for members in groups.values():
        values = {token[m] for m in members if token.get(m)}
        for a in values:
            for b in values:
                if a != b and a.split(":", 1)[0] != b.split(":", 1)[0]:
                    pair_counts[(a, b)] += 1
            totals[a] += 1
    compatible: dict[str, set[str]] = defaultdict(set)
    for (a, b), count in pair_counts.items():
        if count >= 2 and count / totals[a] >= 0.02:
            compatible[a].add(b)
    return compatible


def _master_frame(masters: pd.DataFrame) -> pd.DataFrame:
    frame = masters[["unique_id", "source_system", "name_key", "raw_key", "pinyin_key", "pinyin_keys", "script",
                     "city_key", "country", "uscc",
                     "registration_key", "vat_key", "legal_form", "industry_token", "industry_compatible",
                     "identity_label"]].copy()
    frame["name_keys"] = [sorted({k for k in (a, b) if k}) for a, b in zip(frame["name_key"], frame["raw_key"],
                                                                           strict=True)]
    # kind:class:value — the class (cn / fx) tells companies of different countries apart
    frame["identity"] = _objects(frame, [
        f"uscc:cn:{u}" if u else f"vat:fx:{v}" if v else
        (f"reg:{'cn' if r.startswith('CN:') else 'fx'}:{r}" if r else None)
        for u, v, r in zip(masters["uscc"], masters["vat_key"], masters["registration_key"], strict=True)
    ])
    return frame


def _resolve_masters(masters: pd.DataFrame, decisions: pd.DataFrame | None, thresholds: Thresholds) -> dict:
    ids_ = list(masters["unique_id"])
    clusters = Clusters(ids_)
    system_of = dict(zip(masters["unique_id"], masters["source_system"], strict=True))
    for uid, system in system_of.items():
        if system == "bureau":
            clusters.add_identity(uid, "bureau subject", uid)
    # Latin-script legal forms tell companies apart (Schmidt Antriebstechnik GmbH & Co. KG / AG);
    # Chinese ones do not reliably (clerks write 有限公司 for 有限责任公司).
    for uid, script, form in zip(masters["unique_id"], masters["script"], masters["legal_form"], strict=True):
        if script == "latin" and isinstance(form, str):
            clusters.add_identity(uid, "legal form", form)
    method: dict[str, str] = {}
    # 1. deterministic
    for kind, column, label in (("USCC", "uscc", "uscc"), ("VAT number", "vat_key", "vat_number"),
                                ("registration number", "registration_key", "registration_number")):
        by_value: dict[str, list[str]] = defaultdict(list)
        for uid, value in zip(masters["unique_id"], masters[column], strict=True):
            if value:
                clusters.add_identity(uid, kind if kind != "registration number" else f"{kind} {value[:2]}", value)
                by_value[value].append(uid)
        for members in by_value.values():
            if len(members) > 1:
                for other in members[1:]:
                    clusters.union(members[0], other)
                for member in members:
                    method.setdefault(member, label)
    if decisions is not None and len(decisions):
        for row in decisions.itertuples():
            a, b = f"{row.left_source_system}|{row.left_source_record_id}", \
                f"{row.right_source_system}|{row.right_source_record_id}"
            if a not in clusters.parent or b not in clusters.parent:
                continue
            if row.decision == "match":
                clusters.union(a, b)
                method.setdefault(a, "steward")
                method.setdefault(b, "steward")
            else:
                clusters.add_cannot_link(a, b)
    deterministic_groups = clusters.groups()

    # 2. probabilistic
    masters["industry_token"] = _objects(masters, [
        f"{s}:{i.strip().lower()}" if isinstance(i, str) and i.strip() else None
        for s, i in zip(masters["source_system"], masters["industry"], strict=True)
    ])
    crosswalk = _industry_crosswalk(masters, deterministic_groups)
    masters["industry_compatible"] = _objects(masters, [sorted({t} | crosswalk.get(t, set())) if t else []
                                                        for t in masters["industry_token"]])
    root_of = {uid: clusters.find(uid) for uid in ids_}
    identified = (masters["uscc"].notna() | masters["vat_key"].notna() | masters["registration_key"].notna())
    group_size = Counter(root_of[u] for u in masters.loc[identified, "unique_id"])
    # m is learnt from the pairs an identifier already joined (same USCC / VAT / registration number)
    masters["identity_label"] = _objects(masters, [
        root_of[u] if has and group_size[root_of[u]] > 1 else None
        for u, has in zip(masters["unique_id"], identified, strict=True)])
    prior = _master_prior(masters, root_of)
    frame = _master_frame(masters)
    scored = model.score([frame], link_type="dedupe_only", comparisons=model.master_comparisons(),
                         blocking_rules=model.master_blocking_rules(), prior=prior, label_column="identity_label",
                         retain=["source_system"], threshold=min(thresholds.review, 0.05))
    pairs = scored.pairs
    review_rows: list[dict] = []
    best: dict[str, float] = {}  # record -> its strongest link inside its customer
    best_pair: dict[str, tuple] = {}
    if len(pairs):
        pairs = pairs.sort_values(["match_probability", "unique_id_l", "unique_id_r"],
                                  ascending=[False, True, True]).reset_index(drop=True)
        strong = pairs[pairs["match_probability"] >= thresholds.link]
        ambiguous = _ambiguous_records(strong, clusters)
        for row in strong.itertuples(index=False):
            left, right = row.unique_id_l, row.unique_id_r
            if clusters.find(left) == clusters.find(right):
                continue
            why = clusters.conflict(left, right)
            if why is None and (left in ambiguous or right in ambiguous):
                why = "matches more than one customer"
            if why is not None:
                review_rows.append(_master_review(row, scored, f"strong match refused: {why}"))
                continue
            clusters.union(left, right)
        for row in pairs.itertuples(index=False):
            left, right = row.unique_id_l, row.unique_id_r
            if clusters.find(left) == clusters.find(right):
                for uid, other in ((left, right), (right, left)):
                    if float(row.match_probability) > best.get(uid, -1.0):
                        best[uid] = float(row.match_probability)
                        best_pair[uid] = (row, other)
            elif row.match_probability >= thresholds.review and row.match_probability < thresholds.link:
                review_rows.append(_master_review(row, scored, "grey zone"))
    final_root = {uid: clusters.find(uid) for uid in ids_}
    sizes = Counter(final_root.values())
    methods, probabilities, reasons_list = [], [], []
    for uid in ids_:
        if sizes[final_root[uid]] == 1:
            methods.append("singleton")
            probabilities.append(None)
            reasons_list.append(None)
        elif uid in method and sizes[root_of[uid]] > 1:
            methods.append(method[uid])
            probabilities.append(1.0)
            reasons_list.append(None)
        else:
            methods.append("probabilistic")
            probabilities.append(round(best.get(uid, thresholds.link), 6))
            if uid in best_pair:
                row, other = best_pair[uid]
                text = model.reasons_text(model.reasons(pd.Series(row._asdict()), scored.levels))
                reasons_list.append(f"{text}; with {other}")
            else:
                reasons_list.append(None)
    records = pd.DataFrame({
        "unique_id": ids_,
        "source_system": masters["source_system"],
        "source_record_id": masters["source_record_id"],
        "cluster_key": [final_root[u] for u in ids_],
        "match_method": methods,
        "match_probability": probabilities,
        "match_reasons": reasons_list,
    })
    review = pd.DataFrame(review_rows, columns=REVIEW_COLUMNS)
    if len(review):
        review["right_cluster_key"] = review["right_unique_id"].map(final_root)
    metrics = {
        "master_pairs_scored": int(len(pairs)),
        "master_prior": prior,
        "masters_linked_probabilistically": int(sum(m == "probabilistic" for m in methods)),
    }
    return {"records": records, "review": review, "model": scored.parameters, "metrics": metrics, "pairs": pairs}


def _master_prior(masters: pd.DataFrame, root_of: dict[str, str]) -> float:
    """Probability that two random master records are one customer, from the USCC-bearing ones."""
    with_uscc = masters.loc[masters["uscc"].notna(), "unique_id"]
    n = len(with_uscc)
    if n < 10:
        return max(1e-4, min(0.5, 3 / max(len(masters), 1)))
    sizes = Counter(root_of[u] for u in with_uscc)
    matching = sum(s * (s - 1) / 2 for s in sizes.values())
    return min(0.5, max(1e-7, matching / (n * (n - 1) / 2)))


def _ambiguous_records(strong: pd.DataFrame, clusters: Clusters) -> set[str]:
    """Records strongly matching two customers that cannot be the same one (different USCCs, legal
    forms, …): which one is right is a steward's call, not the model's."""
    partners: dict[str, set[str]] = defaultdict(set)
    for left, right in zip(strong["unique_id_l"], strong["unique_id_r"], strict=True):
        partners[left].add(clusters.find(right))
        partners[right].add(clusters.find(left))
    ambiguous = set()
    for uid, roots in partners.items():
        roots = sorted(roots - {clusters.find(uid)})
        if len(roots) < 2:
            continue
        if any(clusters.conflict(a, b) for i, a in enumerate(roots) for b in roots[i + 1:]):
            ambiguous.add(uid)
    return ambiguous


def _master_review(row, scored: model.ScoredPairs, why: str) -> dict:
    items = model.reasons(pd.Series(row._asdict()), scored.levels)
    return {
        "kind": "master_pair",
        "review_reason": why,
        "match_probability": float(row.match_probability),
        "reasons": model.reasons_text(items),
        "reasons_json": items,
        "left_unique_id": row.unique_id_l,
        "right_unique_id": row.unique_id_r,
        "right_cluster_key": None,
    }


# --- bank entries --------------------------------------------------------------------------------------

BANK_PRIOR_LINKED = 0.97  # share of incoming payments that come from a known customer


def _profiles(masters: pd.DataFrame, cluster_of: dict[str, str], accounts: dict[str, set[str]]) -> pd.DataFrame:
    masters = masters.assign(cluster_key=masters["unique_id"].map(cluster_of))
    erp_ids: dict[str, list[str]] = defaultdict(list)
    cities: dict[str, set[str]] = defaultdict(set)
    for key, system, record, city in zip(masters["cluster_key"], masters["source_system"],
                                         masters["source_record_id"], masters["city_key"], strict=True):
        if system == "erp":
            erp_ids[key].append(record)
        if city:
            cities[key].add(city)
    names = masters[masters["name_key"].notna()].drop_duplicates(["cluster_key", "name_key", "raw_key"])
    return pd.DataFrame({
        "unique_id": names["unique_id"].values,
        "cluster_key": names["cluster_key"].values,
        "name_key": names["name_key"].values,
        "raw_key": names["raw_key"].values,
        "name_keys": [sorted({k for k in (a, b) if k}) for a, b in zip(names["name_key"], names["raw_key"],
                                                                      strict=True)],
        "script": names["script"].values,
        "pinyin_key": names["pinyin_key"].values,
        "pinyin_keys": names["pinyin_keys"].values,
        "name_region": [None] * len(names),
        "cities": [sorted(cities[k]) for k in names["cluster_key"]],
        "erp_ids": [sorted(erp_ids[k]) for k in names["cluster_key"]],
        "payer_accounts": [sorted(accounts.get(k, ())) for k in names["cluster_key"]],
        "cited_erp_ids": [[] for _ in range(len(names))],
        "cited_cluster": [None] * len(names),
        "cited_block": [None] * len(names),
        "cited_block2": [None] * len(names),
        "account_cluster": [None] * len(names),
        "payer_account_hash": [None] * len(names),
        "account_known": [False] * len(names),
        "label": names["cluster_key"].values,
        "identity": [f"c:c:{c}" for c in names["cluster_key"]],
    })


def _account_map(bank: pd.DataFrame, assigned: pd.Series) -> dict[str, str]:
    """Payer account (blind index) -> the customer its confidently linked entries belong to, when
    at least 90 % of them agree."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for account, key in zip(bank["payer_account_hash"], assigned, strict=True):
        if account and isinstance(key, str):
            counts[account][key] += 1
    result = {}
    for account, counter in counts.items():
        key, count = counter.most_common(1)[0]
        if count / sum(counter.values()) >= 0.9:
            result[account] = key
    return result


def _bank_frame(bank: pd.DataFrame, account_cluster: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({
        "unique_id": bank["unique_id"].values,
        "cluster_key": [None] * len(bank),
        "name_key": bank["name_key"].values,
        "raw_key": bank["raw_key"].values,
        "name_keys": [sorted({k for k in (a, b) if k}) for a, b in zip(bank["name_key"], bank["raw_key"],
                                                                      strict=True)],
        "script": bank["script"].values,
        "pinyin_key": bank["pinyin_key"].values,
        "pinyin_keys": bank["pinyin_keys"].values,
        "name_region": bank["name_region"].values,
        "cities": [[] for _ in range(len(bank))],
        "erp_ids": [[] for _ in range(len(bank))],
        "payer_accounts": [[] for _ in range(len(bank))],
        "cited_erp_ids": bank["cited_erp_ids"].values,
        "cited_cluster": bank["cited_cluster"].values,
        "cited_block": bank["cited_block"].values,
        "cited_block2": bank["cited_block2"].values,
        "account_cluster": [account_cluster.get(a) if a else None for a in bank["payer_account_hash"]],
        "payer_account_hash": bank["payer_account_hash"].values,
        "account_known": [bool(a) and a in account_cluster for a in bank["payer_account_hash"]],
        "label": bank["cited_cluster"].values,
        "identity": [f"c:c:{c}" if isinstance(c, str) else None for c in bank["cited_cluster"]],
    })


def _score_bank(bank: pd.DataFrame, masters: pd.DataFrame, cluster_of: dict[str, str], n_clusters: int,
                account_cluster: dict[str, str], trained: dict | None = None) -> tuple[pd.DataFrame, model.ScoredPairs]:
    accounts: dict[str, set[str]] = defaultdict(set)
    for account, key in account_cluster.items():
        accounts[key].add(account)
    profiles = _profiles(masters, cluster_of, accounts)
    frame = _bank_frame(bank, account_cluster)
    prior = 1 / max(len(profiles), 2)
    scored = model.score([frame, profiles], link_type="link_only", comparisons=model.bank_comparisons(n_clusters),
                         blocking_rules=model.bank_blocking_rules(), prior=prior, label_column="label",
                         retain=["cluster_key"], threshold=None, trained=trained)
    pairs = scored.pairs
    if not len(pairs):
        return pd.DataFrame(columns=["bank_id", "master_id", "cluster_key", "bayes_factor"]), scored
    left_is_bank = pairs["unique_id_l"].str.startswith("bank|")
    pairs = pairs.assign(
        bank_id=pairs["unique_id_l"].where(left_is_bank, pairs["unique_id_r"]),
        master_id=pairs["unique_id_r"].where(left_is_bank, pairs["unique_id_l"]),
        cluster_key=pairs["cluster_key_r"].where(left_is_bank, pairs["cluster_key_l"]),
    )
    # Bayes factor of the evidence, without the prior Splink folded into the match weight.
    prior_weight = math.log2(prior / (1 - prior))
    pairs["bayes_factor"] = 2.0 ** (pairs["match_weight"] - prior_weight)
    pairs = pairs.sort_values("bayes_factor", ascending=False).drop_duplicates(["bank_id", "cluster_key"])
    return pairs, scored


def _posteriors(pairs: pd.DataFrame, n_clusters: int, floor_factor: float) -> pd.DataFrame:
    """Posterior that an entry belongs to each candidate customer: prior π/N per customer
    (π: a payment comes from some known customer), the rest of the customers at the factor of an
    entry that shares nothing with them."""
    if not len(pairs):
        return pairs.assign(posterior=[])
    per_customer = BANK_PRIOR_LINKED / max(n_clusters, 1)
    odds = pairs["bayes_factor"] * per_customer
    candidates = pairs.groupby("bank_id")["bayes_factor"].transform("size")
    rest = (1 - BANK_PRIOR_LINKED) + per_customer * floor_factor * (n_clusters - candidates).clip(lower=0)
    total = odds.groupby(pairs["bank_id"]).transform("sum") + rest
    return pairs.assign(posterior=odds / total)


def _floor_factor(scored: model.ScoredPairs) -> float:
    """Bayes factor of an entry against a customer it shares nothing with (different name, no
    other evidence): the name comparison's 'different name' level."""
    for comparison in scored.parameters.get("comparisons", []):
        if comparison["output_column_name"] == "name":
            level = comparison["comparison_levels"][-1]
            m, u = level.get("m_probability"), level.get("u_probability")
            if m and u:
                return float(m) / float(u)
    return 0.05


def _bank_decisions(decisions: pd.DataFrame | None, cluster_of: dict[str, str]):
    """Stewards' verdicts on bank entries: entry -> customer it belongs to; (entry, customer) pairs
    that must not be linked."""
    forced: dict[str, str] = {}
    excluded: set[tuple[str, str]] = set()
    if decisions is None or not len(decisions):
        return forced, excluded
    for row in decisions.itertuples():
        left = f"{row.left_source_system}|{row.left_source_record_id}"
        right = f"{row.right_source_system}|{row.right_source_record_id}"
        entry, master = (left, right) if left.startswith("bank|") else (right, left)
        if not entry.startswith("bank|") or master not in cluster_of:
            continue
        if row.decision == "match":
            forced[entry] = cluster_of[master]
        else:
            excluded.add((entry, cluster_of[master]))
    return forced, excluded


def _resolve_bank(bank: pd.DataFrame, masters: pd.DataFrame, master_result: dict, thresholds: Thresholds,
                  decisions: pd.DataFrame | None = None) -> dict:
    master_records = master_result["records"]
    cluster_of = dict(zip(master_records["unique_id"], master_records["cluster_key"], strict=True))
    erp_cluster = {uid.split("|", 1)[1]: key for uid, key in cluster_of.items() if uid.startswith("erp|")}
    n_clusters = len(set(cluster_of.values()))
    empty_records = pd.DataFrame(columns=["unique_id", "source_system", "source_record_id", "cluster_key",
                                          "match_method", "match_probability", "match_reasons"])
    if not len(bank):
        return {"records": empty_records, "review": pd.DataFrame(columns=REVIEW_COLUMNS), "model": {},
                "metrics": {"bank_entries": 0}}
    cited_clusters = [sorted({erp_cluster[e] for e in erp_ids if e in erp_cluster}) for erp_ids in
                      bank["cited_erp_ids"]]
    # one customer cited: a label for training and a block; two: both are blocked, neither is a label
    bank["cited_cluster"] = _objects(bank, [c[0] if len(c) == 1 else None for c in cited_clusters])
    bank["cited_block"] = _objects(bank, [c[0] if c else None for c in cited_clusters])
    bank["cited_block2"] = _objects(bank, [c[1] if len(c) > 1 else None for c in cited_clusters])
    # pass 1: accounts known from entries citing invoices; pass 2: from the entries pass 1 linked
    account_cluster = _account_map(bank, bank["cited_cluster"])
    pairs, scored = _score_bank(bank, masters, cluster_of, n_clusters, account_cluster)
    floor = _floor_factor(scored)
    posteriors = _posteriors(pairs, n_clusters, floor)
    best = posteriors.sort_values("posterior", ascending=False).drop_duplicates("bank_id").set_index("bank_id")
    confident = bank["unique_id"].map(best["cluster_key"].where(best["posterior"] >= thresholds.bank_link))
    account_cluster = _account_map(bank, confident.where(confident.notna(), bank["cited_cluster"]))
    # pass 2 rescores only the entries pass 1 could not link, now with every account pass 1 tied down
    settled = set(bank["unique_id"][confident.notna()])
    unsettled = bank[~bank["unique_id"].isin(settled)]
    if len(unsettled):
        rescored, scored = _score_bank(unsettled, masters, cluster_of, n_clusters, account_cluster,
                                       trained=scored.parameters)
        pairs = pd.concat([pairs[pairs["bank_id"].isin(settled)], rescored], ignore_index=True)
    forced, excluded = _bank_decisions(decisions, cluster_of)
    if excluded and len(pairs):
        pairs = pairs[[(b, c) not in excluded for b, c in zip(pairs["bank_id"], pairs["cluster_key"], strict=True)]]
    posteriors = _posteriors(pairs, n_clusters, floor)
    ranked = posteriors.sort_values(["bank_id", "posterior"], ascending=[True, False])
    best = {row["bank_id"]: row for row in ranked.drop_duplicates("bank_id").to_dict("records")}
    second = {row["bank_id"]: row for row in
              ranked[ranked.duplicated("bank_id")].drop_duplicates("bank_id").to_dict("records")}

    keys, methods, probabilities, reasons_list, review_rows = [], [], [], [], []
    for uid in bank["unique_id"]:
        if uid in forced:
            keys.append(forced[uid])
            methods.append("steward")
            probabilities.append(1.0)
            reasons_list.append("a data steward linked this entry")
            continue
        if uid not in best:
            keys.append(None)
            methods.append("unmatched")
            probabilities.append(None)
            reasons_list.append(None)
            continue
        row = best[uid]
        p = float(row["posterior"])
        items = model.reasons(row, scored.levels)
        text = model.reasons_text(items)
        if uid in second:
            text += f"; runner-up {second[uid]['master_id']} p={float(second[uid]['posterior']):.3f}"
        if p >= thresholds.bank_link:
            keys.append(row["cluster_key"])
            methods.append("probabilistic")
            probabilities.append(round(p, 6))
            reasons_list.append(text)
        else:
            keys.append(None)
            methods.append("unmatched")
            probabilities.append(round(p, 6))
            reasons_list.append(text)
            if p >= thresholds.bank_review:
                review_rows.append({
                    "kind": "bank_entry",
                    "review_reason": "grey zone",
                    "match_probability": p,
                    "reasons": text,
                    "reasons_json": items,
                    "left_unique_id": uid,
                    "right_unique_id": row["master_id"],
                    "right_cluster_key": row["cluster_key"],
                })
    records = pd.DataFrame({
        "unique_id": bank["unique_id"],
        "source_system": "bank",
        "source_record_id": bank["source_record_id"],
        "cluster_key": keys,
        "match_method": methods,
        "match_probability": probabilities,
        "match_reasons": reasons_list,
    })
    metrics = {
        "bank_entries": int(len(bank)),
        "bank_entries_citing_invoices": int(bank["cited_cluster"].notna().sum()),
        "bank_pairs_scored": int(len(pairs)),
        "known_payer_accounts": len(account_cluster),
    }
    return {"records": records, "review": pd.DataFrame(review_rows, columns=REVIEW_COLUMNS),
            "model": scored.parameters, "metrics": metrics}
