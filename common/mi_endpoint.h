/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The managed-identity endpoint (issue 12): the one plain-HTTP address
 * tokend may reach.  Both IMDS (169.254.169.254) and the App Service /
 * Container Apps agent (IDENTITY_ENDPOINT, on loopback) live on the host
 * itself, so only a literal link-local or loopback host is accepted:
 * plain HTTP never leaves the machine, and no DNS answer can move it.
 * config.c checks at start; tokend checks again before each request. */
#ifndef MAB_MI_ENDPOINT_H
#define MAB_MI_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

#define MI_IMDS_ENDPOINT "http://169.254.169.254/metadata/identity/oauth2/token"
#define MI_IMDS_API_VERSION "2018-02-01"
#define MI_APP_SERVICE_API_VERSION "2019-08-01"
/* Set by App Service and Container Apps; IDENTITY_HEADER is its secret. */
#define MI_IDENTITY_ENDPOINT_VAR "IDENTITY_ENDPOINT"
#define MI_IDENTITY_HEADER_VAR "IDENTITY_HEADER"

struct mi_endpoint {
	char host[64]; /* as in the URL: "169.254.169.254", "[::1]", "localhost" */
	int port;      /* 80 when the URL names none */
	bool localhost; /* the name "localhost": tokend pins it to 127.0.0.1 */
};

/* Whether url is http:// to a literal link-local or loopback address (or
 * "localhost") with an optional port and a path without query or
 * fragment.  On false, *why says what is wrong. */
bool mi_endpoint_parse(const char *url, struct mi_endpoint *ep, const char **why);

#endif
