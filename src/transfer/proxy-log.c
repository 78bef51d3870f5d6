/* The proxy's log (proxy-int.h): one line per relayed message and per
 * event of the proxy itself, as text or as JSON lines
 * (schema/proxy-log.schema.json). */
#include <config.h>

#include <json.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "proxy-int.h"
#include "vu-describe.h"

const char *const vs_px_dir_names[D_COUNT] = { "fe>be", "be>fe", "be>fe/chan", "fe>be/chan", "px>be", "be>px" };

/* Log timestamps: UTC wall-clock time with microseconds, so lines can be
 * matched with QEMU's and the back-end's own logs. */
void
vs_px_iso_now(char *buf, size_t len, bool compact)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, compact ? "%Y%m%dT%H%M%S" : "%Y-%m-%dT%H:%M:%S", &tm);
	if (compact)
		snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
	else
		snprintf(buf + n, len - n, ".%06ldZ", ts.tv_nsec / 1000);
}

static void
log_line(struct proxy *px, const char *line)
{
	if (!px->o->log)
		return;
	if (fputs(line, px->o->log) < 0 || fputc('\n', px->o->log) < 0 || fflush(px->o->log) != 0)
		px->log_failed = true;
}

/* An event of the proxy itself (not a message). */
void
vs_px_log_event(struct proxy *px, const char *kind, struct json_object *fields, const char *fmt, ...)
{
	char msg[1024], t[40];
	va_list ap;

	if (!px->o->log) {
		json_object_put(fields);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	vs_px_iso_now(t, sizeof t, false);
	if (px->o->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "event", json_object_new_string(kind));
		json_object_object_add(o, "message", json_object_new_string(msg));
		if (fields) {
			json_object_object_foreach(fields, key, val)
				json_object_object_add(o, key, json_object_get(val));
		}
		log_line(px, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		char line[1200];
		snprintf(line, sizeof line, "%s -- %s: %s", t, kind, msg);
		log_line(px, line);
	}
	json_object_put(fields);
}

void
vs_px_log_msg(struct proxy *px, enum dir d, const struct msg *m)
{
	bool channel = d == D_CHAN_BE_FE || d == D_CHAN_FE_BE;
	struct vs_vu_message vm = { channel ? VS_VU_CHANNEL_BACKEND : VS_VU_CHANNEL_MAIN, msg_hdr(m),
				    msg_payload(m), m->nfds };
	char t[40];

	px->counts[d]++;
	if (!px->o->log)
		return;
	vs_px_iso_now(t, sizeof t, false);
	if (px->o->json) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "time", json_object_new_string(t));
		json_object_object_add(o, "dir", json_object_new_string(vs_px_dir_names[d]));
		json_object_object_add(o, "channel", json_object_new_string(channel ? "backend" : "main"));
		vs_vu_describe_json(o, &vm);
		log_line(px, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		char text[2048], line[2200];
		vs_vu_describe_text(text, sizeof text, &vm);
		snprintf(line, sizeof line, "%s %s %s", t, vs_px_dir_names[d], text);
		log_line(px, line);
	}
}
