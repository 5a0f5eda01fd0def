"""Administration: users, company, sending accounts, zones/agents/categories, captured mail (admin role only).

The blueprint `admin` lives in `blueprint.py`; importing the sub-area modules here registers their views
(the order keeps the before_request checks in place: admin role first, then the captured mail's clearance).
"""

from __future__ import annotations

from . import accounts, captured, company, tables, users, webhooks
from .blueprint import bp

__all__ = ["accounts", "bp", "captured", "company", "tables", "users", "webhooks"]
