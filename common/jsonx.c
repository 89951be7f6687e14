/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include <json-c/printbuf.h>

#include "jsonx.h"
#include "log.h"

const char jx_why_null[] = "the JSON text is null";

/* Whether s[0..n) is the literal null, with white space around it. */
static bool
jx_is_null_text(const char *s, size_t n)
{
	size_t i = 0, j = n;

	while (i < j && strchr(" \t\r\n", s[i]) != NULL)
		i++;
	while (j > i && strchr(" \t\r\n", s[j - 1]) != NULL)
		j--;
	return j - i == 4 && memcmp(s + i, "null", 4) == 0;
}

static int
jx_trailing_space_only(const char *s, size_t from, size_t n)
{
	for (size_t i = from; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return 0;
	return 1;
}

/* RFC 3629 (Unicode table 3-7): no overlong form, no UTF-16 surrogate, nothing
 * past U+10FFFF.  json-c's JSON_TOKENER_VALIDATE_UTF8 checks only the shape of
 * a sequence (lead byte, continuation bytes), lets "\xc0\xaf" (an overlong '/'),
 * "\xed\xa0\x80" and "\xf4\x90\x80\x80" through, and json-c writes them out
 * again as they came: brokerd echoed such bytes onto stdout, which then no
 * longer carried UTF-8 JSON (found by tests/integration/test_hostile_input.py). */
static bool
jx_utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i], lo = 0x80, hi = 0xbf;
		size_t len;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			lo = c == 0xe0 ? 0xa0 : 0x80;
			hi = c == 0xed ? 0x9f : 0xbf;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			lo = c == 0xf0 ? 0x90 : 0x80;
			hi = c == 0xf4 ? 0x8f : 0xbf;
		} else {
			return false;
		}
		if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k < len; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

/* json-c accepts NaN, Infinity and -Infinity even with JSON_TOKENER_STRICT
 * and writes them out again as they came, but they are not JSON (RFC 8259):
 * a Graph body holding one went on to the client on stdout, where a strict
 * parser refuses the whole message (found by fuzz_graph).  Outside strings
 * the only letters JSON has are those of true, false, null and an exponent,
 * so an upper-case N or I there can only begin one of these. */
static bool
jx_has_nonfinite(const char *s, size_t n)
{
	bool in_string = false;

	for (size_t i = 0; i < n; i++) {
		if (in_string) {
			if (s[i] == '\\')
				i++; /* the escaped character */
			else if (s[i] == '"')
				in_string = false;
		} else if (s[i] == '"') {
			in_string = true;
		} else if (s[i] == 'N' || s[i] == 'I') {
			return true;
		}
	}
	return false;
}

/* RFC 8259 requires control characters in strings to be escaped; json-c
 * takes them raw and writes each back as a six-byte \u00XX, so a body of
 * them grew sixfold on its way through tokend, past what IPC carries (found
 * by fuzz_graph in CI's fuzz-smoke). */
static bool
jx_has_raw_control(const char *s, size_t n)
{
	bool in_string = false;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!in_string) {
			in_string = (c == '"');
		} else if (c == '\\') {
			i++; /* the escaped character */
		} else if (c == '"') {
			in_string = false;
		} else if (c < 0x20) {
			return true;
		}
	}
	return false;
}

struct json_object *
jx_parse(const char *s, size_t n, const char **why)
{
	return jx_parse_depth(s, n, JX_MAX_DEPTH, why);
}

