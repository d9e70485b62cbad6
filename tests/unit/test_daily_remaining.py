"""``BatchClient.daily_remaining``: the account's requests left today as the client last knew
them (HubSpot's ``X-HubSpot-RateLimit-Daily-Remaining``, less the requests started since).
No event loop, no I/O: the client's daily budget is fed the headers an answer would carry."""

from __future__ import annotations

import asyncbatch
from asyncbatch._protocol import RateLimitInfo


def test_daily_remaining_follows_hubspots_header_and_the_requests_started() -> None:
    client = asyncbatch.BatchClient("daily-token-0123456789")
    assert client.daily_remaining is None  # nothing heard yet
    budget = client._engine.daily
    budget.heard(RateLimitInfo.from_headers({"X-HubSpot-RateLimit-Daily-Remaining": "250"}))
    assert client.daily_remaining == 250
    budget.spend()  # a request started, not yet answered
    assert client.daily_remaining == 249
    # An answer without the header (an OAuth-authorized request) leaves what was known.
    budget.heard(RateLimitInfo.from_headers({"X-HubSpot-RateLimit-Max": "100"}))
    assert client.daily_remaining == 249
    budget.heard(RateLimitInfo.from_headers({"x-hubspot-ratelimit-daily-remaining": "7"}))
    assert client.daily_remaining == 7
