# SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
#
# SPDX-License-Identifier: ISC

# A minimal non-root image of mcp-auth-broker: brokerd in /usr/bin, secretd
# and tokend in /usr/libexec, the runtime libraries and CA certificates.
#
#   docker build -t mcp-auth-broker:local .
#   docker run --rm mcp-auth-broker:local --smoke-e2e     # built-in providers
#   docker run --rm --env-file broker.env mcp-auth-broker:local --check
#   docker run --rm --init -i --env-file broker.env mcp-auth-broker:local   # MCP on stdio
#
# The image defaults to MCP_AUTH_BROKER_ENV=prod, so a missing or mistyped
# configuration stops it (exit 78) instead of serving smoke mode's fake
# Graph; --smoke-e2e forces smoke mode itself.  Run it with --init: brokerd
# as PID 1 reaps its own children, not a timed-out helper's orphans.
#
# Configuration is the MCP_AUTH_BROKER_* environment (mcp-auth-broker.conf(5)).
# Give the client secret (or the certificate credential's PEM) or the
# 1Password service-account token as a mounted file
# (MCP_AUTH_BROKER_SECRET_PROVIDER=file, or CREDENTIALS_DIRECTORY with
# op-service-account-token in it), not as an image ENV: whatever an image's
# ENV holds, `docker inspect` shows.  brokerd loads its own seccomp filters;
# Docker's default profile allows that.

FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential autoconf automake pkg-config \
      libcurl4-openssl-dev libjson-c-dev libsodium-dev libssl-dev libseccomp-dev libmicrohttpd-dev libcjose-dev libjansson-dev check \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN ./autogen.sh \
 && ./configure --prefix=/usr \
 && make -j"$(nproc)" \
 && make install DESTDIR=/out

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcurl4 libjson-c5 libsodium23 libssl3 libseccomp2 libmicrohttpd12 libcjose0 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin mcpbroker
COPY --from=build /out/usr/ /usr/
USER 10001:10001
ENV MCP_AUTH_BROKER_ENV=prod
# brokerd --health starts a broker of its own with the container's
# configuration and checks it as an MCP client would (initialize, ping,
# tools/list, tokend's token state), then that all three processes exit 0.
# It needs neither the network nor the secret, so a container whose Graph
# or 1Password is down stays healthy; a broken configuration, a missing
# child program or a sandbox the kernel refuses makes it unhealthy.  Every
# 60 s: each check forks three processes for about a tenth of a second.
HEALTHCHECK --interval=60s --timeout=20s --start-period=10s --retries=3 \
    CMD ["/usr/bin/brokerd", "--health"]
ENTRYPOINT ["/usr/bin/brokerd"]
