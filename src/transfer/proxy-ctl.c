/* The control protocol of the proxy, both ends, over a unix stream
 * socket that only the proxy's own uid and root may use:
 *
 *   -> "snapshot\n"
 *   <- "ok\n", frames { be32 n, n bytes }..., be32 0, "check N\n"
 *      or "error CODE MESSAGE\n" (before "ok", or after a be32 0xffffffff frame)
 *   -> "status\n"
 *   <- one JSON document (schema/snapshot-status.schema.json) and "\n"
 *
 * The server runs in the proxy's loop (proxy-int.h): it takes a snapshot
 * by holding the front-end's messages, sending its own
 * SET_DEVICE_STATE_FD(SAVE) and CHECK_DEVICE_STATE to the back-end, and
 * relaying the state to the client as frames.  The client is what
 * `vhost-state snapshot` calls (proxy.h). */
#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "error.h"
#include "identity.h"
#include "io.h"
#include "proxy-int.h"
#include "vu-frontend.h"
#include "vu-proto.h"

/* --- control clients --- */

static void
ctl_free(struct proxy *px, unsigned i)
{
	struct ctl *c = px->ctls[i];

	if (px->snap.client == c) {
		px->snap.client = NULL;
		/* the back-end's deadline stood still while the client held
		 * the snapshot (snap_client_slow): it starts over, or the
		 * client's slowness would be blamed on the back-end */
		px->snap.since = vs_px_now_ms();
	}
	close(c->fd);
	free(c->out);
	free(c);
	px->ctls[i] = NULL;
}

static int
ctl_queue(struct ctl *c, const void *data, size_t len)
{
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_len + len + 256;
		unsigned char *p = realloc(c->out, cap);
		if (!p)
			return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
		c->out = p;
		c->out_cap = cap;
	}
	if (c->out_off == c->out_len)
		c->since = vs_px_now_ms();
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

static void __attribute__((format(printf, 2, 3)))
ctl_printf(struct ctl *c, const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof line)
		n = sizeof line - 1;
	ctl_queue(c, line, n);
}

/* Lines on the control socket stay lines: no newline inside a message. */
static void
one_line(char *s)
{
	for (; *s; s++)
		if (*s == '\n' || *s == '\r')
			*s = ' ';
}

static void
ctl_error(struct ctl *c, bool framed, int code, const char *msg)
{
	char m[1024];

	snprintf(m, sizeof m, "%s", msg);
	one_line(m);
	if (framed) {
		uint32_t be = htonl(VS_PROXY_CTL_ERROR);
		ctl_queue(c, &be, 4);
	}
	ctl_printf(c, "error %d %s\n", code, m);
	c->closing = true;
}

/* --- the snapshot: our own SAVE between front-end messages --- */

static void
snap_fail(struct proxy *px, int code, const char *msg)
{
	vs_px_log_event(px, "snapshot", NULL, "failed: %s", msg);
	if (px->snap.client)
		ctl_error(px->snap.client, px->snap.state >= SNAP_PUMP, code, msg);
	if (px->snap.fd >= 0)
		close(px->snap.fd);
	px->snap.fd = -1;
	px->snap.client = NULL;
	px->snap.state = SNAP_IDLE;
}

/* Why a snapshot cannot run now, or NULL. */
static const char *
snap_refusal(struct proxy *px, int *code, char *buf, size_t len)
{
	char rings[256]; /* a long list is cut: the first rings say enough */

	*code = VS_EXIT_FAIL;
	if (px->ending) {
		*code = VS_EXIT_UNAVAILABLE;
		return "the proxy is shutting down";
	}
	if (px->snap.state != SNAP_IDLE)
		return "a snapshot is already running";
	if (!px->have_protocol_acked) {
		*code = VS_EXIT_UNAVAILABLE;
		return "the front-end has not negotiated protocol features yet";
	}
	if (!(px->protocol_acked & (1ull << VHOST_USER_PROTOCOL_F_DEVICE_STATE))) {
		*code = VS_EXIT_UNAVAILABLE;
		snprintf(buf, len, "DEVICE_STATE was not negotiated (protocol features acked: 0x%" PRIx64 ")",
			 px->protocol_acked);
		return buf;
	}
	vs_px_started_rings(px, rings, sizeof rings);
	if (rings[0]) {
		snprintf(buf, len,
			 "the device is running (ring%s %s started by the front-end): stop the VM first "
			 "(QMP stop), then retry",
			 strchr(rings, ',') ? "s" : "", rings);
		return buf;
	}
	if (px->fe_transfer || px->awaiting)
		return "the front-end is transferring the device state itself right now";
	return NULL;
}

