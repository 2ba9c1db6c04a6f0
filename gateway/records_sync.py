"""The gateway's device registry from the records service, cached, refreshed in the background.

With ``records.url`` and the gateway's account (``records.client_username`` and
``client_password``, role ``gateway``) set, the gateway fetches ``/integration/registry`` at
start and every ``gateway.records_refresh_s``, through :class:`~thermogate.records.client.
RecordsClient`, which keeps the last copy on disk and answers from it while the service is
down, so a gateway restarted during an outage of the records service still knows its devices.
Devices of the configuration file are kept and win over the records service's for the same
id (the demo and a site's overrides). A refresh that fails without a cache is logged and
changes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Final

from thermogate.config import DeviceSettings, Settings
from thermogate.records.client import RecordsClient, RecordsUnavailableError
from thermogate.records.wire import DeviceIn

log = logging.getLogger(__name__)

FIRST_FETCH_TIMEOUT_S: Final = 5.0

ApplyRegistry = Callable[[Mapping[str, DeviceSettings]], None]


def device_settings(device: DeviceIn) -> DeviceSettings:
    """A records-service device as the gateway's configuration describes one."""
    return DeviceSettings(
        id=device.device_id,
        kind=device.kind.value,
        building=device.building,
        entrance=device.entrance,
        site=device.site,
        placement=device.placement,
    )


class RegistrySync:
    """Fetches the registry now and then and hands the merged registry to ``apply``."""

    def __init__(self, settings: Settings, apply: ApplyRegistry, stop: threading.Event) -> None:
        records = settings.records
        assert records.url is not None
        password = records.client_password
        self._client = RecordsClient(
            records.url,
            records.client_username or "",
            "" if password is None else password.get_secret_value(),
            records.cache_dir,
            timeout_s=FIRST_FETCH_TIMEOUT_S,
        )
        self._configured = {d.id: d for d in settings.devices}
        self._interval_s = settings.gateway.records_refresh_s
        self._apply = apply
        self._stop = stop
        self._thread = threading.Thread(target=self._run, name="gateway-records", daemon=True)
        self.refreshes = 0
        """Registries applied so far (from the service or its cache)."""

    @staticmethod
    def wanted(settings: Settings) -> bool:
        """Whether the configuration names a records service and an account for the gateway."""
        records = settings.records
        return bool(records.url and records.client_username and records.client_password)

    def start(self) -> None:
        """Fetch once now (bounded by the client's timeout), then in the background."""
        self.refresh()
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """Stop refreshing (the stop event is the gateway's)."""
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._client.close()

    def refresh(self) -> bool:
        """One fetch; True when a registry (live or cached) was applied."""
        try:
            fetched = self._client.registry()
        except RecordsUnavailableError as exc:
            log.warning(
                "device registry unavailable, keeping the current one", extra={"reason": str(exc)}
            )
            return False
        devices: dict[str, DeviceSettings] = {}
        for device in fetched.value.devices:
            devices[device.device_id] = device_settings(device)
        devices.update(self._configured)
        self._apply(devices)
        self.refreshes += 1
        log.info(
            "device registry applied",
            extra={"devices": len(devices), "from_cache": fetched.from_cache},
        )
        return True

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.refresh()
            except Exception:  # never let a refresh take the gateway down
                log.exception("device registry refresh failed")
