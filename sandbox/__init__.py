"""Sandbox company: a seeded simulator of the ERP, CRM, bank and bureau feeds, with ground truth."""