struct json_object *
jx_parse_depth(const char *s, size_t n, int max_depth, const char **why)
{
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error err;
	const char *reason = NULL;

	if (memchr(s, '\0', n) != NULL) {
		if (why)
			*why = "NUL byte in input";
		return NULL;
	}
	if (!jx_utf8_valid((const unsigned char *)s, n)) {
		if (why)
			*why = "invalid UTF-8";
		return NULL;
	}
	if (jx_has_raw_control(s, n)) {
		if (why)
			*why = "control character not escaped in a string";
		return NULL;
	}
	if (jx_has_nonfinite(s, n)) {
		if (why)
			*why = "NaN and Infinity are not JSON";
		return NULL;
	}
	if (max_depth > JX_MAX_DEPTH)
		max_depth = JX_MAX_DEPTH;
	if ((tok = json_tokener_new_ex(max_depth)) == NULL) {
		if (why)
			*why = "out of memory";
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	/* json-c 0.16 ignores a failed allocation while it collects a string
	 * in the tokener's printbuf (printbuf_memappend_fast drops the bytes)
	 * and carries on with the string cut short: under RLIMIT_AS a POST body
	 * {"blob":"x..."} of 15 MiB was parsed as {"blob":""} and sent on to
	 * Graph (found by tests/integration/test_faults.py).  No string, number
	 * or key decodes to more bytes than the text has, so a printbuf of n
	 * bytes made now never has to grow during the parse; if it cannot be
	 * made, that is out of memory.  (The field is public in json-c 0.16.)
	 * Any other allocation that fails in the parse leaves ENOMEM behind. */
	if (n >= INT_MAX - 16 || printbuf_memset(tok->pb, 0, 0, (int)n + 1) == -1) {
		json_tokener_free(tok);
		if (why)
			*why = "out of memory";
		return NULL;
	}
	printbuf_reset(tok->pb);
	errno = 0;
	o = json_tokener_parse_ex(tok, s, (int)n);
	err = json_tokener_get_error(tok);
	if (o == NULL && err == json_tokener_continue) {
		/* A bare number or literal ends only at a delimiter. */
		o = json_tokener_parse_ex(tok, " ", 1);
		err = json_tokener_get_error(tok);
		if (o == NULL && err == json_tokener_continue)
			reason = "incomplete JSON text";
	} else if (err == json_tokener_success &&
	    !jx_trailing_space_only(s, json_tokener_get_parse_end(tok), n)) {
		reason = "data after the JSON value";
	}
	if (errno == ENOMEM) {
		json_object_put(o);
		o = NULL;
		reason = "out of memory";
	}
	/* A JSON null parses "successfully" to NULL: said so, rather than as
	 * json-c's "success", which brokerd answered as a parse error (found by
	 * tests/integration/test_hostile_input.py).  json-c also returns NULL
	 * with "success" when it cannot allocate a string object. */
	if (o == NULL && reason == NULL && err == json_tokener_success)
		reason = jx_is_null_text(s, n) ? jx_why_null : "out of memory";
	if (o == NULL && reason == NULL)
		reason = json_tokener_error_desc(err);
	if (reason != NULL) {
		json_object_put(o);
		o = NULL;
		if (why)
			*why = reason;
	}
	json_tokener_free(tok);
	return o;
}

struct json_object *
jx_get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	if (o == NULL || !json_object_is_type(o, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static struct json_object *
jx_get_typed(struct json_object *o, const char *key, enum json_type t)
{
	struct json_object *v = jx_get(o, key);

	return (v != NULL && json_object_is_type(v, t)) ? v : NULL;
}

const char *
jx_get_str(struct json_object *o, const char *key)
{
	struct json_object *v = jx_get_typed(o, key, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

struct json_object *
jx_get_obj(struct json_object *o, const char *key)
{
	return jx_get_typed(o, key, json_type_object);
}

struct json_object *
jx_get_arr(struct json_object *o, const char *key)
{
	return jx_get_typed(o, key, json_type_array);
}

bool
jx_get_int64(struct json_object *o, const char *key, int64_t *out)
{
	struct json_object *v = jx_get_typed(o, key, json_type_int);

	if (v == NULL)
		return false;
	*out = json_object_get_int64(v);
	return true;
}

void
jx_add(struct json_object *o, const char *key, struct json_object *v)
{
	json_object_object_add(o, key, v);
}

void
jx_add_str(struct json_object *o, const char *key, const char *s)
{
	json_object_object_add(o, key, s ? json_object_new_string(s) : NULL);
}

void
jx_add_int(struct json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

void
jx_add_bool(struct json_object *o, const char *key, bool v)
{
	json_object_object_add(o, key, json_object_new_boolean(v));
}

/* json-c 0.16 ignores a failed allocation while it escapes a string
 * (json_escape_str drops that part and goes on): a text that could not be
 * made whole went out shorter but still well formed, e.g. a POST body of
 * 15 MiB reached tokend as "" under RLIMIT_AS (found by
 * tests/integration/test_faults.py).  So a failed allocation anywhere in the
 * call is out of memory, as everywhere else. */
const char *
jx_text(struct json_object *o, size_t *len)
{
	const char *s;
	size_t n = 0;

	errno = 0;
	s = json_object_to_json_string_length(o, JX_PLAIN, &n);
	if (s == NULL || errno == ENOMEM)
		fatalx("out of memory");
	if (len != NULL)
		*len = n;
	return s;
}

struct json_object *
jx_literal(const char *text)
{
	const char *why = NULL;
	struct json_object *o = jx_parse(text, strlen(text), &why);

	if (o == NULL)
		fatalx("built-in JSON does not parse: %s", why);
	return o;
}
