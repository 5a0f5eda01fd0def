"""Customers, suppliers and their contacts (anagrafiche)."""
