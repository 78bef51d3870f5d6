/* A tiny virtio-fs driver on top of libvhoststate, to give virtiofsd real
 * state in tests: it starts the device, puts FUSE requests on the request
 * queue, waits for the used ring, and prints one line per request.
 *
 *   fuse-client [-t SECONDS] [-v] [--mem-table] [--load FILE] [--save FILE]
 *               [--dirty-log] [--queue N] SOCKET REQUEST...
 *
 * REQUEST is one of
 *   init                     FUSE_INIT (7.31, no flags)
 *   lookup NAME              FUSE_LOOKUP of NAME in the root (node 1)
 *   open NODEID              FUSE_OPEN, read-only
 *   getattr NODEID [FH]      FUSE_GETATTR (through handle FH when given)
 *   read NODEID FH [SIZE]    FUSE_READ from offset 0 (SIZE default 4096)
 *   restart                  stop the device (ring bases printed) and start it
 *
 * One connection: --load FILE loads a state before the start; then the
 * device starts, the requests run in order, --dirty-log turns logging on
 * (as QEMU does when migration begins), the device stops (the ring bases
 * are printed), and --save FILE saves the state.  Exit status: 0 when every
 * request succeeded, 1 when a FUSE request failed (all are still sent),
 * otherwise the library's exit class (64 usage, 69, 75, 76, ...). */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/fuse.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chunk.h"
#include "error.h"
#include "input.h"
#include "io.h"
#include "log.h"
#include "output.h"
#include "vhost-dev.h"

/* Sizes of our two buffers in guest memory: the request (header and
 * arguments) and the reply (header and data). */
#define IN_BUF_SIZE 4096u
#define READ_MAX (64u * 1024)
#define OUT_BUF_SIZE (sizeof(struct fuse_out_header) + READ_MAX)

struct client {
	struct vs_vhost_dev dev;
	unsigned queue;
	unsigned char *in;
	uint64_t in_gpa;
	unsigned char *out;
	uint64_t out_gpa;
	uint64_t unique;
};

static const char *
errno_name(int e)
{
	switch (e) {
	case EBADF: return "EBADF";
	case ENOENT: return "ENOENT";
	case EINVAL: return "EINVAL";
	case EIO: return "EIO";
	case ENOSYS: return "ENOSYS";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case ENOMEM: return "ENOMEM";
	case EPROTO: return "EPROTO";
	default: return "errno";
	}
}

/* One request: in-header + args (device-readable), then out-header +
 * reply (device-writable).  Returns the reply length (without header),
 * -errno from the file system, or INT32_MIN with the library error set. */
static int64_t
fuse_call(struct client *c, uint32_t opcode, uint64_t nodeid, const void *args, uint32_t args_len,
	  uint32_t reply_cap)
{
	struct fuse_in_header ih = {
		.len = sizeof ih + args_len,
		.opcode = opcode,
		.unique = ++c->unique,
		.nodeid = nodeid,
		.uid = getuid(),
		.gid = getgid(),
		.pid = getpid(),
	};
	struct fuse_out_header oh;
	struct vs_vring_buf bufs[2] = {
		{ c->in_gpa, ih.len, false },
		{ c->out_gpa, sizeof oh + reply_cap, true },
	};
	uint32_t head, len;
	int h;

	if (ih.len > IN_BUF_SIZE || reply_cap > READ_MAX) {
		vs_error_set(VS_EXIT_USAGE, 0, "request too large");
		return INT32_MIN;
	}
	memcpy(c->in, &ih, sizeof ih);
	memcpy(c->in + sizeof ih, args, args_len);
	memset(c->out, 0, sizeof oh + reply_cap);
	h = vs_vhost_vq_add(&c->dev, c->queue, bufs, 2);
	if (h < 0 || vs_vhost_vq_kick(&c->dev, c->queue) < 0 ||
	    vs_vhost_vq_wait_used(&c->dev, c->queue, &head, &len) < 0)
		return INT32_MIN;
	/* One request at a time: the chain that comes back is ours. */
	if (head != (uint32_t)h || len < sizeof oh) {
		vs_error_set(VS_EXIT_PROTOCOL, 0, "used ring: head %" PRIu32 " with %" PRIu32 " bytes, expected head %d",
			     head, len, h);
		return INT32_MIN;
	}
	memcpy(&oh, c->out, sizeof oh);
	if (oh.unique != ih.unique || oh.len < sizeof oh || oh.len > len) {
		vs_error_set(VS_EXIT_PROTOCOL, 0,
			     "FUSE reply: unique %" PRIu64 " (sent %" PRIu64 "), length %" PRIu32 " of %" PRIu32 " written",
			     oh.unique, ih.unique, oh.len, len);
		return INT32_MIN;
	}
	if (oh.error > 0 || oh.error < -4095) {
		vs_error_set(VS_EXIT_PROTOCOL, 0, "FUSE reply: error %" PRId32 " is not a negated errno", oh.error);
		return INT32_MIN;
	}
	if (oh.error)
		return oh.error;
	return oh.len - sizeof oh;
}

