"""The loopback proxy's throw-away TLS identity."""

from __future__ import annotations

import subprocess
import sys

from runner.cluster import selfsigned


def test_certificate_serves_tls_and_keeps_cryptography_out_of_the_operator() -> None:
    code = (
        "import sys; from runner.cluster import selfsigned; "
        "cert, key = selfsigned.loopback_certificate(); selfsigned.server_context(cert, key); "
        "print(cert.startswith(b'-----BEGIN CERTIFICATE-----'), "
        "key.startswith(b'-----BEGIN PRIVATE KEY-----'), 'cryptography' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True", "False"]


def test_in_process_when_cryptography_is_loaded_already() -> None:
    import cryptography  # noqa: F401

    cert, key = selfsigned.loopback_certificate()
    selfsigned.server_context(cert, key)
