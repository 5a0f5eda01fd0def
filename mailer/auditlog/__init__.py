"""Audit log pages (administrators only)."""
