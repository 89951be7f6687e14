/*
 * SPDX-FileCopyrightText: 2026 mcp-auth-broker contributors
 *
 * SPDX-License-Identifier: ISC
 */

#include "buildconf.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/printbuf.h>
#include <sodium.h>

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
 * longer carried UTF-8 JSON (found by tests/integration/test_hostile_input.py).
 * The length of the sequence at s[0] (lead byte >= 0x80), or 0 when it is
 * not valid. */
static size_t
jx_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

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
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t k = 2; k < len; k++)
		if ((s[k] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* What jx_scan finds wrong with a text, most important first. */
enum jx_fault { JX_OK, JX_NUL, JX_BAD_UTF8, JX_RAW_CONTROL, JX_NONFINITE };

/* One pass over the text for what json-c lets through but JSON (RFC 8259)
 * or the next reader does not (it was four passes, an eighth of brokerd's
 * instructions per call):
 * - a NUL byte;
 * - invalid UTF-8 (above);
 * - a raw control character in a string: RFC 8259 requires them escaped;
 *   json-c takes them raw and writes each back as a six-byte \u00XX, so a
 *   body of them grew sixfold on its way through tokend, past what IPC
 *   carries (found by fuzz_graph in CI's fuzz-smoke);
 * - NaN, Infinity or -Infinity: json-c accepts them even with
 *   JSON_TOKENER_STRICT and writes them out again, but a strict parser
 *   refuses the whole message (found by fuzz_graph).  Outside strings the
 *   only letters JSON has are those of true, false, null and an exponent,
 *   so an upper-case N or I there can only begin one of these.
 * Bytes of a multi-byte sequence are all >= 0x80, so they never change
 * whether we are inside a string. */
static enum jx_fault
jx_scan(const unsigned char *s, size_t n)
{
	enum jx_fault fault = JX_OK;
	bool in_string = false, escaped = false;
	size_t i = 0, len;

	while (i < n) {
		unsigned char c = s[i];

		if (c >= 0x80) {
			if ((len = jx_utf8_seq(s + i, n - i)) == 0)
				return memchr(s + i, '\0', n - i) != NULL ? JX_NUL : JX_BAD_UTF8;
			i += len;
			escaped = false;
			continue;
		}
		i++;
		if (c == '\0')
			return JX_NUL;
		if (escaped) {
			escaped = false;
		} else if (in_string) {
			if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
			else if (c < 0x20)
				fault = JX_RAW_CONTROL;
		} else if (c == '"') {
			in_string = true;
		} else if ((c == 'N' || c == 'I') && fault == JX_OK) {
			fault = JX_NONFINITE;
		}
	}
	return fault;
}

static struct json_object *
jx_refuse(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return NULL;
}

/* One tokener per nesting limit, kept from parse to parse: a new one per
 * parse (json_tokener_new_ex: a calloc'ed tokener, its printbuf and its
 * stack) was 5% of brokerd's instructions per execute call.  The three
 * programs parse from one thread only.  A tokener whose printbuf grew past
 * JX_TOK_KEEP for a large text is freed after that parse rather than kept,
 * so a large body does not stay in memory (the memory bounds count on it).
 * (pb is public in json-c 0.16, as used below.) */
#define JX_TOK_KEEP (64 * 1024)
static struct json_tokener *jx_toks[JX_MAX_DEPTH + 1];

static struct json_tokener *
jx_tokener(int max_depth)
{
	struct json_tokener *tok = jx_toks[max_depth];

	if (tok != NULL)
		return tok;
	if ((tok = json_tokener_new_ex(max_depth)) == NULL)
		return NULL;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	return jx_toks[max_depth] = tok;
}

static void
jx_tokener_done(int max_depth)
{
	struct json_tokener *tok = jx_toks[max_depth];

	if (tok == NULL)
		return;
	if (tok->pb->size > JX_TOK_KEEP) {
		json_tokener_free(tok);
		jx_toks[max_depth] = NULL;
	} else {
		/* Drops what a failed parse left on the tokener's stack. */
		json_tokener_reset(tok);
	}
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

	switch (jx_scan((const unsigned char *)s, n)) {
	case JX_OK:
		break;
	case JX_NUL:
		return jx_refuse(why, "NUL byte in input");
	case JX_BAD_UTF8:
		return jx_refuse(why, "invalid UTF-8");
	case JX_RAW_CONTROL:
		return jx_refuse(why, "control character not escaped in a string");
	case JX_NONFINITE:
		return jx_refuse(why, "NaN and Infinity are not JSON");
	}
	if (max_depth > JX_MAX_DEPTH)
		max_depth = JX_MAX_DEPTH;
	if (max_depth < 1)
		max_depth = 1;
	if ((tok = jx_tokener(max_depth)) == NULL)
		return jx_refuse(why, "out of memory");
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
		jx_tokener_done(max_depth);
		return jx_refuse(why, "out of memory");
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
	jx_tokener_done(max_depth);
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

struct json_object *
jx_parse_b64url_object(const char *s, size_t n)
{
	size_t cap = n / 4 * 3 + 3, got = 0;
	unsigned char *bin;
	struct json_object *o = NULL;

	if (n == 0)
		return NULL;
	if ((bin = malloc(cap)) == NULL)
		fatalx("out of memory");
	if (sodium_base642bin(bin, cap, s, n, NULL, &got, NULL,
		sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0)
		o = jx_parse((const char *)bin, got, NULL);
	sodium_memzero(bin, cap);
	free(bin);
	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}