static void
print_bytes(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n')
			fputs("\\n", stdout);
		else if (p[i] == '\\')
			fputs("\\\\", stdout);
		else if (isprint(p[i]))
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
}

static int
parse_u64(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long t;

	errno = 0;
	t = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-')
		return -1;
	*v = t;
	return 0;
}

/* Runs one request from argv[*i]; 0 ok, 1 FUSE error, -1 fatal. */
static int
request(struct client *c, char **argv, int argc, int *i)
{
	const char *op = argv[*i];
	char label[256];
	int64_t r;
	uint64_t nodeid = 0, fh = 0, size = 4096;

#define NEED(n)                                                                                 \
	do {                                                                                    \
		if (*i + (n) >= argc) {                                                         \
			vs_error_set(VS_EXIT_USAGE, 0, "%s: %d argument%s needed", op, (n),     \
				     (n) == 1 ? "" : "s");                                      \
			return -1;                                                              \
		}                                                                               \
	} while (0)

	if (strcmp(op, "init") == 0) {
		struct fuse_init_out out;
		/* the 16-byte compat struct: no INIT_EXT flag, so no flags2 */
		uint32_t in[4] = { FUSE_KERNEL_VERSION, 31, 128 * 1024, 0 };
		snprintf(label, sizeof label, "init");
		r = fuse_call(c, FUSE_INIT, 0, in, sizeof in, sizeof out);
		if (r >= FUSE_COMPAT_22_INIT_OUT_SIZE) {
			memcpy(&out, c->out + sizeof(struct fuse_out_header), sizeof out);
			printf("%s: ok: %" PRIu32 ".%" PRIu32 " max_write %" PRIu32 "\n", label, out.major, out.minor,
			       out.max_write);
			return 0;
		}
	} else if (strcmp(op, "lookup") == 0) {
		struct fuse_entry_out out;
		NEED(1);
		const char *name = argv[++*i];
		snprintf(label, sizeof label, "lookup %s", name);
		r = fuse_call(c, FUSE_LOOKUP, FUSE_ROOT_ID, name, strlen(name) + 1, sizeof out);
		if (r >= (int64_t)sizeof out) {
			memcpy(&out, c->out + sizeof(struct fuse_out_header), sizeof out);
			printf("%s: ok: nodeid %" PRIu64 " size %" PRIu64 " mode 0%o\n", label, out.nodeid, out.attr.size,
			       out.attr.mode);
			return 0;
		}
	} else if (strcmp(op, "open") == 0) {
		struct fuse_open_in in = { .flags = O_RDONLY };
		struct fuse_open_out out;
		NEED(1);
		if (parse_u64(argv[++*i], &nodeid) < 0)
			goto bad_number;
		snprintf(label, sizeof label, "open %" PRIu64, nodeid);
		r = fuse_call(c, FUSE_OPEN, nodeid, &in, sizeof in, sizeof out);
		if (r >= (int64_t)sizeof out) {
			memcpy(&out, c->out + sizeof(struct fuse_out_header), sizeof out);
			printf("%s: ok: fh %" PRIu64 "\n", label, out.fh);
			return 0;
		}
	} else if (strcmp(op, "getattr") == 0) {
		struct fuse_getattr_in in = { 0 };
		struct fuse_attr_out out;
		NEED(1);
		if (parse_u64(argv[++*i], &nodeid) < 0)
			goto bad_number;
		snprintf(label, sizeof label, "getattr %" PRIu64, nodeid);
		/* an optional handle: the next word if it is a number */
		if (*i + 1 < argc && parse_u64(argv[*i + 1], &fh) == 0) {
			++*i;
			in.getattr_flags = FUSE_GETATTR_FH;
			in.fh = fh;
			snprintf(label, sizeof label, "getattr %" PRIu64 " %" PRIu64, nodeid, fh);
		}
		r = fuse_call(c, FUSE_GETATTR, nodeid, &in, sizeof in, sizeof out);
		if (r >= (int64_t)sizeof out) {
			memcpy(&out, c->out + sizeof(struct fuse_out_header), sizeof out);
			printf("%s: ok: size %" PRIu64 " mode 0%o\n", label, out.attr.size, out.attr.mode);
			return 0;
		}
	} else if (strcmp(op, "read") == 0) {
		struct fuse_read_in in = { 0 };
		NEED(2);
		if (parse_u64(argv[++*i], &nodeid) < 0 || parse_u64(argv[++*i], &fh) < 0)
			goto bad_number;
		if (*i + 1 < argc && parse_u64(argv[*i + 1], &size) == 0)
			++*i;
		if (size == 0 || size > READ_MAX) {
			vs_error_set(VS_EXIT_USAGE, 0, "read: SIZE must be 1 to %u", READ_MAX);
			return -1;
		}
		snprintf(label, sizeof label, "read %" PRIu64 " %" PRIu64, nodeid, fh);
		in.fh = fh;
		in.size = size;
		r = fuse_call(c, FUSE_READ, nodeid, &in, sizeof in, size);
		if (r >= 0) {
			printf("%s: ok: %" PRId64 " bytes: ", label, r);
			print_bytes(c->out + sizeof(struct fuse_out_header), r);
			printf("\n");
			return 0;
		}
	} else {
		vs_error_set(VS_EXIT_USAGE, 0, "unknown request '%s' (init lookup open getattr read)", op);
		return -1;
	}
	if (r == INT32_MIN) {
		vs_error_prefix("%s", label);
		return -1;
	}
	if (r >= 0) {
		vs_error_set(VS_EXIT_PROTOCOL, 0, "%s: reply of %" PRId64 " bytes is too short", label, r);
		return -1;
	}
	printf("%s: error: %s (%s)\n", label, errno_name(-r), strerror(-r));
	return 1;
bad_number:
	vs_error_set(VS_EXIT_USAGE, 0, "%s: not a number: '%s'", op, argv[*i]);
	return -1;
#undef NEED
}