static int
snap_send(struct proxy *px, uint32_t request, const void *payload, uint32_t size, int fd)
{
	struct msg *m = vs_px_msg_new(request, VHOST_USER_VERSION, payload, size);

	if (!m) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (fd >= 0)
		m->fds[m->nfds++] = fd;
	vs_px_log_msg(px, D_PX_BE, m);
	vs_px_peer_queue(&px->be, m);
	px->snap.since = vs_px_now_ms();
	return 0;
}

/* Nothing of the front-end's is outstanding and its messages are held:
 * send our own SAVE.  Returns -1 for a proxy error. */
int
vs_px_snap_begin(struct proxy *px)
{
	struct vs_vu_transfer_device_state t = { VHOST_USER_TRANSFER_STATE_DIRECTION_SAVE,
						 VHOST_USER_TRANSFER_STATE_PHASE_STOPPED };
	char why[600];
	const char *refusal;
	int code, p[2];

	px->snap.state = SNAP_IDLE;
	if (!px->snap.client) {
		vs_px_log_event(px, "snapshot", NULL, "the client left before the snapshot could start");
		return 0;
	}
	/* what arrived while we waited may have started a ring */
	refusal = snap_refusal(px, &code, why, sizeof why);
	px->snap.state = SNAP_WAITING;
	if (refusal) {
		snap_fail(px, code, refusal);
		return 0;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(why, sizeof why, "pipe: %s", strerror(errno));
		snap_fail(px, VS_EXIT_FAIL, why);
		return 0;
	}
	/* p[1] goes to the back-end as it is: blocking; p[0] is ours */
	vs_set_nonblock(p[0], true);
	px->snap.fd = p[0];
	px->snap.bytes = 0;
	px->snap.state = SNAP_SENT_42;
	vs_px_log_event(px, "snapshot", NULL, "saving the back-end's state (front-end messages held)");
	return snap_send(px, VHOST_USER_SET_DEVICE_STATE_FD, &t, sizeof t, p[1]);
}

/* A reply to our own request.  Returns -1 for a proxy error. */
int
vs_px_snap_reply(struct proxy *px, struct msg *m)
{
	struct vs_vu_header h = msg_hdr(m);
	uint64_t v;

	vs_px_log_msg(px, D_BE_PX, m);
	if (!msg_u64(m, &v)) {
		/* the stream is still in step (the reply was read whole):
		 * only the snapshot fails, the VM's session goes on */
		char why[160];
		snprintf(why, sizeof why, "the back-end answered the proxy's %s with %" PRIu32 " bytes, not 8",
			 vs_vu_request_name(h.request), h.size);
		snap_fail(px, VS_EXIT_PROTOCOL, why);
		return 0;
	}
	if (px->snap.state == SNAP_SENT_42) {
		if (v & VHOST_USER_DEVICE_STATE_ERROR_MASK) {
			char why[128];
			snprintf(why, sizeof why, "the back-end refused SET_DEVICE_STATE_FD (reply 0x%" PRIx64 ")", v);
			snap_fail(px, VS_EXIT_FAIL, why);
			return 0;
		}
		if (!(v & VHOST_USER_VRING_NOFD_MASK)) {
			if (m->nfds != 1) {
				char why[128];
				snprintf(why, sizeof why,
					 "the back-end's SET_DEVICE_STATE_FD reply announces an fd but carries %zu", m->nfds);
				snap_fail(px, VS_EXIT_PROTOCOL, why);
				return 0;
			}
			close(px->snap.fd);
			px->snap.fd = m->fds[0];
			m->nfds = 0;
		}
		px->snap.state = SNAP_PUMP;
		px->snap.since = vs_px_now_ms();
		if (px->snap.client)
			ctl_printf(px->snap.client, "ok\n");
		return 0;
	}
	/* CHECK_DEVICE_STATE */
	struct json_object *f = json_object_new_object();
	json_object_object_add(f, "bytes", json_object_new_int64((int64_t)px->snap.bytes));
	json_object_object_add(f, "check", json_object_new_int64((int64_t)v));
	vs_px_log_event(px, "snapshot", f, "%" PRIu64 " bytes, CHECK_DEVICE_STATE %" PRIu64 "%s; releasing front-end messages",
		  px->snap.bytes, v, px->snap.client ? "" : " (the client had left)");
	if (px->snap.client) {
		uint32_t zero = 0;
		ctl_queue(px->snap.client, &zero, 4);
		ctl_printf(px->snap.client, "check %" PRIu64 "\n", v);
		px->snap.client->closing = true;
	}
	px->snap.client = NULL;
	px->snap.state = SNAP_IDLE;
	px->snap.count++;
	return 0;
}

