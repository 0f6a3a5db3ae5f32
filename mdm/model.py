"""The probabilistic part of entity resolution: two Fellegi–Sunter models run by Splink on DuckDB.

*Masters* (ERP customers, CRM accounts, bureau subjects) are compared pairwise (``dedupe_only`` over
one table; ``source_system`` is just an attribute). *Bank entries* are compared with *customer
profiles* (one row per provisional customer and name it is known by, carrying the customer's ERP
ids, cities and known payer accounts), ``link_only``.

Parameters: m-probabilities from pairs the data labels for free — masters sharing a USCC / VAT
number, bank entries whose remittance cites an invoice — and u-probabilities from random pairs the
same identifiers prove distinct (:func:`_u_from_known_non_matches`), so no EM run can drift. The
comparisons whose levels *define* those labels (USCC, registration; invoice citation and payer
account for bank entries) keep fixed probabilities, documented next to them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import pandas as pd

log = logging.getLogger(__name__)

# Name levels shared by both models. {l}/{r} are filled with the column suffixes.
_ABBREVIATION = (
    "(script_l = 'cjk' and script_r = 'cjk' and substr(name_key_l, 1, 1) = substr(name_key_r, 1, 1)"
    " and least(length(name_key_l), length(name_key_r)) >= 2 and ("
    " regexp_matches(name_key_r, '^' || array_to_string(string_split(name_key_l, ''), '.*'))"
    " or regexp_matches(name_key_l, '^' || array_to_string(string_split(name_key_r, ''), '.*'))))"
)


_ONE_OFF = "damerau_levenshtein(name_key_l, name_key_r) <= 1"
_SHORTER = "least(length(name_key_l), length(name_key_r))"


def _name_comparison(m: dict[str, float] | None = None) -> dict:
    """Name levels, most specific first: (condition, label, prior m, prior u, m fixed?). Latin-script
    typo levels keep a fixed m: the labels that train m (shared USCCs) are all Chinese companies."""
    levels = [
        ("name_key_l = name_key_r", "same name key", 0.55, 0.0005, False),
        ("len(list_intersect(name_keys_l, name_keys_r)) > 0", "same name with region", 0.05, 0.0001, False),
        ("len(list_intersect(pinyin_keys_l, pinyin_keys_r)) > 0", "same pinyin (homophone typo)", 0.03, 0.0001, False),
        (_ABBREVIATION, "abbreviation", 0.2, 0.002, False),
        (f"script_l = 'cjk' and script_r = 'cjk' and {_SHORTER} >= 5 and {_ONE_OFF}",
         "one character off (long Chinese name)", 0.02, 0.0001, False),
        (f"script_l = 'latin' and script_r = 'latin' and {_SHORTER} >= 8"
         f" and ({_ONE_OFF} or jaro_winkler_similarity(name_key_l, name_key_r) >= 0.95)",
         "one letter off (Latin name)", 0.06, 0.0001, True),
        (f"{_SHORTER} >= 3 and {_ONE_OFF}", "one character off", 0.02, 0.0005, False),
        ("jaro_winkler_similarity(name_key_l, name_key_r) >= 0.9", "similar name (JW >= 0.9)", 0.04, 0.003, False),
        ("jaro_winkler_similarity(name_key_l, name_key_r) >= 0.75", "loosely similar name (JW >= 0.75)", 0.03, 0.05,
         False),
        ("ELSE", "different name", 0.02, 0.944, False),
    ]
    comparison_levels = [{"sql_condition": "name_key_l is null or name_key_r is null", "is_null_level": True,
                          "label_for_charts": "name missing"}]
    for condition, label, m_p, u_p, fix in levels:
        level = {"sql_condition": condition, "label_for_charts": label, "m_probability": (m or {}).get(label, m_p),
                 "u_probability": u_p, "fix_m_probability": fix}
        comparison_levels.append(level)
    return {"output_column_name": "name", "comparison_levels": comparison_levels}


def _three_level(name: str, null: str, same: str, different: str, m: tuple[float, float], u: tuple[float, float],
                 labels: tuple[str, str], *, fix_m: bool = False, fix_u: bool = False) -> dict:
    return {
        "output_column_name": name,
        "comparison_levels": [
            {"sql_condition": null, "is_null_level": True, "label_for_charts": f"{name} missing"},
            {"sql_condition": same, "label_for_charts": labels[0], "m_probability": m[0], "u_probability": u[0],
             "fix_m_probability": fix_m, "fix_u_probability": fix_u},
            {"sql_condition": different, "label_for_charts": labels[1], "m_probability": m[1],
             "u_probability": u[1], "fix_m_probability": fix_m, "fix_u_probability": fix_u},
        ],
    }


def master_comparisons() -> list[dict]:
    return [
        _name_comparison(),
        _three_level("city", "city_key_l is null or city_key_r is null", "city_key_l = city_key_r", "ELSE",
                     (0.97, 0.03), (0.1, 0.9), ("same city", "different city")),
        _three_level("country", "country_l is null or country_r is null", "country_l = country_r", "ELSE",
                     (0.99, 0.01), (0.8, 0.2), ("same country", "different country")),
        # Labels are pairs sharing a USCC, so its m cannot be learnt from them: two records of one
        # company carry different valid USCCs only by a clerk's mistake (both pass the check).
        _three_level("uscc", "uscc_l is null or uscc_r is null", "uscc_l = uscc_r", "ELSE",
                     (0.998, 0.002), (0.0001, 0.9999), ("same USCC", "different USCC"), fix_m=True),
        _three_level("registration",
                     "(registration_key_l is null or registration_key_r is null)"
                     " and (vat_key_l is null or vat_key_r is null)",
                     "registration_key_l = registration_key_r or vat_key_l = vat_key_r", "ELSE",
                     (0.995, 0.005), (0.0001, 0.9999), ("same registration/VAT number",
                                                        "different registration/VAT number"), fix_m=True),
        _three_level("legal_form", "legal_form_l is null or legal_form_r is null", "legal_form_l = legal_form_r",
                     "ELSE", (0.9, 0.1), (0.5, 0.5), ("same legal form", "different legal form")),
        _three_level("industry", "industry_token_l is null or industry_token_r is null",
                     "list_contains(industry_compatible_l, industry_token_r)"
                     " or list_contains(industry_compatible_r, industry_token_l)", "ELSE",
                     (0.95, 0.05), (0.4, 0.6), ("compatible industry", "incompatible industry")),
    ]


def master_blocking_rules() -> list[str]:
    return [
        "l.name_key = r.name_key",
        "l.raw_key = r.name_key",
        "l.name_key = r.raw_key",
        "l.pinyin_key = r.pinyin_key",
        "substr(l.name_key, 1, 2) = substr(r.name_key, 1, 2) and length(l.name_key) >= 2",
        # a typo in the first, second or a later character still meets its partner in one of these
        "substr(l.name_key, 2, 2) = substr(r.name_key, 2, 2) and l.city_key = r.city_key and length(l.name_key) >= 3",
        "substr(l.name_key, 1, 1) = substr(r.name_key, 1, 1) and substr(l.name_key, 3, 2) = substr(r.name_key, 3, 2)"
        " and l.city_key = r.city_key and length(l.name_key) >= 4",
        "l.uscc = r.uscc",
        "l.registration_key = r.registration_key",
        "l.vat_key = r.vat_key",
    ]


def bank_comparisons(n_customers: int) -> list[dict]:
    """``n_customers``: how many customers an entry could belong to. The invoice and account
    levels define the training labels, so neither m nor u can be learnt from them: m is fixed
    (how often the evidence is right when present) and u follows from it — a non-matching
    customer is the one cited only when the citation is wrong *and* happens to name it."""
    n = max(n_customers, 2)
    cite_wrong, account_wrong = 0.03, 0.05
    return [
        _name_comparison(),
        # An invoice number in the remittance is the payer telling us who it is; it names another
        # customer when a group company pays for a subsidiary or the payer mistypes the number.
        _three_level("invoice", "len(cited_erp_ids_l) + len(cited_erp_ids_r) = 0",
                     "len(list_intersect(cited_erp_ids_l, erp_ids_r)) > 0"
                     " or len(list_intersect(cited_erp_ids_r, erp_ids_l)) > 0", "ELSE",
                     (1 - cite_wrong, cite_wrong), (cite_wrong / n, 1 - cite_wrong / n),
                     ("remittance cites this customer's invoice", "remittance cites another customer's invoice"),
                     fix_m=True, fix_u=True),
        # The payer's account (blind index) seen on entries already tied to a customer: companies
        # rarely share an account; when they do (a group's treasury), the name and invoice decide.
        _three_level("account", "not coalesce(account_known_l, false) and not coalesce(account_known_r, false)",
                     "list_contains(payer_accounts_r, payer_account_hash_l)"
                     " or list_contains(payer_accounts_l, payer_account_hash_r)", "ELSE",
                     (1 - account_wrong, account_wrong), (account_wrong / n, 1 - account_wrong / n),
                     ("payer account known for this customer", "payer account known for another customer"),
                     fix_m=True, fix_u=True),
        _three_level("region", "name_region_l is null and name_region_r is null",
                     "list_contains(cities_r, name_region_l) or list_contains(cities_l, name_region_r)", "ELSE",
                     (0.95, 0.05), (0.1, 0.9), ("region in payer name is the customer's city",
                                                "region in payer name is another city")),
    ]


def bank_blocking_rules() -> list[str]:
    return [
        "l.name_key = r.name_key",
        "l.name_key = r.raw_key",
        "l.raw_key = r.name_key",
        "l.pinyin_key = r.pinyin_key",
        # brand and the first character of the trade (华信电 of 华信电子): short names
        "substr(l.name_key, 1, 3) = substr(r.name_key, 1, 3) and length(l.name_key) >= 3",
        # the brand alone only for entries no invoice or known account ties to a customer already
        "substr(l.name_key, 1, 2) = substr(r.name_key, 1, 2) and length(l.name_key) >= 2"
        " and l.cited_block is null and l.account_cluster is null",
        # a Latin name with two leading letters swapped (HRABOUR) still shares letters 4-7
        "l.script = 'latin' and substr(l.name_key, 4, 4) = substr(r.name_key, 4, 4) and length(l.name_key) >= 8",
        "l.cited_block = r.cluster_key",
        "l.cited_block2 = r.cluster_key",
        "l.account_cluster = r.cluster_key",
    ]


@dataclass
class ScoredPairs:
    pairs: pd.DataFrame  # unique_id_l, unique_id_r, match_probability, match_weight, bf_*, gamma_*
    prior: float  # probability_two_random_records_match used
    levels: dict[str, dict[int, str]]  # comparison -> gamma value -> label
    parameters: dict  # the trained model (Splink settings JSON)


def _linker(frames: list[pd.DataFrame], settings: dict):
    from splink import DuckDBAPI, Linker

    db_api = DuckDBAPI()
    tables = [db_api.register(frame, dataset_display_name=f"input_{i}") for i, frame in enumerate(frames)]
    return Linker(tables if len(tables) > 1 else tables[0], settings, log_level=logging.WARNING)


def _levels(settings_dict: dict) -> dict[str, dict[int, str]]:
    levels: dict[str, dict[int, str]] = {}
    for comparison in settings_dict["comparisons"]:
        non_null = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        mapping = {-1: comparison["comparison_levels"][0].get("label_for_charts", "missing")}
        for index, level in enumerate(non_null):
            mapping[len(non_null) - 1 - index] = level.get("label_for_charts", level["sql_condition"])
        levels[comparison["output_column_name"]] = mapping
    return levels


def _floor_probabilities(linker, floor: float = 1e-6) -> None:
    """Levels the training data never showed keep a small m instead of zero (weight −∞)."""
    for comparison in linker._settings_obj.comparisons:
        for level in comparison._comparison_levels_excluding_null:
            for attribute in ("m_probability", "u_probability"):
                value = getattr(level, attribute)
                if not isinstance(value, float) or math.isnan(value) or value < floor:
                    setattr(level, attribute, floor)


def _u_from_known_non_matches(frames: list[pd.DataFrame], settings: dict, target_pairs: float) -> dict:
    """u-probabilities from random pairs that are certainly *not* one customer: records whose
    identities differ (two valid USCCs, two VAT numbers; for bank entries, the customer the cited
    invoice names vs another customer). Splink's own random sampling counts every sampled pair as a
    non-match; with ~3 records per customer its 'same name' u is mostly matches (at 2 000 customers
    the sampled rate equals the prior times m) and the evidence of a shared name drowns.

    Returns {comparison: {gamma value: u}}; levels never observed are left out."""
    identified = [f[f["identity"].notna()] for f in frames]
    sizes = [len(f) for f in identified]
    pairs = sizes[0] * (sizes[0] - 1) / 2 if len(frames) == 1 else sizes[0] * sizes[1]
    if pairs < 1:
        return {}
    buckets = max(1, int(pairs // target_pairs) + (1 if pairs > target_pairs else 0))
    sample_frames = [f.assign(u_bucket=[hash_bucket(uid, buckets) for uid in f["unique_id"]]) for f in identified]
    # Identities of one kind that differ, or of different countries (a USCC vs a VAT number); not
    # a USCC vs an old Chinese registration number, which may well be the same company.
    rule = ("l.u_bucket = r.u_bucket and l.identity <> r.identity and (split_part(l.identity, ':', 1) ="
            " split_part(r.identity, ':', 1) or split_part(l.identity, ':', 2) <> split_part(r.identity, ':', 2))")
    sample_settings = {**settings, "blocking_rules_to_generate_predictions": [{"blocking_rule": rule}],
                       "retain_intermediate_calculation_columns": True, "retain_matching_columns": True,
                       "additional_columns_to_retain": []}
    linker = _linker(sample_frames, sample_settings)
    sample = linker.inference.predict(warning_mode="never")
    connection = linker._db_api.duckdb_con
    result: dict[str, dict[int, float]] = {}
    for comparison in settings["comparisons"]:
        name = comparison["output_column_name"]
        counts = dict(connection.sql(
            f"select gamma_{name}, count(*) from {sample.physical_name} where gamma_{name} <> -1 group by 1"
        ).fetchall())
        observed = sum(counts.values())
        if not observed:
            continue
        floor = 0.5 / observed
        n_levels = sum(1 for lv in comparison["comparison_levels"] if not lv.get("is_null_level"))
        result[name] = {g: max(counts.get(g, 0) / observed, floor) for g in range(n_levels)}
    return result


def hash_bucket(value: str, buckets: int) -> int:
    """A stable bucket (not Python's salted hash): same sample every run."""
    import zlib

    return zlib.crc32(value.encode()) % buckets


def _set_u(linker, u_values: dict[str, dict[int, float]]) -> None:
    for comparison in linker._settings_obj.comparisons:
        values = u_values.get(comparison.output_column_name)
        if not values:
            continue
        for level in comparison._comparison_levels_excluding_null:
            gamma = level.comparison_vector_value
            if gamma in values and not level._fix_u_probability:
                level.u_probability = values[gamma]


def score(frames: list[pd.DataFrame], *, link_type: str, comparisons: list[dict], blocking_rules: list[str],
          prior: float, label_column: str | None, retain: list[str], threshold: float | None,
          u_sample_pairs: float = 3e5, trained: dict | None = None) -> ScoredPairs:
    """Train (u from known non-matches, m from known matches) and score the blocked pairs of
    ``frames`` (one frame: dedupe; two: link). Frames carry an ``identity`` column (null when
    unknown) for the u sample and ``label_column`` for m."""
    settings = {
        "link_type": link_type,
        "unique_id_column_name": "unique_id",
        "comparisons": comparisons,
        "blocking_rules_to_generate_predictions": [{"blocking_rule": rule} for rule in blocking_rules],
        "probability_two_random_records_match": prior,
        "retain_intermediate_calculation_columns": True,
        "retain_matching_columns": True,
        "additional_columns_to_retain": retain,
    }
    if trained is not None:  # a model trained earlier in this run: score only
        settings = {**trained, "blocking_rules_to_generate_predictions": settings[
            "blocking_rules_to_generate_predictions"], "probability_two_random_records_match": prior}
    enough = all(len(f) for f in frames) and sum(len(f) for f in frames) >= 2
    u_values = _u_from_known_non_matches(frames, settings, u_sample_pairs) if enough and trained is None else {}
    linker = _linker(frames, settings)
    if enough and trained is None:
        if label_column is not None and sum(f[label_column].notna().sum() for f in frames) >= 2:
            try:
                linker.training.estimate_m_from_label_column(label_column)
            except Exception as problem:  # too few labelled pairs for some level: keep the priors
                log.warning("m estimation from %s skipped: %s", label_column, problem)
        _set_u(linker, u_values)  # after m: Splink's training repopulates u from its own estimates
    _floor_probabilities(linker)
    model = linker.misc.save_model_to_json()
    if not enough:
        return ScoredPairs(pd.DataFrame(), prior, _levels(model), model)
    predictions = linker.inference.predict(threshold_match_probability=threshold, warning_mode="never")
    # only scalar columns: converting the list-valued matching columns to pandas costs more than scoring
    names = [c[0] for c in linker._db_api.duckdb_con.sql(f"describe {predictions.physical_name}").fetchall()]
    wanted = [c for c in names if c in {"unique_id_l", "unique_id_r", "match_weight", "match_probability"}
              or c.startswith(("gamma_", "mw_")) or c in {f"{r}_{side}" for r in retain for side in "lr"}
              or c in {"name_key_l", "name_key_r", "source_system_l", "source_system_r"}]
    pairs = linker._db_api.duckdb_con.sql(
        f"select {', '.join(wanted)} from {predictions.physical_name}").df()
    return ScoredPairs(pairs, prior, _levels(model), model)


def reasons(row: pd.Series, levels: dict[str, dict[int, str]]) -> list[dict]:
    """Why a pair scored as it did: each comparison's level and Bayes factor, strongest first."""
    items = []
    for comparison, mapping in levels.items():
        gamma = row.get(f"gamma_{comparison}")
        if gamma is None or pd.isna(gamma) or int(gamma) == -1:
            continue
        weight = row.get(f"mw_{comparison}")
        tf = row.get(f"mw_tf_adj_{comparison}")
        if weight is not None and tf is not None and not pd.isna(tf):
            weight = weight + tf
        factor = None if weight is None or pd.isna(weight) else 2.0 ** float(weight)
        items.append({"comparison": comparison, "level": mapping.get(int(gamma), str(gamma)),
                      "bayes_factor": None if factor is None or pd.isna(factor) else round(float(factor), 4)})
    items.sort(key=lambda item: -abs(math.log(item["bayes_factor"])) if item["bayes_factor"] else -99.0)
    return items


def reasons_text(items: list[dict]) -> str:
    return "; ".join(
        f"{item['level']} (x{item['bayes_factor']:.3g})" if item["bayes_factor"] is not None else item["level"]
        for item in items
    )
