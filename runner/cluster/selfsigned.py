"""A throw-away TLS identity for the loopback proxy (kubectl sends no credentials over plain HTTP).

The key and certificate are made by a short-lived child process: ``cryptography`` costs the
operator 8 MiB of memory for good once imported, for one use at start-up.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import ssl
import subprocess
import sys
import tempfile

log = logging.getLogger(__name__)

_KEY_MARK = b"-----BEGIN PRIVATE KEY-----"
_CHILD = "from runner.cluster.selfsigned import _main; _main()"


def loopback_certificate() -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for 127.0.0.1 and localhost, valid for ten years."""
    if "cryptography" in sys.modules:  # already paid for: no child needed
        return _generate()
    try:
        out = subprocess.run(
            [sys.executable, "-c", _CHILD], capture_output=True, check=True, timeout=60, env=os.environ
        ).stdout
        cert, sep, key = out.partition(_KEY_MARK)
        if sep and cert.startswith(b"-----BEGIN CERTIFICATE-----"):
            return cert, sep + key
        reason = "unexpected output"
    except (OSError, subprocess.SubprocessError) as exc:
        reason = str(exc)
    log.info("making the loopback TLS certificate in-process (%s)", reason)
    return _generate()


def _main() -> None:
    cert, key = _generate()
    sys.stdout.buffer.write(cert + key)


def _generate() -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ansible-operator-runner proxy")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def server_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as d:  # ssl only loads chains from files; gone right after
        cert_file, key_file = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
        for path, data in ((cert_file, cert_pem), (key_file, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        ctx.load_cert_chain(cert_file, key_file)
    return ctx
