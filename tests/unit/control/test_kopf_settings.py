"""Watching named namespaces, kopf does not scan Namespaces (a namespaced operator has no access to them)."""

from __future__ import annotations

import pytest

from runner.control.operator import settings


@pytest.mark.parametrize(
    ("namespaces", "scanning"),
    [
        ((), True),  # all namespaces: kopf follows CRDs as before
        (("shop",), False),
        (("shop", "billing"), False),
        (("shop-*",), True),  # kopf patterns need the Namespace listing
        (("!kube-system",), True),
    ],
)
def test_scanning_is_off_for_named_namespaces(namespaces: tuple[str, ...], scanning: bool) -> None:
    s = settings(namespaces)
    assert s.scanning.disabled is not scanning
    assert s.posting.enabled is False
