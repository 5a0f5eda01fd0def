"""A delivery whose body has a line longer than the SMTP limit still leaves, and its record matches the wire.

aiosmtpd, like the customer's server, answers "500 Line too long" to a data line over 1,000 bytes.
"""

from __future__ import annotations

import hashlib

from mailer.extensions import db
from mailer.models import Delivery
from mailer.services import sending
from tests.support.batches import make_account, make_sending_batch, run_jobs, statuses


def test_a_delivery_with_a_2000_character_html_line_is_sent(app_ctx, smtp_server):
    """A template body on one long line (a table of due dates): sent, received whole, digest = bytes received."""
    account = make_account(smtp_server)
    batch = make_sending_batch(account, ["lunga@cliente.example"])
    batch_id = batch.id
    html = (
        "<table>"
        + "".join(f"<tr><td>Scadenza {i}</td><td>1.234,56 €</td></tr>" for i in range(60))
        + "</table>"
    )
    assert len(html) > 2000 and "\n" not in html
    db.session.execute(db.update(Delivery).where(Delivery.batch_id == batch_id).values(body_html=html))
    db.session.commit()
    sending.start_sending(batch)
    run_jobs(app_ctx)
    delivery = db.session.scalar(db.select(Delivery).where(Delivery.batch_id == batch_id))
    assert statuses(batch_id) == {"lunga@cliente.example": "sent"}, delivery.smtp_reason
    [received] = smtp_server.messages
    assert received.message.get_body(("html",)).get_content().rstrip("\n") == html
    assert hashlib.sha256(received.data).hexdigest() == delivery.message_sha256
