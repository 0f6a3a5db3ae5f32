-- Run once by the postgres image's entrypoint, as the superuser, on an empty data volume
-- (changing CREDIT_DW_DB_PASSWORD later needs ALTER ROLE, or a fresh volume).
-- One login role owns both databases, as the project assumes by default: the warehouse and
-- Airflow's metadata database "<warehouse>_airflow". It is not a superuser.
-- \getenv (psql 15+) keeps the password out of this file.
\getenv credit_dw_password CREDIT_DW_DB_PASSWORD

CREATE ROLE credit_dw LOGIN PASSWORD :'credit_dw_password';
CREATE DATABASE credit_dw OWNER credit_dw;
CREATE DATABASE credit_dw_airflow OWNER credit_dw;

-- The least-privilege group roles (credit_dw/access.py) exist before the first publication, since
-- credit_dw may not create roles; `credit-dw access apply` then grants them what they may read.
-- credit_dw is admin of each group role, so that it may grant and revoke membership.
CREATE ROLE loader NOLOGIN;
CREATE ROLE transformer NOLOGIN;
CREATE ROLE analyst NOLOGIN;
CREATE ROLE bi_reader NOLOGIN;
CREATE ROLE steward NOLOGIN;
CREATE ROLE admin NOLOGIN;
CREATE ROLE api NOLOGIN;
GRANT loader, transformer, analyst, bi_reader, steward, admin, api TO credit_dw WITH ADMIN OPTION;
