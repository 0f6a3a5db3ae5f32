"""``credit-dw model``: evaluate the PD recipe on any labelled table, train on the warehouse, promote,
list and report on PD models."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="PD models: evaluate on a CSV, train on the warehouse, promote, list, report.",
                  no_args_is_help=True)
console = Console()
err = Console(stderr=True)

AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _json(value) -> str:
    def default(item):
        if isinstance(item, date | datetime):
            return item.isoformat()
        if hasattr(item, "item"):
            return item.item()
        return str(item)

    return json.dumps(value, default=default, ensure_ascii=False)


def _fail(message: str, as_json: bool, code: int = 2) -> None:
    if as_json:
        print(_json({"error": message}))
    else:
        err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)  # paths stay whole
    raise typer.Exit(code)


@app.command("evaluate")
def evaluate(
    csv: Annotated[Path, typer.Option("--csv", help="A labelled table (UTF-8 CSV with a header row).", dir_okay=False)],
    target: Annotated[str, typer.Option(help="The target column.")],
    bad_value: Annotated[str | None, typer.Option(
        help="Target value meaning bad/default (default: 1 for 0/1 targets, else the minority class).")] = None,
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 5,
    seed: Annotated[int, typer.Option(help="Shuffle seed of the folds.")] = 42,
    jobs: Annotated[int | None, typer.Option(help="Parallel folds (default: the CPUs, at most 5).")] = None,
    as_json: AsJson = False,
) -> None:
    """Cross-validate the scorecard recipe (monotonic optimal binning, WoE, logistic regression) on a
    CSV: prints n, bad_rate and the mean AUC, Gini and KS over stratified folds."""
    from scoring.model.dataset import DataError
    from scoring.model.evaluate import evaluate_csv

    try:
        result = evaluate_csv(csv, target, bad_value, folds=folds, seed=seed, n_jobs=jobs)
    except DataError as error:
        _fail(str(error), as_json)
        return
    if as_json:
        print(_json(result.summary()))
        return
    table = Table(title=f"{csv.name}: {len(result.folds)} folds, bad = {result.bad_value!r}")
    for column in ("n", "bad_rate", "auc", "gini", "ks"):
        table.add_column(column, justify="right")
    summary = result.summary()
    table.add_row(str(summary["n"]), *(f"{summary[key]:.4f}" for key in ("bad_rate", "auc", "gini", "ks")))
    console.print(table)
    console.print(f"features used in some fold ({len(result.features)}): {', '.join(result.features)}",
                  highlight=False)
    for column, reason in result.dropped.items():
        console.print(f"  ignored {column}: {reason}", highlight=False)
    console.print(f"{result.seconds:.1f} s")


@app.command("train")
def train(
    as_of: Annotated[datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"],
                                                   help="Use history and outcomes up to this date.")] = None,
    calibration: Annotated[str, typer.Option(help="platt or isotonic.")] = "platt",
    challenger: Annotated[bool, typer.Option(help="Also train the gradient-boosting challenger.")] = True,
    as_json: AsJson = False,
) -> None:
    """Train PD models on the warehouse's credit profile history (out-of-time validation) and register
    them as candidates."""
    from scoring.model.train import train_models

    with console.status("training PD models on the warehouse history"):
        result = train_models(as_of.date() if as_of else None, calibration=calibration, challenger=challenger)
    if as_json:
        print(_json(result.as_dict()))
        if result.status != "trained":
            raise typer.Exit(1)
        return
    if result.status != "trained":
        err.print(f"[yellow]no model trained:[/yellow] {result.reason}", highlight=False)
        raise typer.Exit(1)
    sample = result.sample
    console.print(
        f"sample: {sample['rows']} customer-months, {sample['defaults']} defaults "
        f"({sample['default_rate']:.2%}), observation dates {sample['observation_dates'][0]}.."
        f"{sample['observation_dates'][-1]}, data end {sample['data_end']}"
        + (f"; outcome windows truncated (shortest {sample['min_outcome_days']} days)"
           if sample["outcome_truncated"] else ""), highlight=False)
    table = Table(title="registered as candidates")
    for column in ("version", "type", "features", "train AUC", "OOT AUC", "OOT Gini", "OOT KS", "OOT rows"):
        table.add_column(column, justify="left" if column in ("version", "type") else "right")
    for model in result.models:
        validation, training = model["validation"], model["train"]
        table.add_row(model["model_version"], model["model_type"], str(len(model["features"])),
                      _num(training.get("auc")), _num(validation.get("auc")), _num(validation.get("gini")),
                      _num(validation.get("ks")), str(validation.get("rows", 0)))
    console.print(table)
    console.print("promote one with: credit-dw model promote VERSION [--shadow]")


def _num(value, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


@app.command("promote")
def promote(
    version: Annotated[str, typer.Argument(help="A model version from `credit-dw model list`.")],
    shadow: Annotated[bool, typer.Option("--shadow", help="Score it side by side, not as the active model.")] = False,
    as_json: AsJson = False,
) -> None:
    """Make VERSION the active model (the previous active one is retired), or a shadow model."""
    from scoring.model.registry import RegistryError, set_status

    try:
        change = set_status(version, "shadow" if shadow else "active", note=f"promoted by CLI on {date.today()}")
    except RegistryError as error:
        _fail(str(error), as_json)
        return
    if as_json:
        print(_json(change))
        return
    console.print(f"{version}: {change['from']} → [green]{change['to']}[/green]"
                  + (f"; retired {', '.join(change['retired'])}" if change["retired"] else ""))


@app.command("retire")
def retire(version: Annotated[str, typer.Argument(help="A model version.")], as_json: AsJson = False) -> None:
    """Stop scoring VERSION (active or shadow)."""
    from scoring.model.registry import RegistryError, set_status

    try:
        change = set_status(version, "retired", note=f"retired by CLI on {date.today()}")
    except RegistryError as error:
        _fail(str(error), as_json)
        return
    print(_json(change)) if as_json else console.print(f"{version}: {change['from']} → retired")


@app.command("list")
def list_models(as_json: AsJson = False) -> None:
    """The model registry."""
    from credit_dw import warehouse
    from scoring.model import registry

    with warehouse.connect() as conn:
        models = registry.models(conn)
    if as_json:
        print(_json([m.as_dict() for m in models]))
        return
    if not models:
        console.print("no models registered yet: credit-dw model train")
        return
    table = Table(title="scoring.model_registry")
    for column in ("version", "type", "status", "trained", "train dates", "validation dates", "OOT AUC", "features",
                   "sha256"):
        table.add_column(column)
    colours = {"active": "green", "shadow": "cyan", "candidate": "yellow", "retired": "dim"}
    for m in models:
        colour = colours[m.status]
        table.add_row(m.model_version, m.model_type, f"[{colour}]{m.status}[/{colour}]",
                      f"{m.trained_at:%Y-%m-%d %H:%M}",
                      f"{m.train_start}..{m.train_end}", f"{m.validation_start}..{m.validation_end}",
                      _num((m.metrics.get("validation") or {}).get("auc")), str(len(m.features)),
                      m.artifact_sha256[:12])
    console.print(table)


@app.command("score")
def score(
    business_date: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="As-of date, YYYY-MM-DD.")],
    as_json: AsJson = False,
) -> None:
    """Score every active customer on a date with the active and shadow models (what the nightly run does)."""
    from scoring.model.score import score_customers

    with console.status(f"scoring customers on {business_date:%Y-%m-%d}"):
        summary = score_customers(business_date.date())
    if as_json:
        print(_json(summary))
    else:
        if summary["status"] != "scored":
            err.print(f"[yellow]{summary['status']}:[/yellow] {summary.get('reason')}", highlight=False)
        for model in summary["models"]:
            role = "shadow" if model["is_shadow"] else "active"
            console.print(f"{model['model_version']} ({role}): {model['customers']} customers, mean PD "
                          f"{model['mean_pd']:.4f}, score PSI {model['monitoring']['score_psi']} "
                          f"({model['monitoring']['score_psi_status']})", highlight=False)
    if summary["status"] != "scored":
        raise typer.Exit(1)


@app.command("report")
def report(
    version: Annotated[str | None, typer.Option(help="Model version (default: the active model).")] = None,
    as_of: Annotated[datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"],
                                                   help="Monitoring date (default: the latest).")] = None,
    as_json: AsJson = False,
) -> None:
    """PSI per feature and of the score, rating migration matrix, PD back-test per grade."""
    from scoring.model.master_scale import master_scale
    from scoring.model.registry import RegistryError
    from scoring.model.report import report_data

    try:
        data = report_data(version=version, as_of=as_of.date() if as_of else None)
    except RegistryError as error:
        _fail(str(error), as_json)
        return
    if as_json:
        print(_json(data))
        return
    model = data["model"]
    console.print(f"[bold]{model['model_version']}[/bold] ({model['model_type']}, {model['status']}), "
                  f"monitoring as of {data['as_of_date'] or 'never scored'}", highlight=False)
    psi = Table(title="Population stability (PSI: < 0.1 stable, 0.1–0.25 watch, > 0.25 shifted)")
    for column in ("feature", "PSI", "status"):
        psi.add_column(column, justify="right" if column == "PSI" else "left")
    colours = {"stable": "green", "watch": "yellow", "shifted": "red"}
    for row in data["psi"]:
        colour = colours.get(row["status"], "white")
        psi.add_row(row["feature"], _num(row["psi"]), f"[{colour}]{row['status']}[/{colour}]")
    console.print(psi if data["psi"] else "no PSI yet: the model has not scored anyone")
    grades = list(master_scale().grades)
    if data["migration"]:
        first = data["migration"][0]
        counts = {(r["from_grade"], r["to_grade"]): r["customers"] for r in data["migration"]}
        matrix = Table(title=f"Rating migration {first['from_date']} → {first['to_date']} (rows: from, columns: to)")
        matrix.add_column("from \\ to")
        for grade in grades:
            matrix.add_column(str(grade), justify="right")
        for g1 in grades:
            matrix.add_row(str(g1), *[(f"[bold]{counts[(g1, g2)]}[/bold]" if g1 == g2 else str(counts[(g1, g2)]))
                                      if (g1, g2) in counts else "" for g2 in grades])
        console.print(matrix)
    else:
        console.print("no rating migration yet: needs two scoring dates")
    back = Table(title="PD back-test per grade (predicted PD over the observed window vs observed default rate)")
    for column in ("sample", "grade", "customers", "defaults", "predicted", "observed", "dates", "min window"):
        back.add_column(column, justify="left" if column == "sample" else "right")
    for row in data["backtest"]:
        back.add_row(row["sample"], str(row["grade"]), str(row["customers"]), str(row["defaults"]),
                     _num(row["predicted_pd"]), _num(row["observed_default_rate"]), str(row["observation_dates"]),
                     f"{row['outcome_days_min']} d")
    console.print(back if data["backtest"] else "no back-test rows yet")


@app.command("sandbox-auc")
def sandbox_auc(
    business_date: Annotated[datetime, typer.Option("--date", formats=["%Y-%m-%d"], help="Scoring date, YYYY-MM-DD.")],
    ground_truth: Annotated[Path | None, typer.Option(
        help="The sandbox's ground_truth folder (default: the one beside the sandbox landing folder).",
        file_okay=False)] = None,
    version: Annotated[str | None, typer.Option(help="Model version (default: the active model).")] = None,
    as_json: AsJson = False,
) -> None:
    """How well the PDs scored on a date rank the sandbox's known defaulters (AUC, Gini, KS)."""
    from credit_dw.settings import get_settings
    from scoring.model.ground_truth import GroundTruthError, sandbox_discrimination

    folder = ground_truth or get_settings().resolved_landing_dir.parent / "ground_truth"
    try:
        result = sandbox_discrimination(folder, business_date.date(), model_version=version)
    except GroundTruthError as error:
        _fail(str(error), as_json)
        return
    if as_json:
        print(_json(result))
        return
    table = Table(title=f"{result['model_version']} on {result['as_of_date']} against {folder}")
    for column in ("positives", "population", "customers", "defaulters", "AUC", "Gini", "KS", "median PD defaulters",
                   "median PD others"):
        table.add_column(column, justify="left" if column == "positives" else "right")
    groups = [("defaulted by the date", "all scored", result["defaulted_by_date"]["all"]),
              ("defaulted by the date", "not in default on it", result["defaulted_by_date"]["not_in_default_on_date"])]
    if "defaulting_within_12m" in result:
        groups.append(("defaulting in the next 12 months", "performing", result["defaulting_within_12m"]))
    for label, population, group in groups:
        table.add_row(label, population, str(group["customers"]), str(group["defaulters"]), _num(group.get("auc")),
                      _num(group.get("gini")), _num(group.get("ks")), _num(group.get("median_pd_defaulters")),
                      _num(group.get("median_pd_others")))
    console.print(table)
