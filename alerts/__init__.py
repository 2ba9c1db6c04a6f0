"""Alert delivery: every alert the gateway raises reaches MQTT and the clinic's push channels.

:class:`AlertDispatcher` stores each alert in a durable outbox (:class:`AlertOutbox`,
``<state_dir>/alerts.sqlite3``) before it returns, then publishes it on
``thermogate/v1/alerts/{building}`` (QoS 1, until the broker acknowledges it) and pushes it,
with retries, through apprise URLs (``alerts.push_urls``). An alert id the outbox already
holds is dropped, across restarts too; unfinished alerts are resumed at start-up. The push
body carries the id so receivers can drop the rare duplicate a crash can cause.
:class:`LocalInbox` is a local HTTP receiver for those pushes: the demo's clinic inbox and the
tests' real push target.
"""

from thermogate.alerts.dedupe import RecentIds
from thermogate.alerts.dispatcher import AlertCounters, AlertDispatcher, Publish, backoff_delay
from thermogate.alerts.inbox import LocalInbox
from thermogate.alerts.outbox import AlertOutbox, OutboxClosedError, OutboxEntry
from thermogate.alerts.push import (
    AppriseChannel,
    Channel,
    PushNotification,
    apprise_channels,
    render_title,
)

__all__ = [
    "AlertCounters",
    "AlertDispatcher",
    "AlertOutbox",
    "AppriseChannel",
    "Channel",
    "LocalInbox",
    "OutboxClosedError",
    "OutboxEntry",
    "Publish",
    "PushNotification",
    "RecentIds",
    "apprise_channels",
    "backoff_delay",
    "render_title",
]
