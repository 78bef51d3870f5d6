/* Fast libFuzzer target: reply validation.  Each input is everything a
 * back-end sends, as a byte stream; it is queued in one end of a
 * socketpair whose sending side is then shut, so every read of the
 * library finds its bytes at once or EOF (no peer thread, no deadline),
 * and the other end goes to vs_vu_open_fd (the handshake: GET_FEATURES,
 * GET/SET_PROTOCOL_FEATURES, GET_QUEUE_NUM, GET_MAX_MEM_SLOTS,
 * SET_OWNER), then SET_DEVICE_STATE_FD (SAVE) and CHECK_DEVICE_STATE.
 * Every failure must carry an exit class; a stream that ends early or
 * breaks a rule is the back-end's fault: 69 (closed) or 76 (protocol),
 * or 1 for a refusal the protocol allows. */
#include <config.h>

#include <fcntl.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "error.h"
#include "fuzz-common.h"
#include "vu-frontend.h"
#include "vu-proto.h"

static int spare = -1; /* the fd SET_DEVICE_STATE_FD carries (a dup of it) */

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
	int sv[2], rfd = -1;

	if (size > 65536)
		return 0;
	vs_fuzz_fail_if(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0, "socketpair");
	vs_fuzz_fail_if(size && send(sv[1], data, size, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)size,
			"queueing the back-end's bytes");
	shutdown(sv[1], SHUT_WR);
	vs_error_clear();
	if (vs_vu_open_fd_with(&vu, sv[0], "fuzz back-end", &vs_fuzz_vu_opts) < 0) {
		check_error("a handshake failure with another exit class than 1, 69, 75 or 76");
		close(sv[1]);
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
	close(sv[1]);
	return 0;
}