static ssize_t
produce(void *r, void *buf, size_t len)
{
	return vs_chunk_read(r, buf, len);
}

static int
consume(void *w, const void *buf, size_t len)
{
	return vs_chunk_writer_write(w, buf, len);
}

static int
load(struct client *c, const char *file)
{
	struct vs_chunk_limits lim = { .max_total = 1ull << 30 };
	struct vs_state_input in;
	struct vs_chunk_reader r;
	uint64_t bytes;
	int rc;

	memset(&in, 0, sizeof in);
	in.timeout_ms = c->dev.opts.timeout_ms;
	if (vs_state_input_open(&in, file, &lim) < 0)
		return -1;
	rc = vs_state_input_rewind(&in, &r);
	if (rc == 0)
		rc = vs_vhost_load_backend_state(&c->dev, produce, &r, &bytes);
	vs_state_input_close(&in);
	if (rc == 0)
		printf("loaded: %" PRIu64 " bytes\n", bytes);
	return rc;
}

static int
save(struct client *c, struct vs_output *out)
{
	struct vs_sink sink;
	struct vs_chunk_writer w = { 0 };
	uint64_t bytes;
	int rc;

	vs_sink_fd_init(&sink, out->fd, out->name);
	rc = vs_chunk_writer_init(&w, &sink);
	if (rc == 0)
		rc = vs_vhost_save_backend_state(&c->dev, 1ull << 30, consume, &w, &bytes);
	if (rc == 0)
		rc = vs_chunk_writer_end(&w);
	if (rc == 0)
		rc = vs_output_commit(out);
	vs_chunk_writer_free(&w);
	if (rc == 0)
		printf("saved: %" PRIu64 " bytes\n", bytes);
	return rc;
}

static void
print_bases(const struct client *c, const char *what)
{
	printf("%s: ring bases", what);
	for (unsigned i = 0; i < c->dev.nvqs; i++)
		printf(" %u:%u", i, c->dev.vqs[i].last_avail_idx);
	printf("\n");
}

