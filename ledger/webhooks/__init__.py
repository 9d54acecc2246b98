"""Webhooks: every stored event POSTed to subscribers' URLs as a signed CloudEvent.

Subscribe with ``POST /subscriptions`` ``{"url", "secret", "types"?, "collaboration"?}`` (an admin
token, or a recorder token for a collaboration in its scope). From then on the ledger POSTs each new
event of those types in that collaboration (every type, every collaboration, when left out) to
``url``, one at a time, in the order of the global event log.

Delivery. The global event log is the outbox: each subscription keeps a cursor into it (``position``:
every event up to there was delivered or did not match), its failed attempts at the next event and
when to try again, in the ledger's own database, updated in the same transaction as each delivery's
outcome. Delivery is at least once and in order: an event is delivered again only when the
deliverer stopped (or stalled past its lease) between the receiver's answer and storing it, so
deduplicate on the CloudEvent ``id``.
A 2xx answer within 10 seconds is a success; anything else (other status, redirect, timeout,
refused connection) is retried after a pause that doubles from 60 s up to 6 h, each shortened at
random by up to half, and after 8 failed attempts at the same event the subscription is
dead-lettered (all of these are options of `ledger webhooks run`):
``GET /subscriptions/{id}`` then shows ``state: dead_lettered``, ``last_error``, ``attempts`` and
``position``; ``ledger webhooks retry ID`` resumes it where it stopped, losing nothing.

Run the deliverer beside the API, as its own process (several may run: each claims a subscription
with a lease before delivering to it)::

    ledger serve &            # the HTTP API
    ledger webhooks run       # the deliverer; --help lists its options and their LEDGER_* variables

Targets on loopback, private, link-local, reserved or multicast addresses are refused (at
subscription and again before each delivery) unless ``LEDGER_WEBHOOK_ALLOW_PRIVATE=y``.

The request. ``Content-Type: application/cloudevents+json`` (CloudEvents 1.0, structured mode)::

    {"specversion": "1.0",
     "id": "42",                                     # the event's position in the global log
     "source": "urn:governance-ledger",
     "type": "org.governance-ledger.PartnerJoined",  # "org.governance-ledger." + the event type
     "subject": "<collaboration id>",
     "time": "<effective_at>",
     "recordedtime": "<recorded_at>",
     "datacontenttype": "application/json",
     "dataschema": "/event-types#PartnerJoined",     # prefixed with LEDGER_WEBHOOK_BASE_URL
     "data": {"data": {…the event's data…},
              "envelope": {"actor", "acting_for", "capacity", "cause", "source", "note",
                           "shared_with_funders"},
              "version": 3, "position": 42}}

exactly as ``GET /feed?format=cloudevents`` shows the event to an admin (see ledger.cloudevents).

Headers: ``X-Ledger-Signature: t=<unix seconds>,v1=<hex>``, where ``v1`` is the HMAC-SHA256, keyed
with the subscription's secret, of ``f"{t}."`` followed by the raw body; and
``X-Ledger-Subscription: <subscription id>``. Verify it before trusting the body::

    import hashlib
    import hmac
    import time


    def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
        \"\"\"True if `header` (X-Ledger-Signature) signs `body`, the raw request bytes.\"\"\"
        try:
            fields = dict(part.split("=", 1) for part in header.split(","))
            timestamp = int(fields["t"])
        except (KeyError, ValueError):
            return False
        if abs(time.time() - timestamp) > tolerance:
            return False  # too old, or from the future: a replayed request
        signed = f"{timestamp}.".encode() + body
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, fields.get("v1", ""))

Answer 2xx quickly (queue the work), and treat a repeated ``id`` as already handled.
"""
