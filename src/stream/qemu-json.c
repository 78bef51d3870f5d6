/* The VM description written back as QEMU's JSON writer writes it
 * (qobject/json-writer.c: ", " and ": ", \uXXXX escapes), so an unchanged
 * description round-trips byte for byte. */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "qemu-file.h"

/* --- QEMU's JSON style (qobject/json-writer.c) ------------------------- */

/* One code point from UTF-8, or -1 for an invalid sequence (1 byte used). */
static long
utf8_next(const unsigned char *s, size_t len, size_t *used)
{
	unsigned n;
	long cp;

	*used = 1;
	if (s[0] < 0x80)
		return s[0];
	if ((s[0] & 0xe0) == 0xc0)
		n = 1, cp = s[0] & 0x1f;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 2, cp = s[0] & 0x0f;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 3, cp = s[0] & 0x07;
	else
		return -1;
	if (n >= len)
		return -1;
	for (unsigned i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
	    (n == 3 && cp < 0x10000))
		return -1;
	*used = n + 1;
	return cp;
}

static void
put_quoted(FILE *f, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;

	fputc('"', f);
	for (size_t i = 0, used; i < len; i += used) {
		long cp = utf8_next(s + i, len - i, &used);
		switch (cp) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\b': fputs("\\b", f); break;
		case '\f': fputs("\\f", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (cp < 0)
				cp = 0xfffd;
			if (cp > 0xffff) {
				cp -= 0x10000;
				fprintf(f, "\\u%04lX\\u%04lX", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
			} else if (cp < 0x20 || cp >= 0x7f) {
				fprintf(f, "\\u%04lX", cp);
			} else {
				fputc((int)cp, f);
			}
		}
	}
	fputc('"', f);
}

static void
put_value(FILE *f, struct json_object *o)
{
	bool first = true;

	switch (json_object_get_type(o)) {
	case json_type_null: fputs("null", f); break;
	case json_type_boolean: fputs(json_object_get_boolean(o) ? "true" : "false", f); break;
	case json_type_int:
	case json_type_double: fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), f); break;
	case json_type_string: put_quoted(f, json_object_get_string(o), (size_t)json_object_get_string_len(o)); break;
	case json_type_object:
		fputc('{', f);
		json_object_object_foreach(o, key, val) {
			if (!first)
				fputs(", ", f);
			first = false;
			put_quoted(f, key, strlen(key));
			fputs(": ", f);
			put_value(f, val);
		}
		fputc('}', f);
		break;
	case json_type_array:
		fputc('[', f);
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			if (i)
				fputs(", ", f);
			put_value(f, json_object_array_get_idx(o, i));
		}
		fputc(']', f);
		break;
	}
}

char *
vs_qemu_json_serialize(struct json_object *o, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f) {
		vs_error_set(VS_EXIT_FAIL, errno, "out of memory");
		return NULL;
	}
	put_value(f, o);
	if (ferror(f) | fclose(f)) {
		free(buf);
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		return NULL;
	}
	*len = size;
	return buf;
}

