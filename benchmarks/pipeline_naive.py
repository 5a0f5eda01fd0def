"""The naive sender the pipeline benchmark compares against: one forked RQ job and one new SMTP
connection (Flask-Mail) per message, the app built when the module is imported. Not used by Recapito."""

from __future__ import annotations

import os

from flask_mail import Message

from mailer import create_app
from mailer.extensions import db, mail
from mailer.models import Blob, Delivery

_app = create_app(
    {
        "SQLALCHEMY_DATABASE_URI": os.environ["DATABASE_URL"],
        "REDIS_URL": os.environ["REDIS_URL"],
        "SECRET_KEY": os.environ["SECRET_KEY"],
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": int(os.environ["BENCH_SINK_PORT"]),
        "MAIL_DEFAULT_SENDER": "fatture@azienda.example",
    }
)


def send_one(delivery_id: int) -> None:
    """Send one delivery through Flask-Mail on a fresh connection."""
    with _app.app_context():
        delivery = db.session.get(Delivery, delivery_id)
        assert delivery is not None
        message = Message(
            subject=delivery.subject,
            recipients=[delivery.recipient_email],
            body=delivery.body_text,
            html=delivery.body_html,
        )
        for document in delivery.documents:
            blob = db.session.get(Blob, document.pdf_sha256)
            assert blob is not None
            message.attach(f"{document.number}.pdf", "application/pdf", blob.data)
        mail.send(message)
