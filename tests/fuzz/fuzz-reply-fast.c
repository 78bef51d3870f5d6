/* Fast libFuzzer target: reply validation.  Each input is everything a
 * back-end sends, as a byte stream, and the library's connection reads
 * it from memory: this target is linked with --wrap=sendmsg and
 * --wrap=recvmsg (fuzz.mk), and for the one fd it hands the library
 * sendmsg takes the request whole and recvmsg gives the input's next
 * bytes, then 0 (EOF), never an fd -- what a socketpair holding the
 * input, its sending side shut, gives, without the dozens of syscalls per
 * input that held the socket version to 37 k executions per CPU-second.
 * fuzz-reply keeps the real sockets (and fds) behind a peer thread.
 * The library does vs_vu_open_fd (the handshake: GET_FEATURES,
 * GET/SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, GET_MAX_MEM_SLOTS,
 * SET_OWNER), then SET_DEVICE_STATE_FD (SAVE) and CHECK_DEVICE_STATE.
 * Every failure must carry an exit class; a stream that ends early or
 * breaks a rule is the back-end's fault: 69 (closed) or 76 (protocol),
 * or 1 for a refusal the protocol allows. */
#include <config.h>

#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "error.h"
#include "fuzz-common.h"
#include "vu-frontend.h"
#include "vu-proto.h"

static int spare = -1; /* the fd SET_DEVICE_STATE_FD carries (a dup of it) */

/* The back-end's side, for the fd the library has (a dup of spare, so
 * that its fcntl and close are real): the input, and how much of it the
 * library has read. */
static int conn_fd = -1;
static const uint8_t *in;
static size_t in_size, in_off;

ssize_t __real_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t __real_recvmsg(int fd, struct msghdr *msg, int flags);
ssize_t __wrap_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t __wrap_recvmsg(int fd, struct msghdr *msg, int flags);

ssize_t
__wrap_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	size_t n = 0;

	if (fd != conn_fd)
		return __real_sendmsg(fd, msg, flags);
	for (size_t i = 0; i < msg->msg_iovlen; i++)
		n += msg->msg_iov[i].iov_len;
	return (ssize_t)n;
}

ssize_t
__wrap_recvmsg(int fd, struct msghdr *msg, int flags)
{
	size_t n = 0;

	if (fd != conn_fd)
		return __real_recvmsg(fd, msg, flags);
	for (size_t i = 0; i < msg->msg_iovlen && in_off < in_size; i++) {
		size_t k = msg->msg_iov[i].iov_len;

		if (k > in_size - in_off)
			k = in_size - in_off;
		memcpy(msg->msg_iov[i].iov_base, in + in_off, k);
		in_off += k;
		n += k;
	}
	msg->msg_controllen = 0; /* no fd in a byte stream */
	msg->msg_flags = 0;
	return (ssize_t)n;
}

static void
check_error(const char *what)
{
	int code = vs_error_get()->exit_code;

	vs_fuzz_fail_if(code == 0 || vs_error_get()->msg[0] == '\0', "a failure without an error set");
	vs_fuzz_fail_if(code != VS_EXIT_UNAVAILABLE && code != VS_EXIT_PROTOCOL && code != VS_EXIT_FAIL &&
				code != VS_EXIT_TIMEOUT,
			what);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int p[2];

	(void)argc;
	(void)argv;
	vs_fuzz_setup();
	vs_fuzz_fail_if(pipe2(p, O_CLOEXEC) < 0, "pipe");
	close(p[0]);
	spare = p[1];
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vs_vu vu;
	uint64_t result;
	int rfd = -1;

	if (size > 65536)
		return 0;
	in = data;
	in_size = size;
	in_off = 0;
	conn_fd = dup(spare);
	vs_fuzz_fail_if(conn_fd < 0, "dup");
	vs_error_clear();
	if (vs_vu_open_fd_with(&vu, conn_fd, "fuzz back-end", &vs_fuzz_vu_opts) < 0) {
		check_error("a handshake failure with another exit class than 1, 69, 75 or 76");
		conn_fd = -1;
		return 0;
	}
	vs_error_clear();
	if (vs_vu_set_device_state_fd(&vu, VHOST_USER_TRANSFER_STATE_DIRECTION_SAVE,
				      VHOST_USER_TRANSFER_STATE_PHASE_STOPPED, dup(spare), &rfd) < 0)
		check_error("SET_DEVICE_STATE_FD failed with another exit class than 1, 69, 75 or 76");
	else
		vs_fuzz_fail_if(rfd >= 0, "an fd out of a byte stream");
	vs_error_clear();
	if (vs_vu_check_device_state(&vu, &result) < 0)
		check_error("CHECK_DEVICE_STATE failed with another exit class than 1, 69, 75 or 76");
	vs_vu_close(&vu);
	conn_fd = -1;
	return 0;
}
