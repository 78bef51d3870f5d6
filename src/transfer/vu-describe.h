/* One describer of vhost-user messages, driven by the request tables of
 * vu-requests.def: the name, the header and the payload decoded into
 * named fields.  It serves -v (vu-frontend.c, the back-end channel of
 * vhost-dev.c) and the proxy's text and JSON logs, so all of them name
 * and decode a message the same way (doc/vhost-user.md §7). */
#ifndef VS_VU_DESCRIBE_H
#define VS_VU_DESCRIBE_H

#include <json.h>
#include <stddef.h>

#include "vu-proto.h"

enum vs_vu_channel {
	VS_VU_CHANNEL_MAIN,    /* the front-end's socket: requests from the front-end */
	VS_VU_CHANNEL_BACKEND, /* SET_BACKEND_REQ_FD's: requests from the back-end */
};

/* One message as it is on the wire. */
struct vs_vu_message {
	enum vs_vu_channel channel;
	struct vs_vu_header hdr;
	const void *payload; /* hdr.size bytes; NULL when it was not read */
	size_t nfds;
};

/* The table entry of the message's request, NULL for an unknown code. */
const struct vs_vu_request_info *vs_vu_describe_info(const struct vs_vu_message *m);
/* "SET_FEATURES", "BACKEND_CONFIG_CHANGE_MSG", "REQUEST_<n>" ... */
const char *vs_vu_describe_name(const struct vs_vu_message *m);

/* The payload's fields as a new JSON object: empty when the request, its
 * payload kind or the size is unknown.  A reply (REPLY flag) is decoded
 * as the table's reply kind, a request as its payload kind.  Every length
 * is checked before a byte is read. */
struct json_object *vs_vu_describe_payload(const struct vs_vu_message *m);

/* Adds request, name, flags, reply, need_reply, size, fds and payload to o
 * (the proxy's --json log line). */
void vs_vu_describe_json(struct json_object *o, const struct vs_vu_message *m);

/* "NAME flags=0x.. size=N fds=N key=value ...": the same fields as text,
 * nested objects in braces, arrays joined by ','.  Cut at len. */
void vs_vu_describe_text(char *buf, size_t len, const struct vs_vu_message *m);

#endif
