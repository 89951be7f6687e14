/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Paging: a call with max_pages over 1 follows Graph's @odata.nextLink and
 * merges the pages' value arrays into one answer.  A next link comes from
 * the network, so it is judged like any request: on the configured
 * resource's origin only (the token never goes elsewhere), and allowed by
 * policy as the first page was.  A link that fails either ends the paging,
 * not the process: Graph is not a peer whose word is an invariant. */
#include "buildconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonx.h"
#include "log.h"
#include "timeutil.h"
#include "tokend.h"

/* A next page is not started with less time than this left: it would only
 * turn a full answer into a timeout. */
#define PAGING_MIN_TIME_MS 250

/* Path and query of a next link on the configured resource, into the
 * request; false (request unchanged) if it is elsewhere or unparsable. */
static bool
paging_follow_link(struct exec *x, const char *link)
{
	CURLU *u;
	char *path = NULL, *query = NULL;
	bool ok;

	if (!graph_url_on_resource(link, x->entry->resource) || (u = curl_url()) == NULL)
		return false;
	ok = curl_url_set(u, CURLUPART_URL, link, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK;
	if (ok && curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
		query = NULL;
	curl_url_cleanup(u);
	if (ok) {
		free(x->req.path);
		free(x->req.query);
		x->req.path = xstrdup(path);
		x->req.query = query != NULL ? xstrdup(query) : NULL;
	}
	curl_free(path);
	curl_free(query);
	return ok;
}

static size_t
paging_items(const struct exec *x)
{
	return json_object_array_length(jx_get_arr(jx_get_obj(x->paged, "body"), "value"));
}

/* Why no further page is fetched, or NULL to fetch it. */
static const char *
paging_stop_reason(const struct tokend *td, struct exec *x, const char *next)
{
	long cap = x->req.max_pages < td->cfg.paging_max_pages ? x->req.max_pages
							       : td->cfg.paging_max_pages;
	struct policy_decision d;

	if (x->pages >= cap)
		return x->req.max_pages > cap ? "MCP_AUTH_BROKER_PAGING_MAX_PAGES reached"
					      : "max_pages reached";
	if ((long)paging_items(x) >= td->cfg.paging_max_items)
		return "MCP_AUTH_BROKER_PAGING_MAX_ITEMS reached";
	if ((long)x->page_bytes >= td->cfg.max_response_bytes)
		return "MCP_AUTH_BROKER_MAX_RESPONSE_BYTES reached";
	if (x->deadline_ms - mono_ms() < PAGING_MIN_TIME_MS)
		return "timeout_ms nearly elapsed";
	if (!paging_follow_link(x, next))
		return "the next link is not on the configured resource";
	policy_decide(&td->cfg, &x->req, &d);
	if (!d.allow) {
		log_info("call %llu: next link refused by policy (%s)", (unsigned long long)x->id,
		    d.reason);
		return "the next link is refused by policy";
	}
	return NULL;
}

/* The merged answer: the first page's execution, every page's items, and
 * where to continue from if it stopped early.  A link longer than the
 * codec carries (Graph decides how long) is left out, not cut: a cut link
 * would continue somewhere else. */
static struct json_object *
paging_finish(struct exec *x, const char *next, const char *stopped)
{
	struct json_object *ex = x->paged, *p = json_object_new_object();
	bool link_fits = next != NULL && strlen(next) <= MSG_NEXT_LINK_MAX;

	if (next != NULL && !link_fits)
		stopped = "the next link is too long to pass on";

	x->paged = NULL;
	json_object_object_del(jx_get_obj(ex, "body"), "@odata.nextLink");
	jx_add_int(p, "pages", x->pages);
	jx_add_int(p, "items", (int64_t)json_object_array_length(
				   jx_get_arr(jx_get_obj(ex, "body"), "value")));
	jx_add_bool(p, "truncated", stopped != NULL);
	jx_add_str(p, "next_link", link_fits ? next : NULL);
	if (stopped != NULL)
		jx_add_str(p, "stopped", stopped);
	jx_add(ex, "paging", p);
	return ex;
}

/* Keeps this page: the first whole, a later one's items appended. */
static void
paging_merge(struct exec *x, struct json_object *execution)
{
	struct json_object *into, *from;

	if (x->paged == NULL) {
		x->paged = json_object_get(execution);
		return;
	}
	into = jx_get_arr(jx_get_obj(x->paged, "body"), "value");
	from = jx_get_arr(jx_get_obj(execution, "body"), "value");
	for (size_t i = 0; i < json_object_array_length(from); i++)
		json_object_array_add(into, json_object_get(json_object_array_get_idx(from, i)));
}

bool
paging_continue(struct tokend *td, struct exec *x, size_t page_bytes,
    struct json_object **execution)
{
	struct json_object *body = jx_get_obj(*execution, "body");
	const char *next, *stopped;
	char *link;
	int64_t status = 0;

	if (x->req.max_pages <= 1)
		return false;
	jx_get_int64(*execution, "http_status", &status);
	if (status != 200 || jx_get_arr(body, "value") == NULL) {
		if (x->paged == NULL)
			return false; /* not a collection: the answer as it is */
		log_warnx("call %llu: page %d is not a collection; paging stops",
		    (unsigned long long)x->id, x->pages + 1);
		json_object_put(*execution);
		*execution = paging_finish(x, NULL, "a later page was not a collection");
		return false;
	}
	paging_merge(x, *execution);
	x->pages++;
	x->page_bytes += page_bytes;
	next = jx_get_str(body, "@odata.nextLink");
	link = next != NULL ? xstrdup(next) : NULL;
	json_object_put(*execution);
	*execution = NULL;
	if (link == NULL || (stopped = paging_stop_reason(td, x, link)) != NULL) {
		*execution = paging_finish(x, link, link ? stopped : NULL);
		free(link);
		return false;
	}
	free(link);
	x->attempts = 0;
	graph_start(td, x);
	return true;
}
