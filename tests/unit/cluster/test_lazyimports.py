"""The operator process defers the kubernetes client's rarely used imports, and they still work."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
from runner.cluster import lazyimports
assert lazyimports.install()
import runner.control.app  # what the operator imports
names = ("requests", "websocket", "kubernetes.stream", "kubernetes.dynamic")
deferred = [m for m in names if m in sys.modules]
from kubernetes.config import kube_config
err = kube_config.oauthlib.oauth2.rfc6749.errors.InvalidClientIdError
session = kube_config.OAuth2Session(client_id="x", token={"access_token": "a"})
import kubernetes
from requests_oauthlib import OAuth2Session
print(deferred, err.__name__, isinstance(session, OAuth2Session), kubernetes.__version__ != "",
      kubernetes.watch.Watch.__name__, lazyimports.install())
"""


def test_deferred_imports_load_on_first_use() -> None:
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["[]", "InvalidClientIdError", "True", "True", "Watch", "False"]