/* Pipe -> control client, one frame at a time; with the client gone the
 * rest is read and dropped, so the back-end can finish and CHECK. */
static int
snap_pump(struct proxy *px)
{
	unsigned char buf[4 + VS_PROXY_CTL_CHUNK];
	ssize_t n = read(px->snap.fd, buf + 4, VS_PROXY_CTL_CHUNK);

	if (n < 0) {
		char why[256];
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		snprintf(why, sizeof why, "reading the back-end's pipe: %s", strerror(errno));
		/* CHECK still has to be asked for: the back-end waits for it */
		n = 0;
		if (px->snap.client) {
			ctl_error(px->snap.client, true, VS_EXIT_FAIL, why);
			px->snap.client = NULL;
		}
	}
	px->snap.since = vs_px_now_ms();
	if (n == 0) {
		close(px->snap.fd);
		px->snap.fd = -1;
		px->snap.state = SNAP_SENT_43;
		return snap_send(px, VHOST_USER_CHECK_DEVICE_STATE, NULL, 0, -1);
	}
	px->snap.bytes += n;
	if (px->snap.client) {
		uint32_t be = htonl((uint32_t)n);
		memcpy(buf, &be, 4);
		return ctl_queue(px->snap.client, buf, 4 + n);
	}
	return 0;
}

/* --- status --- */

static struct json_object *
status_json(struct proxy *px)
{
	struct json_object *doc = json_object_new_object(), *be, *fe = json_object_new_object();
	struct json_object *rings = json_object_new_array(), *snap = json_object_new_object();
	struct json_object *counts = json_object_new_object();
	struct vs_vu vu;
	char why[600];
	const char *refusal;
	int code;

	/* the identity shape of info and manifests, from what went by */
	memset(&vu, 0, sizeof vu);
	vu.conn.fd = -1;
	vu.conn.peer_pid = px->be_pid;
	vu.features = px->features;
	vu.protocol_offered = px->protocol_offered;
	vu.protocol_features = px->protocol_acked;
	vu.queue_num = px->have_queue_num ? px->queue_num : 1;
	vu.max_mem_slots = px->have_mem_slots ? px->mem_slots : 8;
	be = vs_identity_json(&vu, px->o->connect_path, true);
	json_object_object_add(be, "connected", json_object_new_boolean(px->be.fd >= 0));
	json_object_object_add(doc, "backend", be);

	json_object_object_add(fe, "connected", json_object_new_boolean(px->fe.fd >= 0));
	if (px->fe_pid > 0)
		json_object_object_add(fe, "pid", json_object_new_int(px->fe_pid));
	json_object_object_add(fe, "features_acked",
			       px->have_features_acked ? vs_json_feature_mask(px->features_acked, vs_vu_feature_name)
						       : NULL);
	json_object_object_add(fe, "backend_channel", json_object_new_boolean(px->chan_be.fd >= 0));
	json_object_object_add(doc, "frontend", fe);

	for (unsigned i = 0; i < NRINGS; i++) {
		struct ring *r = &px->rings[i];
		struct json_object *o;
		if (!r->seen)
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "index", json_object_new_int(i));
		json_object_object_add(o, "started", json_object_new_boolean(r->started));
		json_object_object_add(o, "enabled", json_object_new_boolean(r->enabled));
		json_object_object_add(o, "size", json_object_new_int64(r->size));
		json_object_object_add(o, "base", json_object_new_int64(r->base));
		json_object_object_add(o, "kick_fd", json_object_new_boolean(r->kick));
		json_object_object_add(o, "call_fd", json_object_new_boolean(r->call));
		json_object_array_add(rings, o);
	}
	json_object_object_add(doc, "rings", rings);
	vs_px_started_rings(px, why, sizeof why);
	json_object_object_add(doc, "device_stopped", json_object_new_boolean(why[0] == '\0'));
	json_object_object_add(doc, "transfers", json_object_new_int64((int64_t)px->transfers));
	for (unsigned d = 0; d < sizeof vs_px_dir_names / sizeof *vs_px_dir_names; d++)
		json_object_object_add(counts, vs_px_dir_names[d], json_object_new_int64((int64_t)px->counts[d]));
	json_object_object_add(doc, "messages", counts);
	refusal = snap_refusal(px, &code, why, sizeof why);
	json_object_object_add(snap, "possible", json_object_new_boolean(!refusal));
	if (refusal)
		json_object_object_add(snap, "reason", json_object_new_string(refusal));
	json_object_object_add(snap, "taken", json_object_new_int(px->snap.count));
	json_object_object_add(doc, "snapshot", snap);
	return doc;
}

