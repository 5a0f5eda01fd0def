"""Flask extensions, created unbound and initialised in create_app()."""

from typing import TYPE_CHECKING, Any, ClassVar, cast

from flask_htmx import HTMX
from flask_login import LoginManager
from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import CursorResult, Executable, MetaData, Table
from sqlalchemy.orm import DeclarativeBase

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints the same everywhere."""

    metadata = MetaData(naming_convention=NAMING)
    if TYPE_CHECKING:
        # Every model maps one Table (not a join or a select): `Model.__table__.update()` type-checks.
        __table__: ClassVar[Table]


db = SQLAlchemy(model_class=Base)

if TYPE_CHECKING:
    # db.Model is built at run time (Base plus Flask-SQLAlchemy's own mixins), so mypy cannot use it as a
    # base class; to the type checker the models derive from Base, which declares their typed columns.
    Model = Base
else:
    Model = db.Model


def execute_rowcount(statement: Executable) -> int:
    """Run an UPDATE or DELETE in the session; how many rows it matched (a CursorResult's rowcount,
    which the declared return type of Session.execute does not show)."""
    return cast("CursorResult[Any]", db.session.execute(statement)).rowcount


def include_in_migrations(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Whether alembic compares a database object with the models (autogenerate, `flask db check`): not the
    PostgreSQL-only trigram indexes (ix_*_trgm, migration 0013), which no model describes."""
    return not (type_ == "index" and name is not None and name.startswith("ix_") and name.endswith("_trgm"))


migrate = Migrate(include_object=include_in_migrations)
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()
mail = Mail()
