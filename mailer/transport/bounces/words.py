"""What bounces say: the status-code, address, sender and subject patterns and the words of failure and delay."""

from __future__ import annotations

import re

MAX_SCANNED_TEXT = 200_000  # characters of a report read: what says who bounced stands at the top

_ENH_CODE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_FAILURE_CODE = re.compile(r"(?<![\d.])([45])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_SMTP_CODE = re.compile(r"(?<![\d.])([45])(\d\d)(?=[ -]|$)")
_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+"
)
_BOUNCE_SENDERS = ("mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "mdaemon", "mail.daemon")
_BOUNCE_NAMES = re.compile(
    r"mail(er)?[ -]?daemon|mail delivery|postmaster|system administrator|mail administrator"
    r"|delivery subsystem|mail ?system",
    re.IGNORECASE,
)
# Subjects of non-delivery reports (decoded), in the languages seen on real servers.
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered mail|returned mail|return(ed)? to sender|mail delivery (failed|failure|subsystem|problem)"
    r"|delivery status notification|delivery (has )?fail|failure notice|delivery failure|delivery problem"
    r"|nondeliverable|non[- ]deliver|could not be delivered|not delivered|delivery notification"
    r"|message (was )?not delivered|mail system error|mail error|processing error|mail failed|permanent error|delivery report|rejected|returned"
    r"|warning: (could not send|message .* delayed)|delayed mail|delivery delayed|message delayed"
    r"|non recapitabil|mancato recapito|impossibile recapitare|messaggio non recapitato|errore di consegna"
    r"|nicht zustellbar|unzustellbar|konnte nicht zugestellt|zustellung fehlgeschlagen|fehlgeschlagen"
    r"|non remis|non distribu|échec de (la )?remise|echec de (la )?remise|impossible de remettre"
    r"|no se pudo entregar|no entregado|imposible entregar|onbestelbaar|niet afgeleverd|olevererbart"
    r"|nie dostarczono|nedoručitelné|kézbesíthetetlen|levering mislukt"
    r"|не доставлен|недоставлен|не может быть доставлен|ошибка доставки|возврат"
    r"|配信不能|配送不能|配信エラー|送信エラー|未配達|宛先不明|エラーメール|退信|系统退信|退回|无法投递",
    re.IGNORECASE,
)
# Auto-replies (RFC 3834 and the usual subjects): never bounces.
_AUTOREPLY_SUBJECT = re.compile(
    r"^(auto(matic)?[ -]?(reply|response|risposta|antwort)|autoreply|auto:|out of (the )?office|abwesen"
    r"|risposta automatica|fuori (ufficio|sede)|assente|réponse automatique|absence|respuesta autom"
    r"|automatisch(e)? antwort|afwezig|automatiskt svar|автоответ|自動応答|不在|vacation|on leave"
    r"|.*automatiska atbilde|.*atvaļinājum|.*atvalinajum)",
    re.IGNORECASE,
)
# Bodies that only a non-delivery report carries (both the classic ones and the providers').
_BOUNCE_BODY = (
    "this is the qmail-send program",
    "delivery has failed to these recipients",
    "your message did not reach some or all of the intended recipients",
    "i'm afraid i wasn't able to deliver",
    "message could not be delivered",
    "this message was created automatically by mail delivery software",
    "could not be delivered to one or more",
    "delivery to the following recipient failed",
    "delivery to the following recipients failed",
    "the following address(es) failed",
    "your message wasn't delivered",
    "cannot be delivered to the following",
    "could not be delivered",
    "your message couldn't be delivered",
    "address not found",
    "was not delivered to:",
    "delivery failure report",
    "message not delivered",
    "unable to deliver",
    "permanent fatal errors",
    "the original message was received at",
    "undeliverable message",
    "recipient address rejected",
    "user unknown",
    "mailbox unavailable",
    "does not exist",
    "delivery to the following recipient has been delayed",
    "has not yet been delivered",
    "will be retried",
    "has been delayed",
    "could not send message for past",
    "delivery attempts will continue",
    "не может быть доставлено",
    "не доставлено",
    "сообщение не было доставлено",
    "配信できませんでした",
    "届けることができませんでした",
    "送信できませんでした",
)
_DELAY_WORDS = (
    "delay",
    "will retry",
    "will be retried",
    "not yet been delivered",
    "still trying",
    "retry",
    "temporar",
    "postponed",
    "could not send message for past",
    "warning:",
    "attempts will continue",
    "verzögert",
    "ritardat",
    "задерж",
    "遅延",
)
_WARNING = re.compile(
    r"not yet been delivered|will be retried|attempts will continue|no action is required"
    r"|this is a warning|warning only|delivery (has been )?delayed|still being retried",
    re.IGNORECASE,
)
_PERMANENT_WORDS = (
    "permanent",
    "given up",
    "gave up",
    "giving up",
    "does not exist",
    "user unknown",
    "no such user",
    "unknown user",
    "not found",
    "mailbox unavailable",
    "invalid recipient",
    "address rejected",
    "unrouteable",
    "unknown recipient",
)