static void
usage(void)
{
	fprintf(stderr, "usage: fuse-client [-t SECONDS] [-v] [--mem-table] [--load FILE] [--save FILE] "
			"[--dirty-log] [--queue N] SOCKET REQUEST...\n");
	exit(VS_EXIT_USAGE);
}

/* the library's lines, as "fuse-client: text" */
static void
log_line(enum vs_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)ctx;
	fprintf(stderr, "%s: %s\n", program_invocation_short_name, msg);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "mem-table", no_argument, NULL, 'M' },
		{ "load", required_argument, NULL, 'L' },
		{ "save", required_argument, NULL, 'S' },
		{ "dirty-log", no_argument, NULL, 'D' },
		{ "queue", required_argument, NULL, 'q' },
		{ 0 }
	};
	struct vs_vhost_dev_opts dopts = { 0 };
	struct client *c;
	struct vs_output out;
	const char *load_file = NULL, *save_file = NULL;
	bool dirty_log = false, out_open = false, failed_fuse = false;
	int opt, rc = 0;
	unsigned long queue = 1;

	signal(SIGPIPE, SIG_IGN);
	vs_log_set_handler(log_line, NULL);
	while ((opt = getopt_long(argc, argv, "+t:v", opts, NULL)) != -1) {
		switch (opt) {
		case 't': dopts.timeout_ms = atof(optarg) > 0 ? (int)(atof(optarg) * 1000) : 30000; break;
		case 'v': dopts.verbose = true; break;
		case 'M': dopts.mem_table = true; break;
		case 'L': load_file = optarg; break;
		case 'S': save_file = optarg; break;
		case 'D': dirty_log = true; break;
		case 'q': queue = strtoul(optarg, NULL, 10); break;
		default: usage();
		}
	}
	if (optind >= argc || queue >= VS_VHOST_MAX_QUEUES)
		usage();
	c = calloc(1, sizeof *c);
	if (!c)
		return VS_EXIT_FAIL;
	c->queue = queue;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (save_file) {
		if (vs_output_open(&out, save_file, VS_OUTPUT_FORCE, dopts.timeout_ms) < 0)
			goto fail_nodev;
		out_open = true;
	}
	if (vs_vhost_dev_init(&c->dev, argv[optind], &dopts) < 0)
		goto fail_nodev;
	c->in = vs_vhost_mem_alloc(&c->dev, IN_BUF_SIZE, 64, &c->in_gpa);
	c->out = vs_vhost_mem_alloc(&c->dev, OUT_BUF_SIZE, 64, &c->out_gpa);
	if (!c->in || !c->out) {
		vs_error_set(VS_EXIT_USAGE, 0, "guest memory too small for the request buffers");
		goto fail;
	}
	if (load_file && load(c, load_file) < 0)
		goto fail;
	if (vs_vhost_dev_start(&c->dev) < 0)
		goto fail;
	for (int i = optind + 1; i < argc; i++) {
		int r;
		if (strcmp(argv[i], "restart") == 0) {
			/* stop and start again: the rings resume from their bases */
			if (vs_vhost_dev_stop(&c->dev) < 0)
				goto fail;
			print_bases(c, "restart");
			if (vs_vhost_dev_start(&c->dev) < 0)
				goto fail;
			continue;
		}
		r = request(c, argv, argc, &i);
		if (r < 0)
			goto fail;
		if (r > 0)
			failed_fuse = true;
	}
	if (dirty_log && vs_vhost_migration_log(&c->dev, true) < 0)
		goto fail;
	if (vs_vhost_dev_stop(&c->dev) < 0)
		goto fail;
	print_bases(c, "stopped");
	if (save_file) {
		out_open = false;
		if (save(c, &out) < 0) {
			vs_output_abort(&out);
			goto fail;
		}
	}
	vs_vhost_dev_cleanup(&c->dev);
	free(c);
	return failed_fuse ? 1 : 0;
fail:
	vs_vhost_dev_cleanup(&c->dev);
fail_nodev:
	if (out_open)
		vs_output_abort(&out);
	rc = vs_error_get()->exit_code ? vs_error_get()->exit_code : VS_EXIT_FAIL;
	fprintf(stderr, "fuse-client: %s\n", vs_error_get()->msg);
	free(c);
	return rc;
}
