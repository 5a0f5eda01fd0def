"""Delivery tracking: PEC receipts and bounces — the «Ricevute e rimbalzi» page (/ricevute) and the CLI;
receipts matched to a delivery also show on their batch's results page."""
