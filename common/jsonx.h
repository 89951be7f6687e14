/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

/* Small helpers over json-c shared by the three processes. */
#ifndef MAB_JSONX_H
#define MAB_JSONX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/* Compact output, and "/" left unescaped: URLs stay readable. */
#define JX_PLAIN (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Nesting deeper than this is refused: no legitimate request needs it, and it
 * bounds the parser's recursion on hostile input. */
#define JX_MAX_DEPTH 32

/* Parses exactly one JSON value from s[0..n): strict grammar, valid UTF-8, no
 * NUL byte, nothing but white space after the value.  NULL on failure, with
 * a short reason in *why when why is not NULL. */
/* Not thread-safe: the tokener is kept for the next parse. */
struct json_object *jx_parse(const char *s, size_t n, const char **why);
/* The *why of jx_parse for a text that is a well-formed JSON null (json-c
 * represents null as NULL): not a parse error, just no object. */
extern const char jx_why_null[];
/* The same with a lower nesting limit, for a value that will be sent on
 * inside an envelope that jx_parse must still accept at the other end. */
struct json_object *jx_parse_depth(const char *s, size_t n, int max_depth, const char **why);

/* The JSON object encoded in s[0..n) as unpadded base64url (a part of a
 * JWT), or NULL: not base64url, not JSON, not an object.  The decoded
 * bytes are wiped before this returns: a part may be a credential's. */
struct json_object *jx_parse_b64url_object(const char *s, size_t n);

/* Member lookups: NULL (or false) when the key is missing or of another type. */
struct json_object *jx_get(struct json_object *o, const char *key);
const char *jx_get_str(struct json_object *o, const char *key);
struct json_object *jx_get_obj(struct json_object *o, const char *key);
struct json_object *jx_get_arr(struct json_object *o, const char *key);
bool jx_get_int64(struct json_object *o, const char *key, int64_t *out);

/* Adds a member, taking ownership of v (NULL adds JSON null). */
void jx_add(struct json_object *o, const char *key, struct json_object *v);
void jx_add_str(struct json_object *o, const char *key, const char *s);
void jx_add_int(struct json_object *o, const char *key, int64_t v);
void jx_add_bool(struct json_object *o, const char *key, bool v);

/* The JSON text of o (JX_PLAIN) and its length, or fatalx("out of memory"):
 * never a text that could not be made whole.  The text lives in o. */
const char *jx_text(struct json_object *o, size_t *len);

/* Parses a JSON text known to be well formed (built into the program). */
struct json_object *jx_literal(const char *text);

#endif
