-- Run once by the postgres image's entrypoint, as the superuser, on an empty data volume
-- (changing CREDIT_DW_DB_PASSWORD later needs ALTER ROLE, or a fresh volume).
-- One login role owns both databases, as the project assumes by default: the warehouse and
-- Airflow's metadata database "<warehouse>_airflow". It is not a superuser.
-- \getenv (psql 15+) keeps the password out of this file.
\getenv credit_dw_password CREDIT_DW_DB_PASSWORD

CREATE ROLE credit_dw LOGIN PASSWORD :'credit_dw_password';
CREATE DATABASE credit_dw OWNER credit_dw;
CREATE DATABASE credit_dw_airflow OWNER credit_dw;