static void
ctl_command(struct proxy *px, struct ctl *c)
{
	char *nl = memchr(c->in, '\n', c->in_len), why[600];
	const char *refusal;
	int code;

	*nl = '\0';
	if (nl > c->in && nl[-1] == '\r')
		nl[-1] = '\0';
	c->got_command = true;
	if (c->refused) {
		/* answered only once its line is read: closing a unix socket
		 * with unread data would reset the connection, not deliver this */
		ctl_error(c, false, VS_EXIT_UNAVAILABLE,
			  "permission denied: the proxy serves only its own uid and root");
		return;
	}
	if (c->turned_away) {
		ctl_error(c, false, VS_EXIT_FAIL, "too many control clients at once");
		return;
	}
	if (strcmp(c->in, "status") == 0) {
		struct json_object *doc = status_json(px);
		const char *s = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		ctl_queue(c, s, strlen(s));
		ctl_queue(c, "\n", 1);
		json_object_put(doc);
		c->closing = true;
	} else if (strcmp(c->in, "snapshot") == 0) {
		refusal = snap_refusal(px, &code, why, sizeof why);
		if (refusal) {
			vs_px_log_event(px, "snapshot", NULL, "refused: %s", refusal);
			ctl_error(c, false, code, refusal);
			return;
		}
		px->snap.state = SNAP_WAITING;
		px->snap.client = c;
		px->snap.fd = -1;
		px->snap.since = vs_px_now_ms();
	} else {
		one_line(c->in);
		snprintf(why, sizeof why, "unknown command '%.64s' (status, snapshot)", c->in);
		ctl_error(c, false, VS_EXIT_USAGE, why);
	}
}

/* A client's bytes after its line (or after its answer is decided) are
 * read and dropped: closing a unix socket with unread data resets the
 * connection, and the client would see ECONNRESET, not its answer's end.
 * At its EOF (or past CTL_DROP_MAX) the client is freed. */
static void
ctl_drop_input(struct proxy *px, unsigned i)
{
	struct ctl *c = px->ctls[i];
	char junk[4096];
	ssize_t n;

	for (;;) {
		n = recv(c->fd, junk, sizeof junk, MSG_DONTWAIT);
		if (n > 0) {
			c->dropped += n;
			if (c->dropped <= CTL_DROP_MAX)
				continue;
			break;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		break;
	}
	if (n == 0 && c->closing && c->out_off < c->out_len) {
		/* it shut its side (printf status | socat): answer it first */
		c->eof = true;
		return;
	}
	ctl_free(px, i);
}

static void
ctl_read(struct proxy *px, unsigned i)
{
	struct ctl *c = px->ctls[i];
	ssize_t n;

	if (c->got_command || c->closing) {
		ctl_drop_input(px, i);
		return;
	}
	n = recv(c->fd, c->in + c->in_len, sizeof c->in - 1 - c->in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		ctl_free(px, i);
		return;
	}
	c->in_len += n;
	c->since = vs_px_now_ms();
	if (memchr(c->in, '\n', c->in_len))
		ctl_command(px, c);
	else if (c->in_len == sizeof c->in - 1)
		ctl_error(c, false, VS_EXIT_USAGE, "command line too long");
}

static void
ctl_write(struct proxy *px, unsigned i)
{
	struct ctl *c = px->ctls[i];

	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			ctl_free(px, i);
			return;
		}
		c->out_off += n;
		c->since = vs_px_now_ms();
	}
	if (!c->closing || c->draining)
		return;
	/* the answer is whole: our EOF goes out now, and the client is
	 * closed at its own (or at the deadline), with nothing unread */
	if (c->eof || shutdown(c->fd, SHUT_WR) < 0) {
		ctl_free(px, i);
		return;
	}
	c->draining = true;
	c->since = vs_px_now_ms();
	ctl_drop_input(px, i);
}

