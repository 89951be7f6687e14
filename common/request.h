/* The request contract of auth.graph.operation.execute.v1 (the original
 * broker's): strict validation of the tool arguments into a graph_request.
 * Validation checks shape and types only; what is allowed is policy.c's. */
#ifndef MAB_REQUEST_H
#define MAB_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "config.h"
#include "errors.h"

#define REQ_CONTRACT_VERSION "v1"
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

struct graph_request {
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
};

struct req_error {
	enum err_code code;
	char message[256];
};

/* 0 and a filled request, or -1 with the error.  The request must be released
 * with request_free in both cases. */
int request_parse(struct json_object *args, struct graph_request *req, struct req_error *err);
void request_free(struct graph_request *req);

#endif
