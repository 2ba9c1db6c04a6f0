# thermogate: one image for every thermogate process of the stack (gateway, records, edge,
# sim). The command is the subcommand:  docker run thermogate:0.1.0 check-config FILE
#
# Build stage: install the project from the build context (see .dockerignore for what is
# sent) into a virtual environment. Runtime stage: the same slim Python with that
# environment only, run as an unprivileged user.
FROM python:3.11.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/thermogate
COPY . /src
RUN /opt/thermogate/bin/pip install /src \
    && /opt/thermogate/bin/thermogate --version


FROM python:3.11.11-slim-bookworm

LABEL org.opencontainers.image.title="thermogate" \
      org.opencontainers.image.description="Open fever-screening gateway" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PATH="/opt/thermogate/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

# The user every process runs as; /var/lib/thermogate holds durable state (the edge's
# sequence numbers, the simulator's ports and kiosk state) and is a volume in the stack.
RUN groupadd --system --gid 10001 thermogate \
    && useradd --system --uid 10001 --gid thermogate --home-dir /var/lib/thermogate \
       --shell /usr/sbin/nologin thermogate \
    && install -d -o thermogate -g thermogate -m 0750 /var/lib/thermogate \
    && install -d -m 0755 /etc/thermogate

COPY --from=build /opt/thermogate /opt/thermogate
COPY deploy/healthcheck.py /usr/local/bin/thermogate-healthcheck
COPY deploy/edge-with-sim.sh /usr/local/bin/thermogate-edge-with-sim
RUN chmod 0755 /usr/local/bin/thermogate-healthcheck /usr/local/bin/thermogate-edge-with-sim

USER thermogate
WORKDIR /var/lib/thermogate
ENTRYPOINT ["thermogate"]
CMD ["--help"]
