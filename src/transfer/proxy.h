/* Proxy mode: sit between a vhost-user front-end (QEMU) and its back-end,
 * relay every message both ways byte for byte with its fds, log the
 * conversation, tee device-state transfers into files, and take a
 * snapshot of a stopped device's back-end on command (doc/vhost-user.md §7).
 *
 * One thread, one poll loop.  The front-end connects to the listening
 * socket; the proxy connects to the back-end first (so a missing back-end
 * fails before QEMU sees a socket), serves exactly one front-end, and
 * ends when either side disconnects. */
#ifndef VS_PROXY_H
#define VS_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The largest payload relayed; a header announcing more is a protocol
 * error that closes both sides.  rust-vmm's limit is 4096 and QEMU's
 * 1072: 64 KiB leaves room for any peer without unbounded buffers. */
#define VS_PROXY_MAX_PAYLOAD (64u << 10)
/* The most fds one relayed message may carry (rust-vmm accepts 32). */
#define VS_PROXY_MAX_FDS 32
/* Payload bytes per frame on the control socket during a snapshot. */
#define VS_PROXY_CTL_CHUNK (64u << 10)
/* A frame length announcing an error line instead of data. */
#define VS_PROXY_CTL_ERROR 0xffffffffu

struct vs_proxy_opts {
	const char *listen_path;  /* the front-end connects here */
	const char *connect_path; /* the back-end's socket */
	const char *control_path; /* NULL: no control socket */
	const char *tee_dir;	  /* NULL: no tee copies */
	FILE *log;		  /* NULL: no log */
	bool json;		  /* JSON lines instead of text */
	bool force;		  /* replace stale sockets at the listening paths */
	uint64_t max_size;	  /* a tee copy larger than this is abandoned */
	int timeout_ms;		  /* bound on every wait under way; < 0: none */
};

/* What vs_proxy_run() would refuse after connecting, for the caller to
 * check first and leave the back-end untouched (vs_proxy_run() checks
 * again).  A path the proxy cannot listen on: a socket already there is
 * refused with EEXIST unless force.  A tee directory unfit for the
 * copies.  Messages begin with the path. */
int vs_proxy_check_listen(const char *path, bool force);
int vs_proxy_check_tee(const char *dir);

/* Run until the front-end or the back-end disconnects (returns 0) or a
 * proxy error (returns -1 with the error set; both sides were closed).
 * A tee copy that could not be written makes the result -1 too, after a
 * normal end, with VS_EXIT_FAIL. */
int vs_proxy_run(const struct vs_proxy_opts *o);

/* The client of the control socket (its protocol: proxy-ctl.c).  Each
 * connects to path and waits at most timeout_ms for each step (< 0: no
 * bound); no proxy there is
 * VS_EXIT_UNAVAILABLE with errno ENOENT or ECONNREFUSED, and a refusal of
 * the proxy's comes with the exit class it gave. */
struct json_object;
/* The status document (schema/snapshot-status.schema.json), or NULL. */
struct json_object *vs_proxy_status(const char *path, int timeout_ms);
/* Ask for a snapshot: the connected fd once the proxy said "ok", or -1. */
int vs_proxy_snapshot_start(const char *path, int timeout_ms);
/* Then the state: each frame's bytes go to take(arg, data, len), which
 * may refuse them (-1, error set); *check gets CHECK_DEVICE_STATE's
 * result.  The fd stays the caller's. */
int vs_proxy_snapshot_receive(int fd, const char *path, int timeout_ms,
			      int (*take)(void *arg, const void *data, size_t len), void *arg, uint64_t *check);

#endif
