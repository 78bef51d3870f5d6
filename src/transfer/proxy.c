/* The relay engine of `vhost-state proxy` (see proxy.h): the listening
 * sockets, relaying each message to the other side, and the one poll
 * loop everything happens in.  proxy-int.h lists the other parts. */
#include <config.h>

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "error.h"
#include "identity.h"
#include "output.h" /* vs_cleanup_register(): the front end's signal cleanup removes the sockets */
#include "proxy-int.h"
#include "vu-conn.h"
#include "vu-frontend.h"
#include "vu-proto.h"

/* --- sockets --- */

/* What listen_on() would refuse, checked before the back-end is
 * connected (connecting consumes a one-shot back-end): the same exit
 * codes as an output file's (64: there and not replaceable; 1: the
 * directory cannot take it). */
int
vs_proxy_check_listen(const char *path, bool force)
{
	struct sockaddr_un sa;
	struct stat st;
	char *copy, *dir;
	int rc = 0;

	if (strlen(path) >= sizeof sa.sun_path)
		return vs_fail(VS_EXIT_USAGE, 0, "%s: socket path is %zu bytes, longer than the %zu a unix socket address holds",
			       path, strlen(path), sizeof sa.sun_path - 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return vs_fail(VS_EXIT_USAGE, 0, "%s: exists and is not a socket", path);
		if (!force)
			return vs_fail(VS_EXIT_USAGE, EEXIST, "%s", path);
	}
	copy = strdup(path);
	if (!copy)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	dir = dirname(copy);
	if (stat(dir, &st) < 0)
		rc = vs_fail(VS_EXIT_FAIL, errno, "%s: directory %s", path, dir);
	else if (!S_ISDIR(st.st_mode))
		rc = vs_fail(VS_EXIT_FAIL, ENOTDIR, "%s: %s", path, dir);
	else if (access(dir, W_OK | X_OK) < 0)
		rc = vs_fail(VS_EXIT_FAIL, errno, "%s: directory %s", path, dir);
	free(copy);
	return rc;
}

/* mode: the socket file's permissions, or 0 for the umask's.  connect()
 * needs write permission on the socket file, and the file is created by
 * bind() with the process umask applied: binding under a umask that
 * leaves only the wanted bits means the socket never exists, not even for
 * an instant, with a wider mode (a chmod after bind would leave a window,
 * and fchmod on the socket fd does not reach the file).  The proxy has one
 * thread, so the umask change is seen by no one else. */
static int
listen_on(const char *path, bool force, mode_t mode, int *slot)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t mask = 0;
	int fd, r;

	*slot = -1;
	/* again: the path may have changed since vs_proxy_check_listen() */
	if (vs_proxy_check_listen(path, force) < 0)
		return -1;
	strcpy(sa.sun_path, path);
	if (lstat(path, &st) == 0 && unlink(path) < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return vs_fail(VS_EXIT_FAIL, errno, "socket");
	if (mode)
		mask = umask(~mode & 0777);
	r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
	if (mode)
		umask(mask);
	if (r < 0 || listen(fd, 4) < 0) {
		int e = errno;
		close(fd);
		if (r == 0)
			unlink(path);
		return vs_fail(VS_EXIT_FAIL, e, "cannot listen on %s", path);
	}
	/* a signal must not leave the socket behind */
	*slot = vs_cleanup_register(path);
	return fd;
}

void
vs_px_unlisten(int *fd, int *slot, const char *path)
{
	if (*fd < 0)
		return;
	close(*fd);
	*fd = -1;
	unlink(path);
	vs_cleanup_unregister(*slot);
	*slot = -1;
}

static pid_t
peer_pid_of(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof cred;

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? cred.pid : 0;
}

