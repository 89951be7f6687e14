/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* The request contract of graph_execute (auth.graph.operation.execute.v1,
 * the original broker's, version v0.1.0): strict validation of the tool
 * arguments into a graph_request.  Validation checks shape and types only;
 * what a call leaves out is filled by request_fill_defaults, and what is
 * allowed is policy.c's. */
#ifndef MAB_REQUEST_H
#define MAB_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "config.h"
#include "errors.h"

/* The version of the original broker's tool-contracts document this broker
 * implements.  A request may name it or a later v0.1.x (patch versions are
 * compatible), or "v1", which this broker's first clients send. */
#define REQ_CONTRACT_VERSION "v0.1.0"
#define REQ_CONTRACT_ALIAS "v1"
/* The request headers the contract accepts (lower case); the original
 * contract refuses any other with bad_request.invalid_field.  Graph's own
 * spelling of the advanced-query header is ConsistencyLevel; the hyphenated
 * name of the original broker's list is kept for its clients. */
#define REQ_FORWARDED_HEADERS "accept", "content-type", "if-match", "prefer", \
	"consistency-level", "consistencylevel"
#define REQ_MAX_HEADERS 32
#define REQ_MAX_ID_LEN 128
#define REQ_MAX_PATH_LEN 2048
#define REQ_TIMEOUT_MIN_MS 100
#define REQ_TIMEOUT_MAX_MS 120000
#define REQ_TIMEOUT_DEFAULT_MS 30000
/* max_pages as a request may ask; the configuration caps what is followed. */
#define REQ_MAX_PAGES 1000

struct header_kv {
	char *name; /* lower case */
	char *value;
};

/* The caller as authentication established it (brokerd) and tokend
 * verified it again: what the per-caller rules of policy look at. */
#define REQ_CALLER_ROLES_MAX 1024
struct req_caller {
	char roles[REQ_CALLER_ROLES_MAX + 1]; /* scopes and roles, space-separated */
};

struct graph_request {
	char *contract_version; /* as given; NULL when not given */
	char *request_id;
	char *requester_id;	  /* NULL when the requester is missing */
	char *identity_assurance; /* NULL when not given */
	char *tenant_id;
	char *resource; /* as given */
	struct strlist scopes;
	char *method; /* GET, POST, PUT, PATCH or DELETE */
	char *path;   /* up to the first '?' */
	char *query;  /* after the '?', NULL if none */
	struct header_kv headers[REQ_MAX_HEADERS];
	size_t n_headers;
	struct json_object *body; /* a reference we own, or NULL */
	long timeout_ms;
	long max_pages; /* pages to follow by @odata.nextLink; 1: only this one */
	/* The verified caller, or NULL (no authenticated caller: no role).
	 * Not owned, never decoded from a message: each process sets its own. */
	const struct req_caller *caller;
};

struct req_error {
	enum err_code code;
	char message[256];
};

/* What a call may leave out and where it comes from: the caller's part
 * (the session's), the rest is the configuration's. */
struct req_defaults {
	const char *request_id;	  /* generated for this call */
	const char *requester_id; /* the session's peer, e.g. "uid:1000/pid:4242" */
	const char *identity_assurance;
};

/* 0 and a filled request, or -1 with the error.  The request must be released
 * with request_free in both cases.  Left NULL (or empty) when not given:
 * contract_version, request_id, requester_id (requester absent), tenant_id,
 * resource, scopes; timeout_ms is REQ_TIMEOUT_DEFAULT_MS. */
int request_parse(struct json_object *args, struct graph_request *req, struct req_error *err);
/* Fills what request_parse left out: tenant, the first allowed resource and
 * every allowed scope from cfg, request id and requester from def.  After it
 * the request is whole, as policy and tokend see it. */
void request_fill_defaults(struct graph_request *req, const struct config *cfg,
    const struct req_defaults *def);
void request_free(struct graph_request *req);

/* Whether v is a request_id the contract accepts: 1 to REQ_MAX_ID_LEN
 * visible ASCII characters. */
bool request_id_ok(struct json_object *v);
/* Whether v is a contract_version the broker accepts (a string, no NUL). */
bool request_contract_version_ok(struct json_object *v);
/* The contract_version a response carries: the request's, or REQ_CONTRACT_VERSION. */
const char *request_contract_version(const char *given);
/* Whether a (lower-case) request header name is one the contract accepts. */
bool request_header_forwarded(const char *name);

#endif
