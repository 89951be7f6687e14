/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "jsonx.h"
#include "tokend.h"

void
smoke_mint(const unsigned char *secret, size_t len, const char *tenant, const char *resource,
    char *out, size_t outlen)
{
	crypto_generichash_state st;
	unsigned char h[24];
	char hex[sizeof(h) * 2 + 1];

	crypto_generichash_init(&st, NULL, 0, sizeof(h));
	crypto_generichash_update(&st, secret, len);
	crypto_generichash_update(&st, (const unsigned char *)tenant, strlen(tenant) + 1);
	crypto_generichash_update(&st, (const unsigned char *)resource, strlen(resource) + 1);
	crypto_generichash_final(&st, h, sizeof(h));
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(out, outlen, "smoke-at-%s", hex);
	sodium_memzero(h, sizeof(h));
	sodium_memzero(hex, sizeof(hex));
}

static const char smoke_users[] =
    "{\"@odata.context\":\"https://graph.microsoft.com/v1.0/$metadata#users\",\"value\":["
    "{\"id\":\"6e7b768e-07e2-4810-8459-485f84f8f204\",\"displayName\":\"Adele Vance\","
    "\"userPrincipalName\":\"AdeleV@contoso.example\"},"
    "{\"id\":\"87d349ed-44d7-43e1-9a83-5f2406dee5bd\",\"displayName\":\"Alex Wilber\","
    "\"userPrincipalName\":\"AlexW@contoso.example\"}]}";

static const char smoke_org[] =
    "{\"value\":[{\"id\":\"11111111-1111-1111-1111-111111111111\","
    "\"displayName\":\"Contoso (smoke)\",\"verifiedDomains\":[{\"name\":\"contoso.example\"}]}]}";

static const char smoke_not_found[] =
    "{\"error\":{\"code\":\"Request_ResourceNotFound\",\"message\":\"Resource does not exist "
    "(smoke mode).\"}}";

/* A canned body, parsed on first use and kept: parsing it again for every
 * call was a quarter of tokend's instructions per smoke execute.  The caller
 * gets a reference to the one object, which nothing changes (paging, the
 * only code that edits a body, runs on real HTTP answers only), so it is
 * shared between calls. */
static struct json_object *
smoke_body(struct json_object **cache, const char *text)
{
	if (*cache == NULL)
		*cache = jx_literal(text);
	return json_object_get(*cache);
}

static struct json_object *smoke_users_body, *smoke_org_body, *smoke_not_found_body;

/* GET /v1.0/users/<id>: one of the canned users, or NULL. */
static struct json_object *
smoke_user(const char *id)
{
	struct json_object *all = smoke_body(&smoke_users_body, smoke_users), *found = NULL;
	struct json_object *list = jx_get_arr(all, "value");

	for (size_t i = 0; list != NULL && i < json_object_array_length(list); i++) {
		struct json_object *u = json_object_array_get_idx(list, i);
		const char *uid = jx_get_str(u, "id"), *upn = jx_get_str(u, "userPrincipalName");
		if ((uid && strcmp(uid, id) == 0) || (upn && strcasecmp(upn, id) == 0)) {
			found = json_object_get(u);
			break;
		}
	}
	json_object_put(all);
	return found;
}

static void
smoke_get(const char *path, int attempt, struct graph_answer *ans)
{
	static const char users_prefix[] = "/v1.0/users/";

	ans->status = 200;
	if (strcmp(path, "/v1.0/users") == 0) {
		ans->body = smoke_body(&smoke_users_body, smoke_users);
	} else if (strcmp(path, "/v1.0/organization") == 0) {
		ans->body = smoke_body(&smoke_org_body, smoke_org);
	} else if (strcmp(path, SMOKE_SLOW_PATH) == 0) {
		ans->body = jx_literal("{\"slow\":true}");
		ans->delay_ms = SMOKE_SLOW_MS;
	} else if (strcmp(path, SMOKE_THROTTLED_PATH) == 0 && attempt == 1) {
		ans->status = 429;
		ans->retry_after = "1";
		ans->body = jx_literal("{\"error\":{\"code\":\"TooManyRequests\","
				       "\"message\":\"Throttled (smoke mode).\"}}");
	} else if (strcmp(path, SMOKE_THROTTLED_PATH) == 0) {
		ans->body = jx_literal("{\"throttled\":false}");
	} else if (strncmp(path, users_prefix, sizeof(users_prefix) - 1) == 0 &&
	    (ans->body = smoke_user(path + sizeof(users_prefix) - 1)) != NULL) {
		/* found */
	} else {
		ans->status = 404;
		ans->body = smoke_body(&smoke_not_found_body, smoke_not_found);
	}
}

void
smoke_graph(const char *method, const char *path, struct json_object *body, int attempt,
    struct graph_answer *ans)
{
	memset(ans, 0, sizeof(*ans));
	if (strcmp(method, "GET") == 0) {
		smoke_get(path, attempt, ans);
	} else if (strcmp(method, "POST") != 0) {
		/* PATCH, PUT, DELETE: Graph answers 204 No Content. */
		ans->status = 204;
	} else if (strcmp(method, "POST") == 0 && strcmp(path, "/v1.0/users") == 0) {
		/* Graph answers a create with the new object. */
		ans->status = 201;
		ans->body = json_object_new_object();
		jx_add_str(ans->body, "id", "0d4e7c4a-9a1f-4b36-8a3e-5f1c2b7d9e01");
		if (body != NULL && json_object_is_type(body, json_type_object)) {
			json_object_object_foreach(body, k, v)
				jx_add(ans->body, k, json_object_get(v));
		}
	} else {
		ans->status = 404;
		ans->body = smoke_body(&smoke_not_found_body, smoke_not_found);
	}
}
