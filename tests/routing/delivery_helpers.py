"""Real receivers on loopback for the delivery tests: an SMTP server (aiosmtpd, with or without
STARTTLS on a certificate made here), HTTP webhook receivers (http.server in a thread) and an Accord
HTTP server (uvicorn), plus a PGP key pair whose private half the test keeps."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import ipaddress
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import uvicorn
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from accord.app import Accord
from accord.web.api import create_asgi

LOOPBACK = ipaddress.ip_address("127.0.0.1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- TLS ----------------------------------------------------------------------------------------------------


USAGE = x509.KeyUsage(
    digital_signature=True, key_cert_sign=True, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, crl_sign=True, encipher_only=False, decipher_only=False,
)  # fmt: skip


def self_signed(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) PEM files for 127.0.0.1, self-signed: the client trusts it as its CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Accord test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(LOOPBACK)]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .add_extension(USAGE, True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


# --- SMTP ---------------------------------------------------------------------------------------------------


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.content, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Inbox:
    """The aiosmtpd handler: keeps every message; can refuse recipients or DATA, or hold DATA."""

    mails: list[Mail] = field(default_factory=list)
    rcpt_reply: str | None = None
    data_replies: list[str] = field(default_factory=list)
    hold: threading.Event | None = None  # the first message's answer waits until this is set
    entered: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        content = envelope.original_content or envelope.content
        tls = session.ssl is not None
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), bytes(content), tls))
        if self.hold is not None and not self.entered.is_set():
            self.entered.set()  # the message has arrived; the answer waits until released
            while not self.hold.is_set():
                await asyncio.sleep(0.05)
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(
    directory: Path | None = None, *, starttls: bool = False
) -> Iterator[tuple[int, Inbox, Path | None]]:
    """(port, inbox, CA file) of an SMTP server on 127.0.0.1; with `starttls`, offering STARTTLS on
    a self-signed certificate (the CA file to trust)."""
    inbox = Inbox()
    ca: Path | None = None
    kwargs: dict[str, Any] = {}
    if starttls:
        assert directory is not None
        ca, key = self_signed(directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(ca, key)
        kwargs["tls_context"] = context
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port, inbox, ca
    finally:
        if inbox.hold is not None:
            inbox.hold.set()
        controller.stop()


# --- webhooks -----------------------------------------------------------------------------------------------


@dataclass
class Hook:
    """A webhook receiver: `answers` (status codes, in order; then 200), `delay` before answering."""

    answers: list[int] = field(default_factory=list)
    delay: float = 0.0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    url: str = ""


@contextmanager
def webhook_receiver(hook: Hook) -> Iterator[Hook]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hook.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            if hook.delay:
                hook.stop.wait(hook.delay)
            status = hook.answers.pop(0) if hook.answers else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield hook
    finally:
        hook.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


# --- an Accord HTTP server (TAXII) --------------------------------------------------------------------------


@contextmanager
def accord_server(app: Accord) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_asgi(app), log_level="warning", lifespan="off", ws="none"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


# --- PGP ----------------------------------------------------------------------------------------------------


def pgp_pair(email_address: str) -> tuple[Any, str]:
    """(private key, armoured public key) with a Curve25519 encryption subkey."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgpy
        from pgpy.constants import EllipticCurveOID, HashAlgorithm, KeyFlags, PubKeyAlgorithm

        key = pgpy.PGPKey.new(PubKeyAlgorithm.EdDSA, EllipticCurveOID.Ed25519)
        key.add_uid(
            pgpy.PGPUID.new("Test team", email=email_address),
            usage={KeyFlags.Sign, KeyFlags.Certify},
            hashes=[HashAlgorithm.SHA256],
        )
        sub = pgpy.PGPKey.new(PubKeyAlgorithm.ECDH, EllipticCurveOID.Curve25519)
        key.add_subkey(sub, usage={KeyFlags.EncryptCommunications, KeyFlags.EncryptStorage})
        return key, str(key.pubkey)


def decrypt(private: Any, message: EmailMessage) -> EmailMessage:
    """The inner message of a PGP/MIME (RFC 3156) mail."""
    assert message.get_content_type() == "multipart/encrypted"
    assert message.get_param("protocol") == "application/pgp-encrypted"
    control, payload = list(message.iter_parts())
    assert control.get_content_type() == "application/pgp-encrypted"
    assert "Version: 1" in control.get_payload()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgpy

        plain = private.decrypt(pgpy.PGPMessage.from_blob(payload.get_payload())).message
    data = plain.encode() if isinstance(plain, str) else bytes(plain)
    inner = email.message_from_bytes(data, policy=default_policy)
    assert isinstance(inner, EmailMessage)
    return inner


def parts(message: EmailMessage) -> tuple[str, str, bytes, str]:
    """(covering text, attachment file name, attachment bytes, attachment type) of a plain mail."""
    body = message.get_body(("plain",))
    assert body is not None
    attachment = next(iter(message.iter_attachments()))
    data = attachment.get_payload(decode=True)
    assert isinstance(data, bytes)
    return str(body.get_content()), str(attachment.get_filename()), data, attachment.get_content_type()


def wait_for(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)