static int
fe_accept(struct proxy *px)
{
	int fd = accept4(px->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	char name[256];

	if (fd < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
			return 0;
		return vs_fail(VS_EXIT_FAIL, errno, "accepting the front-end on %s", px->o->listen_path);
	}
	px->fe.fd = fd;
	px->fe_seen = true;
	px->fe_pid = peer_pid_of(fd);
	/* one front-end per proxy, as a back-end serves one */
	vs_px_unlisten(&px->listen_fd, &px->listen_slot, px->o->listen_path);
	vs_peer_name(px->fe_pid, name, sizeof name);
	vs_px_log_event(px, "connect", NULL, "front-end connected (pid %d%s%s)", (int)px->fe_pid, name[0] ? ", " : "", name);
	px->fe.out_since = vs_px_now_ms();
	return 0;
}

/* --- relaying --- */

/* The front-end handed over its back-end channel: give the back-end a
 * socket of ours instead and relay between the two. */
static void
channel_interpose(struct proxy *px, struct msg *m)
{
	int type = 0, sv[2];
	socklen_t len = sizeof type;

	if (m->nfds != 1 || getsockopt(m->fds[0], SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM) {
		vs_px_log_event(px, "channel", NULL, "SET_BACKEND_REQ_FD without one stream socket: relayed as is, not traced");
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		vs_px_log_event(px, "channel", NULL, "socketpair: %s: the back-end channel is relayed as is, not traced",
			  strerror(errno));
		return;
	}
	vs_px_peer_close(&px->chan_fe);
	vs_px_peer_close(&px->chan_be);
	px->chan_fe.fd = m->fds[0];
	px->chan_be.fd = sv[0];
	m->fds[0] = sv[1];
	vs_px_log_event(px, "channel", NULL, "back-end channel interposed");
}

static void
end_session(struct proxy *px, const char *why)
{
	if (px->ending)
		return;
	px->ending = true;
	px->end_since = vs_px_now_ms();
	vs_px_log_event(px, "disconnect", NULL, "%s; closing the other side", why);
}

/* A whole message from the front-end.  Returns -1 for a proxy error. */
static int
from_fe(struct proxy *px, struct msg *m)
{
	struct vs_vu_header h = msg_hdr(m);

	vs_px_track_request(px, m);
	if (h.request == VHOST_USER_SET_BACKEND_REQ_FD)
		channel_interpose(px, m);
	else if (h.request == VHOST_USER_SET_DEVICE_STATE_FD && px->o->tee_dir)
		vs_px_tee_start(px, m);
	vs_px_log_msg(px, D_FE_BE, m);
	vs_px_peer_queue(&px->be, m);
	return 0;
}

static int
from_be(struct proxy *px, struct msg *m)
{
	struct vs_vu_header h = msg_hdr(m);
	bool reply = h.flags & VHOST_USER_REPLY_MASK;

	if (reply && ((px->snap.state == SNAP_SENT_42 && h.request == VHOST_USER_SET_DEVICE_STATE_FD) ||
		      (px->snap.state == SNAP_SENT_43 && h.request == VHOST_USER_CHECK_DEVICE_STATE))) {
		int r = vs_px_snap_reply(px, m);
		vs_px_msg_free(m);
		return r;
	}
	if (reply) {
		vs_px_track_reply(px, m);
		if (h.request == VHOST_USER_SET_DEVICE_STATE_FD && px->awaiting)
			vs_px_tee_reply(px, m);
		else if (h.request == VHOST_USER_CHECK_DEVICE_STATE)
			vs_px_tee_check(px, m);
	}
	vs_px_log_msg(px, D_BE_FE, m);
	vs_px_peer_queue(&px->fe, m);
	return 0;
}

/* Read and relay what one socket has.  Returns -1 for a proxy error. */
static struct peer *
relay_dest(struct proxy *px, struct peer *p)
{
	return p == &px->fe ? &px->be : p == &px->be ? &px->fe : p == &px->chan_fe ? &px->chan_be : &px->chan_fe;
}

static int
relay_in(struct proxy *px, struct peer *p)
{
	for (;;) {
		struct msg *m = NULL;
		int r = 0;

		/* held front-end messages stay in the socket */
		if (p == &px->fe && px->snap.state != SNAP_IDLE)
			return 0;
		/* backpressure: leave the rest in the socket until the other
		 * side has taken what waits for it */
		if (relay_dest(px, p)->out_bytes >= QUEUE_MAX)
			return 0;
		switch (vs_px_peer_recv(p, &m)) {
		case RECV_AGAIN:
			return 0;
		case RECV_ERROR:
			return -1;
		case RECV_EOF:
			if (p == &px->fe || p == &px->be) {
				end_session(px, p->in || p->hdr_got ? (p == &px->fe ? "the front-end left mid-message"
										      : "the back-end left mid-message")
								    : (p == &px->fe ? "the front-end disconnected"
										      : "the back-end disconnected"));
				vs_px_peer_close(p);
			} else {
				/* one side of the back-end channel closed: close both */
				vs_px_log_event(px, "channel", NULL, "%s closed the back-end channel",
					  p == &px->chan_fe ? "the front-end" : "the back-end");
				vs_px_peer_flush(p == &px->chan_fe ? &px->chan_be : &px->chan_fe);
				vs_px_peer_close(&px->chan_fe);
				vs_px_peer_close(&px->chan_be);
			}
			return 0;
		case RECV_MSG:
			break;
		}
		if (p == &px->fe)
			r = from_fe(px, m);
		else if (p == &px->be)
			r = from_be(px, m);
		else {
			vs_px_log_msg(px, p == &px->chan_be ? D_CHAN_BE_FE : D_CHAN_FE_BE, m);
			vs_px_peer_queue(p == &px->chan_be ? &px->chan_fe : &px->chan_be, m);
		}
		if (r < 0)
			return -1;
	}
}

/* --- the loop --- */

void
vs_px_poll_add(struct pollset *ps, int fd, short events, enum slot_kind kind, void *ptr, unsigned index)
{
	if (fd < 0 || ps->n >= MAX_SLOTS)
		return;
	ps->pfd[ps->n] = (struct pollfd){ .fd = fd, .events = events };
	ps->sl[ps->n] = (struct slot){ kind, ptr, index };
	ps->n++;
}

/* While a snapshot holds the front-end its messages stay in the socket:
 * a half-received one is not the front-end's delay. */
static bool
held(const struct proxy *px, const struct peer *p)
{
	return p == &px->fe && px->snap.state != SNAP_IDLE;
}

/* Poll events for peer p, whose messages go to dest: its input only
 * while dest's queue has room (backpressure), its output when queued. */
static short
want(const struct peer *p, const struct peer *dest)
{
	short ev = p->out_head ? POLLOUT : 0;

	if (dest->out_bytes < QUEUE_MAX)
		ev |= POLLIN;
	/* a hang-up is reported whatever we ask for, and handled in relay_in */
	return ev;
}

/* The nearest deadline, as a poll timeout: -1 when nothing is under way
 * (idle VMs are normal). */
static int
poll_timeout(struct proxy *px, long now)
{
	long first = LONG_MAX;
	struct peer *peers[] = { &px->fe, &px->be, &px->chan_fe, &px->chan_be };

	if (px->o->timeout_ms < 0)
		return -1;
#define CONSIDER(t) do { if ((t) < first) first = (t); } while (0)
	for (unsigned i = 0; i < 4; i++) {
		if (peers[i]->fd < 0)
			continue;
		if (peers[i]->in_since >= 0 && !held(px, peers[i]))
			CONSIDER(peers[i]->in_since);
		if (peers[i]->out_head && !px->ending)
			CONSIDER(peers[i]->out_since);
	}
	CONSIDER(vs_px_tee_since(px));
	CONSIDER(vs_px_ctl_since(px));
	if (px->ending)
		CONSIDER(px->end_since);
#undef CONSIDER
	if (first == LONG_MAX)
		return -1;
	first += px->o->timeout_ms;
	return first <= now ? 0 : (int)(first - now > INT_MAX ? INT_MAX : first - now);
}

bool
vs_px_expired(const struct proxy *px, long since, long now)
{
	return px->o->timeout_ms >= 0 && now - since >= px->o->timeout_ms;
}

/* Returns -1 (error set) when something the relay depends on stalled. */
static int
check_deadlines(struct proxy *px, long now)
{
	struct peer *peers[] = { &px->fe, &px->be, &px->chan_fe, &px->chan_be };
	double s = px->o->timeout_ms / 1000.0;

	for (unsigned i = 0; i < 4; i++) {
		if (peers[i]->fd < 0)
			continue;
		if (peers[i]->in_since >= 0 && !held(px, peers[i]) && vs_px_expired(px, peers[i]->in_since, now))
			return vs_fail(VS_EXIT_TIMEOUT, 0, "timed out after %g s waiting for %s to send the rest of a message",
				       s, peers[i]->name);
		if (peers[i]->out_head && vs_px_expired(px, peers[i]->out_since, now)) {
			if (px->ending)
				continue; /* the drain deadline below covers it */
			return vs_fail(VS_EXIT_TIMEOUT, 0, "timed out after %g s waiting for %s to take %s", s,
				       peers[i]->name, vs_vu_request_name(msg_hdr(peers[i]->out_head).request));
		}
	}
	if (vs_px_tee_deadline(px, now) < 0 || vs_px_ctl_deadline(px, now) < 0)
		return -1;
	return 0;
}

static void
cleanup(struct proxy *px)
{
	vs_px_unlisten(&px->listen_fd, &px->listen_slot, px->o->listen_path);
	vs_px_unlisten(&px->ctl_fd, &px->ctl_slot, px->o->control_path);
	vs_px_peer_close(&px->fe);
	vs_px_peer_close(&px->be);
	vs_px_peer_close(&px->chan_fe);
	vs_px_peer_close(&px->chan_be);
	vs_px_rings_close(px);
	vs_px_tee_end(px);
	vs_px_ctl_end(px);
}

/* everything that can be refused is, before the back-end is connected:
 * connecting consumes a one-shot back-end */
static int
proxy_check(const struct vs_proxy_opts *o)
{
	if ((o->tee_dir && vs_proxy_check_tee(o->tee_dir) < 0) || vs_proxy_check_listen(o->listen_path, o->force) < 0 ||
	    (o->control_path && vs_proxy_check_listen(o->control_path, o->force) < 0))
		return -1;
	return 0;
}

/* One poll's events, slot by slot.  Returns -1 for a proxy error. */
static int
dispatch(struct proxy *px, const struct pollset *ps)
{
	int r = 0;

	for (unsigned i = 0; i < ps->n; i++) {
		short ev = ps->pfd[i].revents;
		const struct slot *sl = &ps->sl[i];
		if (!ev)
			continue;
		switch (sl->kind) {
		case S_LISTEN:
			if (px->listen_fd >= 0 && px->fe.fd < 0 && fe_accept(px) < 0)
				return -1;
			break;
		case S_CTL_LISTEN:
			vs_px_ctl_accept(px);
			break;
		case S_PEER: {
			struct peer *p = sl->ptr;
			if (p->fd < 0 || p->fd != ps->pfd[i].fd)
				break; /* closed by an earlier slot */
			if ((ev & POLLOUT) && (r = vs_px_peer_flush(p)) == -2)
				return -1;
			if ((ev & POLLOUT) && r < 0) {
				if (p == &px->fe || p == &px->be) {
					end_session(px, p == &px->fe ? "the front-end disconnected"
								     : "the back-end disconnected");
				}
				vs_px_peer_close(p);
				break;
			}
			if ((ev & (POLLIN | POLLHUP | POLLERR)) && !px->ending && relay_in(px, p) < 0)
				return -1;
			break;
		}
		case S_CTL:
			vs_px_ctl_event(px, sl->index, ps->pfd[i].fd, ev);
			break;
		case S_XFER_SRC:
		case S_XFER_DST:
			if (vs_px_tee_event(px, sl->ptr, sl->kind == S_XFER_SRC ? ev : 0, sl->kind == S_XFER_DST ? ev : 0) < 0)
				return -1;
			break;
		case S_SNAP:
			if (vs_px_snap_event(px, ps->pfd[i].fd) < 0)
				return -1;
			break;
		}
	}
	return 0;
}

/* Send what is queued before deciding anything.  Returns -1 for a proxy
 * error. */
static int
flush_peers(struct proxy *px)
{
	int r;

	if ((r = vs_px_peer_flush(&px->fe)) == -2)
		return -1;
	if (r < 0) {
		end_session(px, "the front-end disconnected");
		vs_px_peer_close(&px->fe);
	}
	if ((r = vs_px_peer_flush(&px->be)) == -2)
		return -1;
	if (r < 0) {
		end_session(px, "the back-end disconnected");
		vs_px_peer_close(&px->be);
	}
	if ((r = vs_px_peer_flush(&px->chan_fe)) == -2 || (r == 0 && (r = vs_px_peer_flush(&px->chan_be)) == -2))
		return -1;
	if (r < 0) {
		vs_px_log_event(px, "channel", NULL, "the back-end channel broke");
		vs_px_peer_close(&px->chan_fe);
		vs_px_peer_close(&px->chan_be);
	}
	return 0;
}

static void
poll_set(struct proxy *px, struct pollset *ps)
{
	ps->n = 0;
	if (!px->ending) {
		vs_px_poll_add(ps, px->listen_fd, POLLIN, S_LISTEN, NULL, 0);
		if (vs_px_ctl_room(px))
			vs_px_poll_add(ps, px->ctl_fd, POLLIN, S_CTL_LISTEN, NULL, 0);
		/* held: the front-end is left out of the poll set entirely,
		 * so even its hang-up waits */
		if (px->snap.state == SNAP_IDLE)
			vs_px_poll_add(ps, px->fe.fd, want(&px->fe, &px->be), S_PEER, &px->fe, 0);
		else if (px->fe.out_head)
			vs_px_poll_add(ps, px->fe.fd, POLLOUT, S_PEER, &px->fe, 0);
		vs_px_poll_add(ps, px->be.fd, want(&px->be, &px->fe), S_PEER, &px->be, 0);
		vs_px_poll_add(ps, px->chan_fe.fd, want(&px->chan_fe, &px->chan_be), S_PEER, &px->chan_fe, 0);
		vs_px_poll_add(ps, px->chan_be.fd, want(&px->chan_be, &px->chan_fe), S_PEER, &px->chan_be, 0);
		vs_px_tee_poll(px, ps);
	} else {
		/* draining: only what is queued for the side still there */
		if (px->fe.out_head)
			vs_px_poll_add(ps, px->fe.fd, POLLOUT, S_PEER, &px->fe, 0);
		if (px->be.out_head)
			vs_px_poll_add(ps, px->be.fd, POLLOUT, S_PEER, &px->be, 0);
	}
	vs_px_ctl_poll(px, ps);
}

int
vs_proxy_run(const struct vs_proxy_opts *o)
{
	struct proxy px;
	struct vs_vu_conn conn;
	char name[256];
	int rc = 0;

	memset(&px, 0, sizeof px);
	px.o = o;
	px.listen_fd = px.ctl_fd = px.listen_slot = px.ctl_slot = px.snap.fd = -1;
	vs_px_rings_init(&px);
	vs_px_peer_init(&px.fe, "the front-end");
	vs_px_peer_init(&px.be, "the back-end");
	vs_px_peer_init(&px.chan_fe, "the front-end (back-end channel)");
	vs_px_peer_init(&px.chan_be, "the back-end (back-end channel)");

	if (proxy_check(o) < 0)
		return -1;
	/* the back-end first: without one, QEMU never sees a socket */
	if (vs_conn_connect(&conn, o->connect_path, o->timeout_ms) < 0)
		return -1;
	px.be.fd = conn.fd;
	px.be_pid = conn.peer_pid;
	px.listen_fd = listen_on(o->listen_path, o->force, 0, &px.listen_slot);
	if (px.listen_fd < 0)
		goto fail;
	if (o->control_path) {
		px.ctl_fd = listen_on(o->control_path, o->force, 0600, &px.ctl_slot);
		if (px.ctl_fd < 0)
			goto fail;
	}
	vs_peer_name(px.be_pid, name, sizeof name);
	vs_px_log_event(&px, "start", NULL, "back-end %s connected (pid %d%s%s); listening on %s%s%s", o->connect_path,
			(int)px.be_pid, name[0] ? ", " : "", name, o->listen_path, o->control_path ? ", control on " : "",
			o->control_path ? o->control_path : "");

	for (;;) {
		struct pollset ps;
		long now;
		int r;

		if (flush_peers(&px) < 0)
			goto fail;
		if (px.ending && !px.fe.out_head && !px.be.out_head)
			break;
		if (px.snap.state == SNAP_WAITING && px.npending == 0 && !px.awaiting && vs_px_snap_begin(&px) < 0)
			goto fail;
		poll_set(&px, &ps);

		now = vs_px_now_ms();
		do
			r = poll(ps.pfd, ps.n, poll_timeout(&px, now));
		while (r < 0 && errno == EINTR);
		if (r < 0) {
			vs_error_set(VS_EXIT_FAIL, errno, "poll");
			goto fail;
		}
		now = vs_px_now_ms();
		if (px.ending && vs_px_expired(&px, px.end_since, now)) {
			vs_px_log_event(&px, "disconnect", NULL, "gave up delivering the last messages after %g s",
					o->timeout_ms / 1000.0);
			break;
		}
		if (check_deadlines(&px, now) < 0 || dispatch(&px, &ps) < 0)
			goto fail;
		/* a finished tee may leave room for writes right away */
		vs_px_ctl_flush(&px);
	}
	cleanup(&px);
	if (px.tee_failures) {
		vs_error_set(VS_EXIT_FAIL, 0, "%u tee cop%s could not be written (see the log)", px.tee_failures,
			     px.tee_failures == 1 ? "y" : "ies");
		rc = -1;
	}
	if (px.log_failed && rc == 0) {
		vs_error_set(VS_EXIT_FAIL, 0, "the log could not be written completely");
		rc = -1;
	}
	return rc;
fail:
	{
		/* keep the error: cleanup logs and may set others */
		struct vs_error e = *vs_error_get();
		vs_px_log_event(&px, "error", NULL, "%s; closing both sides", e.msg);
		cleanup(&px);
		vs_error_set(e.exit_code, 0, "%s", e.msg);
	}
	return -1;
}
