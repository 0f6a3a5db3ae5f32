"""Ingestion: landing files and source databases into the raw schema, losslessly."""
