"""Delivery through the real `accord` command: import -> `accord route run` -> `accord worker --once`
-> the mail arrives at an aiosmtpd server and the signed JSON at a webhook receiver; and a worker
process killed mid-send, whose notification is sent again with the same ticket."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from delivery_helpers import Hook, parts, smtp_server, wait_for, webhook_receiver
from sqlalchemy import select
from stix_factory import bundle, ip_indicator, parsed

from accord.app import Accord
from accord.cli import main
from accord.db.schema import notification
from accord.intel.timestamps import now_micros
from accord.intel.tlp import TLP
from accord.members.model import OPERATOR
from accord.settings import Settings

pytestmark = pytest.mark.store

PL = "195.187.6.33"  # PL, AS8308; the data names abuse@nask.pl


@pytest.fixture
def cli(tmp_path: Path, database_url: str) -> Any:
    runner = CliRunner()
    base = ["--database", database_url, "--data-dir", str(tmp_path / "data")]

    def run(*args: str, code: int = 0) -> Any:
        result = runner.invoke(main, [*base, *args], catch_exceptions=False)
        assert result.exit_code == code, (args, result.output, result.stderr)
        return result

    run("init")
    run("org", "add", "CERT Polska", "--sector", "csirt", "--country", "PL")
    run("org", "add", "Producer", "--sector", "csirt", "--country", "DE")
    run("user", "add", "admin@cert.pl", "--org", "CERT Polska", "--role", "org-admin")
    run("user", "add", "p@producer.example", "--org", "Producer", "--role", "analyst")
    return run


def test_import_route_and_worker_deliver_mail_and_signed_webhook(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with smtp_server() as (port, inbox, _ca), webhook_receiver(Hook()) as hook:
        settings = {
            "ACCORD_SMTP_HOST": "127.0.0.1", "ACCORD_SMTP_PORT": str(port),
            "ACCORD_SMTP_FROM": "accord@north.example", "ACCORD_NOTIFY_INTERVAL_SECONDS": "1",
            "ACCORD_FEED_ALLOW_NETWORKS": "127.0.0.1/32",
        }  # fmt: skip
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        cli("contact", "add", "CERT Polska", "--kind", "csirt", "--for-org", "CERT Polska", "--country", "PL",
            "--email", "cert@cert.pl", "--languages", "ru,en")  # fmt: skip
        cli("contact", "add", "CERT Polska hook", "--kind", "csirt", "--country", "PL", "--channel",
            "webhook", "--url", hook.url, "--format", "csv", "--as", "admin@cert.pl")  # fmt: skip
        secret = cli("contact", "secret", "CERT Polska hook", "--as", "admin@cert.pl").stdout.strip()
        objects = tmp_path / "b.json"
        objects.write_text(json.dumps(bundle([ip_indicator(PL, TLP.CLEAR)])))
        cli("import", str(objects), "--as", "p@producer.example")
        assert json.loads(cli("route", "run").stdout)["notifications"] == 3  # CERT, hook, abuse@nask.pl
        time.sleep(1.1)  # the one-second interval is over
        done = cli("worker", "--once")
        assert "3 notification(s) sent" in done.stdout, done.output
    by_to = {m.rcpt_tos[0]: m.message for m in inbox.mails}
    assert set(by_to) == {"cert@cert.pl", "abuse@nask.pl"}
    mail = by_to["cert@cert.pl"]
    ticket = mail["X-Accord-Ticket"]
    assert mail["Subject"] == f"Уведомление о злоупотреблении {ticket}: объектов в ваших сетях: 1"
    text, name, data, _ctype = parts(mail)
    assert "Узел Accord" in text and name == f"{ticket}.xarf.json"
    assert [r["source_identifier"] for r in json.loads(data)] == [PL]
    [(headers, body)] = hook.received
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-accord-signature"] == f"sha256={expected}"
    doc = json.loads(body)
    assert doc["format"] == "csv" and f"{PL},8308,PL," in doc["csv"]
    outbox = json.loads(cli("route", "outbox", "--as", "admin@cert.pl").stdout)
    assert {n["status"] for n in outbox} == {"sent"} and all(n["ticket"] for n in outbox)
    assert "0 notification(s) sent" in cli("worker", "--once").stdout  # nothing twice


def test_a_worker_killed_mid_send_leaves_a_claim_that_expires(tmp_path: Path, database_url: str) -> None:
    """The worker process dies after the message reached the server and before it recorded that: the
    claim expires and the notification goes again, with the same ticket and Message-ID."""
    data_dir = tmp_path / "data"
    app = Accord(Settings(database_url=database_url, data_dir=str(data_dir)))
    app.init()
    try:
        with app.db.write() as conn:
            app.members.add_org(conn, OPERATOR, "Producer", "csirt", "DE", False)
            producer_org = app.members.org_id(conn, "Producer")
            app.members.add_user(conn, OPERATOR, "p@producer.example", producer_org, "analyst")
        desk = {"name": "NASK desk", "kind": "csirt", "countries": "PL", "email": "d@nask.example"}
        app.add_contact(OPERATOR, desk)
        app.submit(app.viewer("p@producer.example"), parsed([ip_indicator(PL, TLP.CLEAR)]))
        app.routing.route_new(now_us=now_micros() - 2 * 3_600_000_000)  # due now
        with smtp_server() as (port, inbox, _ca):
            inbox.hold = threading.Event()
            env = {**os.environ, "ACCORD_SMTP_HOST": "127.0.0.1", "ACCORD_SMTP_PORT": str(port),
                   "ACCORD_SMTP_TIMEOUT_SECONDS": "120"}  # fmt: skip
            worker = subprocess.Popen(
                [sys.executable, "-m", "accord.cli", "--database", database_url, "--data-dir", str(data_dir),
                 "route", "deliver"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            try:
                wait_for(inbox.entered.is_set)  # the first message has arrived; its answer is held
                worker.send_signal(signal.SIGKILL)
                worker.wait(30)
            finally:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait(30)
            inbox.hold.set()
            with app.db.read() as conn:
                held = conn.execute(select(notification).where(notification.c.status == "sending")).one()
            ticket = held.ticket  # claimed, never marked
            again = Accord(replace(app.settings, smtp_host="127.0.0.1", smtp_port=port))
            try:
                assert again.deliver_notifications()["tickets"] != [ticket]  # its claim still holds
                later = now_micros() + 601 * 1_000_000  # ACCORD_DELIVERY_CLAIM_SECONDS = 600
                assert again.deliver_notifications(now_us=later)["tickets"] == [ticket]
            finally:
                again.close()
        copies = [m.message for m in inbox.mails if m.message["X-Accord-Ticket"] == ticket]
        assert len(copies) == 2 and copies[0]["Message-ID"] == copies[1]["Message-ID"]
        with app.db.read() as conn:
            rows = conn.execute(select(notification)).all()
        assert {(r.status, r.last_error) for r in rows} == {("sent", None)}
        assert next(r.attempts for r in rows if r.id == held.id) == 2
    finally:
        app.close()
