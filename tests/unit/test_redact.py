"""Secrets, bearer tokens and signed-URL query strings never reach log output."""

from __future__ import annotations

import logging

from tap_profile_export.redact import REDACTOR, Redactor, install_log_redaction, safe_url


def test_redactor_masks_secrets_tokens_and_queries() -> None:
    r = Redactor()
    r.add("rest_abcdef123")
    text = r("key rest_abcdef123 Authorization: Bearer eyJ.abc.def url https://s3.x/f?X-Amz-Signature=zz&e=1 end")
    assert "rest_abcdef123" not in text and "eyJ" not in text and "X-Amz" not in text
    assert "https://s3.x/f?***" in text and text.endswith(" end")


def test_safe_url_drops_query_and_userinfo() -> None:
    assert safe_url("https://u:p@h.example/a/b?sig=1#x") == "https://h.example/a/b"


def test_library_debug_logs_are_masked(caplog) -> None:
    install_log_redaction()
    REDACTOR.add("client-secret-value")
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("urllib3.connectionpool").debug(
            'https://h:443 "GET /files/f1?Signature=abc HTTP/1.1" 200 %s client-secret-value', 5)
    message = caplog.records[-1].getMessage()
    assert "Signature=abc" not in message and "client-secret-value" not in message
