"""Alert delivery: every alert the gateway raises reaches MQTT and the clinic's push channels.

:class:`AlertDispatcher` publishes each alert on ``thermogate/v1/alerts/{building}`` (QoS 1)
and pushes it, from a worker thread with retries, through apprise URLs (``alerts.push_urls``).
Each alert id is delivered once per process; the push body carries the id so receivers can
drop duplicates across restarts. :class:`LocalInbox` is a local HTTP receiver for those
pushes: the demo's clinic inbox and the tests' real push target.
"""

from thermogate.alerts.dedupe import RecentIds
from thermogate.alerts.dispatcher import AlertCounters, AlertDispatcher, Publish, backoff_delay
from thermogate.alerts.inbox import LocalInbox
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
    "AppriseChannel",
    "Channel",
    "LocalInbox",
    "Publish",
    "PushNotification",
    "RecentIds",
    "apprise_channels",
    "backoff_delay",
    "render_title",
]
