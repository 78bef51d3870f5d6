/* The proxy's relayed sockets (proxy-int.h): messages read header first,
 * then exactly the payload, so the fds a recvmsg() brings belong to the
 * message being read (senders attach them to its first byte,
 * doc/vhost-user.md §1), and each message forwarded whole with its fds in
 * one sendmsg.  MSG_DONTWAIT throughout: no file status flag is changed
 * on a descriptor a peer gave us (O_NONBLOCK lives in the open file
 * description and would travel back with it). */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "proxy-int.h"
#include "vu-proto.h"

long
vs_px_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

void
vs_px_msg_free(struct msg *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	free(m);
}

struct msg *
vs_px_msg_new(uint32_t request, uint32_t flags, const void *payload, uint32_t size)
{
	struct vs_vu_header h = { request, flags, size };
	struct msg *m = calloc(1, sizeof *m + VS_VU_HDR_SIZE + size);

	if (!m) {
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		return NULL;
	}
	memcpy(m->data, &h, sizeof h);
	if (size)
		memcpy(m->data + VS_VU_HDR_SIZE, payload, size);
	m->len = VS_VU_HDR_SIZE + size;
	return m;
}

void
vs_px_peer_init(struct peer *p, const char *name)
{
	memset(p, 0, sizeof *p);
	p->fd = -1;
	p->name = name;
	p->in_since = -1;
}

void
vs_px_peer_close(struct peer *p)
{
	struct msg *m, *next;

	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	vs_px_msg_free(p->in);
	p->in = NULL;
	for (size_t i = 0; i < p->in_nfds; i++)
		close(p->in_fds[i]);
	p->in_nfds = 0;
	p->hdr_got = 0;
	p->in_since = -1;
	for (m = p->out_head; m; m = next) {
		next = m->next;
		vs_px_msg_free(m);
	}
	p->out_head = p->out_tail = NULL;
}

/* Read what is there of the current message.  RECV_MSG hands a whole
 * message over in *out.  RECV_ERROR: the error is set (a proxy error). */
enum recv_result
vs_px_peer_recv(struct peer *p, struct msg **out)
{
	for (;;) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * VS_PROXY_MAX_FDS)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov;
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				     .msg_controllen = sizeof ctl.buf };
		ssize_t n;

		if (p->hdr_got < VS_VU_HDR_SIZE) {
			iov.iov_base = p->hdr + p->hdr_got;
			iov.iov_len = VS_VU_HDR_SIZE - p->hdr_got;
		} else {
			iov.iov_base = p->in->data + p->in->len;
			iov.iov_len = VS_VU_HDR_SIZE + msg_hdr(p->in).size - p->in->len;
		}
		n = recvmsg(p->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return RECV_AGAIN;
			if (errno == ECONNRESET)
				return RECV_EOF;
			vs_error_set(VS_EXIT_FAIL, errno, "receiving from %s", p->name);
			return RECV_ERROR;
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int fds[VS_PROXY_MAX_FDS];
			memcpy(fds, CMSG_DATA(cm), k * sizeof(int) < sizeof fds ? k * sizeof(int) : sizeof fds);
			for (size_t i = 0; i < k && i < VS_PROXY_MAX_FDS; i++) {
				if (p->in_nfds < VS_PROXY_MAX_FDS)
					p->in_fds[p->in_nfds++] = fds[i];
				else
					close(fds[i]);
			}
		}
		if (mh.msg_flags & MSG_CTRUNC) {
			vs_error_set(VS_EXIT_PROTOCOL, 0, "%s attached more than %d fds to one message", p->name,
				     VS_PROXY_MAX_FDS);
			return RECV_ERROR;
		}
		if (n == 0)
			return RECV_EOF;
		p->in_since = vs_px_now_ms();
		if (p->hdr_got < VS_VU_HDR_SIZE) {
			p->hdr_got += n;
			if (p->hdr_got < VS_VU_HDR_SIZE)
				continue;
			struct vs_vu_header h;
			memcpy(&h, p->hdr, sizeof h);
			if (h.size > VS_PROXY_MAX_PAYLOAD) {
				vs_error_set(VS_EXIT_PROTOCOL, 0,
					     "%s sent %s with a %" PRIu32 "-byte payload, more than the %u the proxy relays",
					     p->name, vs_vu_request_name(h.request), h.size, VS_PROXY_MAX_PAYLOAD);
				return RECV_ERROR;
			}
			p->in = calloc(1, sizeof *p->in + VS_VU_HDR_SIZE + h.size);
			if (!p->in) {
				vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
				return RECV_ERROR;
			}
			memcpy(p->in->data, p->hdr, VS_VU_HDR_SIZE);
			p->in->len = VS_VU_HDR_SIZE;
		} else {
			p->in->len += n;
		}
		if (p->in->len == VS_VU_HDR_SIZE + msg_hdr(p->in).size) {
			struct msg *m = p->in;
			memcpy(m->fds, p->in_fds, p->in_nfds * sizeof(int));
			m->nfds = p->in_nfds;
			p->in_nfds = 0;
			p->in = NULL;
			p->hdr_got = 0;
			p->in_since = -1;
			*out = m;
			return RECV_MSG;
		}
	}
}

/* Send what the socket takes.  Returns -1 when the peer is gone (its
 * queue is then dropped), -2 on an error of ours (set), else 0. */
int
vs_px_peer_flush(struct peer *p)
{
	while (p->fd >= 0 && p->out_head) {
		struct msg *m = p->out_head;
		union {
			char buf[CMSG_SPACE(sizeof(int) * VS_PROXY_MAX_FDS)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { m->data + m->off, m->len - m->off };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		/* fds go with the first byte (doc/vhost-user.md §1) */
		if (m->off == 0 && m->nfds) {
			memset(&ctl, 0, sizeof ctl);
			mh.msg_control = ctl.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * m->nfds);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * m->nfds);
			memcpy(CMSG_DATA(cm), m->fds, sizeof(int) * m->nfds);
		}
		n = sendmsg(p->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			if (errno == EPIPE || errno == ECONNRESET)
				return -1;
			/* ENOBUFS, ETOOMANYREFS...: ours, not the peer leaving */
			vs_error_set(VS_EXIT_FAIL, errno, "sending %s to %s", vs_vu_request_name(msg_hdr(m).request),
				     p->name);
			return -2;
		}
		m->off += n;
		p->out_since = vs_px_now_ms();
		if (m->off == m->len) {
			p->out_head = m->next;
			if (!p->out_head)
				p->out_tail = NULL;
			p->out_bytes -= m->len;
			/* our copies of the fds: the receiver has its own now */
			vs_px_msg_free(m);
		}
	}
	return 0;
}

void
vs_px_peer_queue(struct peer *p, struct msg *m)
{
	m->next = NULL;
	p->out_bytes += m->len;
	if (!p->out_head)
		p->out_since = vs_px_now_ms();
	if (p->out_tail)
		p->out_tail->next = m;
	else
		p->out_head = m;
	p->out_tail = m;
}
