/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mi_endpoint.h"

#define MI_URL_MAX 1024

static bool
ipv4_local(const char *s)
{
	struct in_addr a;
	uint32_t v;

	if (inet_pton(AF_INET, s, &a) != 1)
		return false;
	v = ntohl(a.s_addr);
	/* 169.254.0.0/16 link-local, 127.0.0.0/8 loopback */
	return (v >> 16) == 0xa9fe || (v >> 24) == 127;
}

static bool
ipv6_local(const char *s)
{
	struct in6_addr a;
	static const unsigned char loop[16] = { [15] = 1 };

	if (inet_pton(AF_INET6, s, &a) != 1)
		return false;
	/* fe80::/10 link-local, ::1 loopback */
	return (a.s6_addr[0] == 0xfe && (a.s6_addr[1] & 0xc0) == 0x80) ||
	    memcmp(a.s6_addr, loop, 16) == 0;
}

/* host[:port] from the authority part; false with *why set. */
static bool
parse_host_port(const char *auth, size_t len, struct mi_endpoint *ep, const char **why)
{
	const char *colon = NULL;
	char name[64];

	if (len > 0 && auth[0] == '[') {
		const char *close = memchr(auth, ']', len);
		if (close == NULL || (size_t)(close - auth) + 1 >= sizeof(ep->host))
			return *why = "has a malformed IPv6 host", false;
		snprintf(name, sizeof(name), "%.*s", (int)(close - auth - 1), auth + 1);
		if (!ipv6_local(name))
			return *why = "is not on a link-local (fe80::/10) or loopback (::1) address",
				 false;
		snprintf(ep->host, sizeof(ep->host), "%.*s", (int)(close - auth + 1), auth);
		colon = close + 1 < auth + len ? close + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return *why = "has a malformed IPv6 host", false;
	} else {
		colon = memchr(auth, ':', len);
		size_t hlen = colon ? (size_t)(colon - auth) : len;
		if (hlen == 0 || hlen >= sizeof(name))
			return *why = "has no usable host", false;
		snprintf(name, sizeof(name), "%.*s", (int)hlen, auth);
		ep->localhost = strcasecmp(name, "localhost") == 0;
		if (!ep->localhost && !ipv4_local(name))
			return *why = "is not on a link-local (169.254.0.0/16) or loopback "
				      "(127.0.0.0/8, localhost) address given literally",
				 false;
		snprintf(ep->host, sizeof(ep->host), "%s", ep->localhost ? "localhost" : name);
	}
	ep->port = 80;
	if (colon != NULL) {
		size_t plen = (size_t)(auth + len - colon - 1);
		char digits[8], *end;
		long p;
		if (plen == 0 || plen > 5 || strspn(colon + 1, "0123456789") < plen)
			return *why = "has a malformed port", false;
		snprintf(digits, sizeof(digits), "%.*s", (int)plen, colon + 1);
		p = strtol(digits, &end, 10);
		if (p < 1 || p > 65535)
			return *why = "has a malformed port", false;
		ep->port = (int)p;
	}
	return true;
}

bool
mi_endpoint_parse(const char *url, struct mi_endpoint *ep, const char **why)
{
	const char *auth, *path;
	size_t len = strlen(url);

	memset(ep, 0, sizeof(*ep));
	if (len == 0 || len > MI_URL_MAX)
		return *why = "is empty or too long", false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return *why = "holds a space or control character", false;
	if (strncmp(url, "http://", 7) != 0)
		return *why = "is not an http:// URL (the identity endpoint is plain HTTP on this "
			      "host)",
		       false;
	auth = url + 7;
	path = auth + strcspn(auth, "/?#");
	if (*path != '/')
		return *why = "has no path", false;
	if (memchr(auth, '@', (size_t)(path - auth)) != NULL)
		return *why = "carries user information", false;
	if (strpbrk(path, "?#") != NULL)
		return *why = "has a query or fragment (tokend adds the query)", false;
	return parse_host_port(auth, (size_t)(path - auth), ep, why);
}
