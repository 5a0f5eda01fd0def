"""Delivery tracking: PEC receipts and bounces (CLI; the pages live in the batches area)."""