/* The control socket hands out the guest's device state and can hold the
 * front-end: only the proxy's own uid and root may use it.  The socket is
 * 0600 already (listen_on in proxy.c); the credentials check is what holds if its
 * mode or a parent directory is opened up later. */
static bool
ctl_allowed(struct proxy *px, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	uid_t me = geteuid();

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		vs_px_log_event(px, "control", NULL, "refused a client whose credentials cannot be read: %s", strerror(errno));
		return false;
	}
	if (cred.uid == me || cred.uid == 0)
		return true;
	vs_px_log_event(px, "control", NULL, "refused a client of uid %u (pid %d): only uid %u and root may use %s",
		  (unsigned)cred.uid, (int)cred.pid, (unsigned)me, px->o->control_path);
	return false;
}

void
vs_px_ctl_accept(struct proxy *px)
{
	int fd = accept4(px->ctl_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	unsigned i, served = 0;

	if (fd < 0) {
		/* out of fds or memory: the pending client would keep the
		 * socket readable and the loop spinning; stop listening */
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
			vs_px_log_event(px, "control", NULL, "the control socket is closed: %s", strerror(errno));
			vs_px_unlisten(&px->ctl_fd, &px->ctl_slot, px->o->control_path);
		}
		return;
	}
	for (i = 0; i < CTL_SLOTS; i++)
		if (px->ctls[i] && !px->ctls[i]->turned_away && !px->ctls[i]->draining)
			served++;
	for (i = 0; i < CTL_SLOTS && px->ctls[i]; i++)
		;
	if (i == CTL_SLOTS) { /* not polled for then (vs_px_ctl_room) */
		close(fd);
		return;
	}
	px->ctls[i] = calloc(1, sizeof *px->ctls[i]);
	if (!px->ctls[i]) {
		close(fd);
		return;
	}
	px->ctls[i]->fd = fd;
	px->ctls[i]->since = vs_px_now_ms();
	px->ctls[i]->refused = !ctl_allowed(px, fd);
	/* answered once its line is read, as a refused one (ctl_command) */
	px->ctls[i]->turned_away = served >= CTL_MAX;
}

/* With every slot taken the listening socket is left alone: further
 * clients wait in its backlog, and once that is full are refused at
 * connect (EAGAIN), which costs the proxy nothing. */
bool
vs_px_ctl_room(const struct proxy *px)
{
	for (unsigned i = 0; i < CTL_SLOTS; i++)
		if (!px->ctls[i])
			return true;
	return false;
}

/* --- for the loop --- */

/* The snapshot waits for its client to take the state, not for the
 * back-end: no deadline runs meanwhile. */
static bool
snap_client_slow(const struct proxy *px)
{
	return px->snap.state == SNAP_PUMP && px->snap.client && px->snap.client->out_off < px->snap.client->out_len;
}

static bool
ctl_busy(const struct ctl *c)
{
	return !c->got_command || c->out_off < c->out_len || c->draining;
}

void
vs_px_ctl_poll(struct proxy *px, struct pollset *ps)
{
	if (!px->ending && px->snap.state == SNAP_PUMP &&
	    (!px->snap.client || px->snap.client->out_off == px->snap.client->out_len))
		vs_px_poll_add(ps, px->snap.fd, POLLIN, S_SNAP, NULL, 0);
	for (unsigned i = 0; i < CTL_SLOTS; i++)
		if (px->ctls[i])
			vs_px_poll_add(ps, px->ctls[i]->fd,
				       (px->ctls[i]->eof ? 0 : POLLIN) |
					       (px->ctls[i]->out_off < px->ctls[i]->out_len ? POLLOUT : 0),
				       S_CTL, NULL, i);
}

