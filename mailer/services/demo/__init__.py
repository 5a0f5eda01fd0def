"""Demo data: a believable Italian company to try Recapito with (`flask --app app demo-data`)."""

from .builder import build_demo_data
from .cli import register
from .common import DemoError, DemoOptions, DemoReport, make_vat_number, money, slugify
from .logo import demo_logo_png

__all__ = [
    "DemoError",
    "DemoOptions",
    "DemoReport",
    "build_demo_data",
    "demo_logo_png",
    "make_vat_number",
    "money",
    "register",
    "slugify",
]
