import hashlib
from datetime import date
from pathlib import Path

from lxml import etree
from stdnum.cn import uscc

from ingestion.feeds import feed_for
from sandbox.generator import generate


def digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*")) if path.is_file()
    }


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    args = {"start": date(2026, 9, 1), "end": date(2026, 9, 10), "scale": "tiny"}
    generate(tmp_path / "a", seed=1, **args)
    generate(tmp_path / "b", seed=1, **args)
    generate(tmp_path / "c", seed=2, **args)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_files_land_by_source_and_business_date_and_every_file_has_a_feed(tmp_path):
    generate(tmp_path, start=date(2026, 9, 1), end=date(2026, 9, 7), seed=3)
    files = [p for p in (tmp_path / "landing").rglob("*") if p.is_file()]
    assert {p.parent.parent.name for p in files} == {"erp", "crm", "bank", "bureau"}
    for path in files:
        date.fromisoformat(path.parent.name)
        assert feed_for(path.parent.parent.name, path.name) is not None, path
    assert (tmp_path / "ground_truth" / "entities.csv").exists()


def test_uscc_are_valid_and_camt053_is_well_formed(tmp_path):
    generate(tmp_path, start=date(2026, 9, 1), end=date(2026, 9, 30), seed=4)
    customers = next((tmp_path / "landing" / "erp").rglob("customers_*.csv")).read_text(encoding="utf-8")
    codes = [line.split(",")[2] for line in customers.splitlines()[1:]]
    assert codes and all(uscc.is_valid(code) for code in codes)
    for statement in (tmp_path / "landing" / "bank").rglob("camt053_*.xml"):
        root = etree.parse(str(statement)).getroot()
        assert root.tag == "{urn:iso:std:iso:20022:tech:xsd:camt.053.001.08}Document"
