"""Checking Stripe events before the streams read them.

The checks live in :mod:`ml_connector_provider.sources.stripe_objects`, shared with the other
integrations that read Stripe money movements; this module keeps the names the ``fusion_stripe``
streams import.
"""

from __future__ import annotations

from ml_connector_provider.sources.stripe_objects import (
    AMOUNT_FIELDS,
    INVALID_EVENT,
    EventProblem,
    event_label,
    event_problem,
    invalid_event_record,
    map_invalid_event,
)

__all__ = [
    "AMOUNT_FIELDS",
    "INVALID_EVENT",
    "EventProblem",
    "event_label",
    "event_problem",
    "invalid_event_record",
    "map_invalid_event",
]
