"""The Docker stack's files agree with each other and with the repo (no Docker engine needed)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"
COMPOSE_FILE = DOCKER / "docker-compose.yml"

AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"}
# What the image needs; compared as a set so the test does not depend on which exist yet.
EXPECTED_COPY_SOURCES = {
    "pyproject.toml",
    "README.md",
    "airflow.cfg",
    "credit_dw",
    "dags",
    "dbt_project",
    "ingestion",
    "scoring",
    "expectations",
    "sandbox",
    "mdm",
    "reporting",
    "api",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())  # SafeLoader resolves the `<<:` merge keys


def _copy_sources() -> set[str]:
    sources: set[str] = set()
    for line in (DOCKER / "Dockerfile").read_text().splitlines():
        words = line.split()
        if not words or words[0].upper() != "COPY" or any(w.startswith("--from") for w in words):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        sources.update(a.rstrip("/") for a in args[:-1])
    return sources


def test_compose_file_is_valid_for_docker_compose():
    if shutil.which("docker") is None:
        pytest.skip("docker compose CLI not available: no `docker` on PATH")
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        reason = (probe.stderr or probe.stdout).strip().splitlines()[:1]
        pytest.skip(f"docker compose CLI not available: {reason[0] if reason else probe.returncode}")
    # Placeholders for the required variables, so this checks the file, not the caller's docker/.env.
    env = {**os.environ, "CREDIT_DW_ENCRYPTION_KEY": "placeholder", "AIRFLOW__CORE__FERNET_KEY": "placeholder"}
    result = subprocess.run(
        ["docker", "compose", "-f", "docker/docker-compose.yml", "config", "--quiet"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_required_services_share_one_image(compose):
    services = compose["services"]
    assert "version" not in compose  # obsolete in the Compose specification
    assert {"warehouse", "airflow-init", *AIRFLOW_SERVICES} <= set(services)
    builds = {
        name: (services[name].get("image"), repr(services[name].get("build")))
        for name in {"airflow-init", *AIRFLOW_SERVICES}
    }
    assert len(set(builds.values())) == 1, builds
    build = services["airflow-scheduler"]["build"]
    assert build == {"context": "..", "dockerfile": "docker/Dockerfile"}
    assert (COMPOSE_FILE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKER / "Dockerfile"


def test_startup_order_and_health(compose):
    services = compose["services"]
    assert services["airflow-init"]["command"] == ["airflow", "db", "migrate"]
    assert services["airflow-init"]["depends_on"] == {"warehouse": {"condition": "service_healthy"}}
    for name in AIRFLOW_SERVICES:
        assert services[name]["depends_on"] == {
            "warehouse": {"condition": "service_healthy"},
            "airflow-init": {"condition": "service_completed_successfully"},
        }, name
    for name in ("warehouse", *AIRFLOW_SERVICES):
        assert services[name]["healthcheck"]["test"], name
    assert "/api/v2/monitor/health" in " ".join(services["airflow-apiserver"]["healthcheck"]["test"])


def test_airflow_environment_is_shared_and_complete(compose):
    services = compose["services"]
    envs = [services[name]["environment"] for name in ("airflow-init", *AIRFLOW_SERVICES)]
    assert all(env == envs[0] for env in envs)
    env = envs[0]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg://")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    for name in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "CREDIT_DW_ENCRYPTION_KEY"):
        assert env[name].startswith("${" + name), f"{name} must come from the environment"
    assert ":?" in env["CREDIT_DW_ENCRYPTION_KEY"]  # required: no default key


def test_postgres_init_script_is_mounted(compose):
    warehouse = compose["services"]["warehouse"]
    assert "./postgres-init:/docker-entrypoint-initdb.d:ro" in warehouse["volumes"]
    sql = (DOCKER / "postgres-init" / "01-databases.sql").read_text()
    assert re.search(r"CREATE DATABASE credit_dw\b", sql)
    assert "CREATE DATABASE credit_dw_airflow" in sql


def test_dockerfile_copies_exactly_the_project_sources():
    assert _copy_sources() == EXPECTED_COPY_SOURCES


def test_dockerignore_lets_every_copy_source_through():
    lines = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert "*" in lines  # allow-list: everything else (.venv, .env) stays out
    assert allowed == EXPECTED_COPY_SOURCES
