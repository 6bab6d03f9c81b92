"""An in-process SMTP server (aiosmtpd) for e-mail tests.

`smtp_server` starts a real aiosmtpd Controller on a free local port, points
the app's MAIL_* settings at it for the duration of the test, and collects
every received message (parsed) in `smtp_server.messages`.
"""
from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass, field

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ReceivedMail:
    """One message as the SMTP server saw it."""

    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage


@dataclass
class CollectingHandler:
    """aiosmtpd handler that keeps every message it receives."""

    messages: list[ReceivedMail] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    refuse_with: str | None = None  # e.g. "550 mailbox unavailable": answer DATA with this instead
    delay_seconds: float = 0.0  # think this long before answering DATA (a slow server)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook name)
        """Parse and keep the message (or refuse it when told to)."""
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.refuse_with:
            return self.refuse_with
        parsed = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self.arrived:
            self.messages.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), parsed))
            self.arrived.notify_all()
        return "250 Message accepted for delivery"


class SmtpServer:
    """A running test SMTP server: host, port and the messages received so far."""

    def __init__(self, controller, handler: CollectingHandler, host: str, port: int):
        self.controller = controller
        self.handler = handler
        self.host = host
        self.port = port

    @property
    def messages(self) -> list[ReceivedMail]:
        """Messages received so far, oldest first."""
        return list(self.handler.messages)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[ReceivedMail]:
        """Block until at least `count` messages arrived (or fail after `timeout` seconds)."""
        deadline = time.monotonic() + timeout
        with self.handler.arrived:
            while len(self.handler.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} e-mails, got {len(self.handler.messages)}")
                self.handler.arrived.wait(left)
            return list(self.handler.messages)


@pytest.fixture
def smtp_server(app):
    """A real SMTP server for this test; app.config MAIL_* point at it while it runs."""
    from aiosmtpd.controller import Controller

    handler = CollectingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    saved = {key: app.config.get(key) for key in (
        "MAIL_SERVER", "MAIL_PORT", "MAIL_USE_TLS", "MAIL_USE_SSL", "MAIL_USERNAME", "MAIL_PASSWORD",
        "MAIL_BACKEND",
    )}
    app.config.update(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False, MAIL_USE_SSL=False,
        MAIL_USERNAME=None, MAIL_PASSWORD=None, MAIL_BACKEND="smtp",
    )
    try:
        yield SmtpServer(controller, handler, "127.0.0.1", port)
    finally:
        app.config.update(saved)
        controller.stop()
