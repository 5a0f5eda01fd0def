"""Workflows as plain functions: called by views, CLI commands and jobs alike."""
