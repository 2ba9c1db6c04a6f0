"""thermogate: an open fever-screening gateway.

The top-level package holds what every component shares: the wire contract
(:mod:`thermogate.contract`), the configuration (:mod:`thermogate.config`), logging
and the command line. Components live in their own top-level folders and install as
subpackages: ``thermogate.edge``, ``thermogate.gateway``, ``thermogate.ingest``,
``thermogate.alerts``, ``thermogate.records`` and ``thermogate.firmware_sim``.
"""

__version__ = "0.1.0"
