/* The vhost-user socket: non-blocking connect, messages with SCM_RIGHTS,
 * and a deadline on every wait. */
#ifndef VS_VU_CONN_H
#define VS_VU_CONN_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The most fds one message may bring us; more is a protocol error. */
#define VS_VU_MAX_FDS 8

struct vs_vu_conn {
	int fd;
	const char *path;
	pid_t peer_pid; /* from SO_PEERCRED, 0 if unknown */
	int timeout_ms;	/* the deadline of each wait (io.h); < 0: none */
};

/* Connect, retrying briefly while the socket is absent or refusing (a
 * back-end that is still starting).  timeout_ms (0: the default of io.h)
 * bounds the connect and every later wait on c.  Errors:
 * VS_EXIT_UNAVAILABLE, or VS_EXIT_USAGE for a path that cannot be a unix
 * socket address. */
int vs_conn_connect(struct vs_vu_conn *c, const char *path, int timeout_ms);
void vs_conn_close(struct vs_vu_conn *c);

/* Send iov with fds attached to the first byte.  what: the request name. */
int vs_conn_send(struct vs_vu_conn *c, const struct iovec *iov, int iovcnt, const int *fds,
		 size_t nfds, const char *what);
/* Receive exactly len bytes.  fds that arrive are stored in fds[] (which
 * must hold VS_VU_MAX_FDS) and counted in *nfds; the caller owns them. */
int vs_conn_recv(struct vs_vu_conn *c, void *buf, size_t len, int *fds, size_t *nfds,
		 const char *what);

#endif