long
vs_px_ctl_since(const struct proxy *px)
{
	long first = LONG_MAX;

	if (px->snap.state != SNAP_IDLE && !snap_client_slow(px))
		first = px->snap.since;
	for (unsigned i = 0; i < CTL_SLOTS; i++)
		if (px->ctls[i] && ctl_busy(px->ctls[i]) && px->ctls[i]->since < first)
			first = px->ctls[i]->since;
	return first;
}

int
vs_px_ctl_deadline(struct proxy *px, long now)
{
	if (px->snap.state == SNAP_WAITING && vs_px_expired(px, px->snap.since, now)) {
		snap_fail(px, VS_EXIT_TIMEOUT, "timed out waiting for the front-end's request to be answered");
	} else if (px->snap.state != SNAP_IDLE && px->snap.state != SNAP_WAITING &&
		   vs_px_expired(px, px->snap.since, now)) {
		if (!snap_client_slow(px))
			return vs_fail(VS_EXIT_TIMEOUT, 0, "timed out after %g s waiting for the back-end during a snapshot (%s)",
				       px->o->timeout_ms / 1000.0, px->snap.state == SNAP_PUMP ? "state data" : "a reply");
	}
	for (unsigned i = 0; i < CTL_SLOTS; i++) {
		struct ctl *c = px->ctls[i];
		if (c && ctl_busy(c) && vs_px_expired(px, c->since, now))
			ctl_free(px, i); /* a stuck control client never stalls the VM */
	}
	return 0;
}

void
vs_px_ctl_event(struct proxy *px, unsigned i, int fd, short ev)
{
	if (!px->ctls[i] || px->ctls[i]->fd != fd)
		return;
	if (ev & POLLOUT)
		ctl_write(px, i);
	if (px->ctls[i] && (ev & (POLLIN | POLLHUP | POLLERR)))
		ctl_read(px, i);
}

void
vs_px_ctl_flush(struct proxy *px)
{
	for (unsigned i = 0; i < CTL_SLOTS; i++)
		if (px->ctls[i] && px->ctls[i]->out_off < px->ctls[i]->out_len)
			ctl_write(px, i);
}

int
vs_px_snap_event(struct proxy *px, int fd)
{
	if (px->snap.state == SNAP_PUMP && px->snap.fd == fd)
		return snap_pump(px);
	return 0;
}

void
vs_px_ctl_end(struct proxy *px)
{
	if (px->snap.state != SNAP_IDLE)
		snap_fail(px, VS_EXIT_UNAVAILABLE, "the session ended during the snapshot");
	for (unsigned i = 0; i < CTL_SLOTS; i++)
		if (px->ctls[i]) {
			/* best effort: the final words of a refused or cut client */
			ctl_write(px, i);
			if (px->ctls[i])
				ctl_free(px, i);
		}
}

/* --- the client of the control socket --- */

/* A status document larger than this is not one of ours. */
#define STATUS_MAX (1u << 20)

/* Connect (with the deadline) and send one command line. */
static int
ctl_connect(const char *path, const char *command, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[64];
	int fd, n;

	if (strlen(path) >= sizeof sa.sun_path)
		return vs_fail(VS_EXIT_USAGE, 0, "%s: socket path is %zu bytes, longer than the %zu a unix socket address holds",
			       path, strlen(path), sizeof sa.sun_path - 1);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		if (e == EAGAIN) {
			close(fd);
			return vs_fail(VS_EXIT_TIMEOUT, 0, "%s: the proxy accepts no more control connections", path);
		}
		close(fd);
		return vs_fail(VS_EXIT_UNAVAILABLE, e, "cannot connect to %s", path);
	}
	n = snprintf(line, sizeof line, "%s\n", command);
	if (vs_write_all(fd, line, n, path, timeout_ms) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
read_exact(int fd, void *buf, size_t len, const char *path, const char *what, int timeout_ms)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = vs_read_wait(fd, p, len, timeout_ms, path, what);
		if (n < 0)
			return -1;
		if (n == 0)
			return vs_fail(VS_EXIT_UNAVAILABLE, 0, "%s: the proxy closed the connection while we waited for %s",
				       path, what);
		p += n;
		len -= n;
	}
	return 0;
}

/* One line (without its newline), bounded. */
static int
read_line(int fd, char *buf, size_t len, const char *path, const char *what, int timeout_ms)
{
	size_t n = 0;

	for (;;) {
		if (read_exact(fd, buf + n, 1, path, what, timeout_ms) < 0)
			return -1;
		if (buf[n] == '\n')
			break;
		if (++n == len - 1)
			return vs_fail(VS_EXIT_PROTOCOL, 0, "%s: the proxy sent a line longer than %zu bytes", path, len);
	}
	buf[n] = '\0';
	return 0;
}

/* "error CODE MESSAGE" -> the error, with the proxy's exit class. */
static int
proxy_error(const char *line)
{
	char *end;
	long code = strtol(line + 6, &end, 10);

	if (code <= 0 || code > 127 || *end != ' ')
		code = VS_EXIT_FAIL;
	else
		line = end + 1;
	return vs_fail((int)code, 0, "%s", strncmp(line, "error ", 6) == 0 ? line + 6 : line);
}

struct json_object *
vs_proxy_status(const char *path, int timeout_ms)
{
	char *buf = NULL;
	size_t len = 0;
	struct json_object *doc = NULL;
	struct json_tokener *tok;
	int fd = ctl_connect(path, "status", timeout_ms);

	if (fd < 0)
		return NULL;
	buf = malloc(STATUS_MAX);
	if (!buf) {
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		goto out;
	}
	for (;;) {
		ssize_t n = vs_read_wait(fd, buf + len, STATUS_MAX - len, timeout_ms, path, "the proxy's status");
		if (n < 0)
			goto out;
		if (n == 0)
			break;
		len += n;
		if (len == STATUS_MAX) {
			vs_error_set(VS_EXIT_PROTOCOL, 0, "%s: the status is larger than %u bytes", path, STATUS_MAX);
			goto out;
		}
	}
	if (len > 6 && strncmp(buf, "error ", 6) == 0) {
		buf[len - 1] = '\0';
		proxy_error(buf);
		goto out;
	}
	tok = json_tokener_new();
	doc = json_tokener_parse_ex(tok, buf, (int)len);
	if (!doc || json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(doc);
		doc = NULL;
		vs_error_set(VS_EXIT_PROTOCOL, 0, "%s: the proxy's status is not JSON", path);
	}
	json_tokener_free(tok);
out:
	free(buf);
	close(fd);
	return doc;
}

int
vs_proxy_snapshot_start(const char *path, int timeout_ms)
{
	char line[1200];
	int fd = ctl_connect(path, "snapshot", timeout_ms);

	if (fd < 0)
		return -1;
	if (read_line(fd, line, sizeof line, path, "the proxy's answer", timeout_ms) < 0)
		goto fail;
	if (strcmp(line, "ok") != 0) {
		proxy_error(line);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

int
vs_proxy_snapshot_receive(int fd, const char *path, int timeout_ms,
			  int (*take)(void *arg, const void *data, size_t len), void *arg, uint64_t *check)
{
	unsigned char *buf = malloc(VS_PROXY_CTL_CHUNK);
	char line[1200];
	int rc = -1;

	if (!buf)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	for (;;) {
		uint32_t be, n;
		if (read_exact(fd, &be, 4, path, "the state from the proxy", timeout_ms) < 0)
			goto out;
		n = ntohl(be);
		if (n == 0)
			break;
		if (n == VS_PROXY_CTL_ERROR) {
			if (read_line(fd, line, sizeof line, path, "the proxy's error", timeout_ms) == 0)
				proxy_error(line);
			goto out;
		}
		if (n > VS_PROXY_CTL_CHUNK) {
			vs_error_set(VS_EXIT_PROTOCOL, 0, "%s: the proxy sent a frame of %" PRIu32 " bytes", path, n);
			goto out;
		}
		if (read_exact(fd, buf, n, path, "the state from the proxy", timeout_ms) < 0 || take(arg, buf, n) < 0)
			goto out;
	}
	if (read_line(fd, line, sizeof line, path, "CHECK_DEVICE_STATE's result", timeout_ms) < 0)
		goto out;
	if (strncmp(line, "check ", 6) != 0) {
		vs_error_set(VS_EXIT_PROTOCOL, 0, "%s: expected CHECK_DEVICE_STATE's result, got '%.64s'", path, line);
		goto out;
	}
	*check = strtoull(line + 6, NULL, 10);
	rc = 0;
out:
	free(buf);
	return rc;
}
