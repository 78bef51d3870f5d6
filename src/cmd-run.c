/* vhost-state run SOCKET STEP...: several steps on one connection, through
 * the vhost_dev model: start, stop, save FILE, load FILE, verify FILE,
 * info, reset, log-start, log-stop. */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "chunk.h"
#include "cmd.h"
#include "decode.h"
#include "error.h"
#include "identity.h"
#include "input.h"
#include "output.h"
#include "result.h"
#include "run-steps.h"
#include "vhost-dev.h"

struct run_args {
	const char *socket;
	char **words;
	int nwords;
	struct vs_vhost_dev_opts dev;
	uint32_t config_size;
};

enum {
	OPT_MEMORY = 0x200,
	OPT_REGIONS,
	OPT_QUEUES,
	OPT_QUEUE_SIZE,
	OPT_MEM_TABLE,
	OPT_CONFIG_SIZE,
};

static const struct argp_option options[] = {
	{ NULL, 0, NULL, 0, "Device:", 1 },
	{ "memory", OPT_MEMORY, "SIZE", 0, "Guest memory shared with the back-end (suffixes K, M, G; default 4M)", 1 },
	{ "regions", OPT_REGIONS, "N", 0, "Split guest memory into N memfd regions (default 1)", 1 },
	{ "queues", OPT_QUEUES, "LIST", 0, "Rings that start, e.g. 0,1 (default: all the back-end has)", 1 },
	{ "queue-size", OPT_QUEUE_SIZE, "N", 0, "Ring size, a power of 2 up to 32768 (default 128)", 1 },
	{ "mem-table", OPT_MEM_TABLE, NULL, 0,
	  "Send memory with one SET_MEM_TABLE: do not negotiate CONFIGURE_MEM_SLOTS (ADD_MEM_REG)", 1 },
	{ "config-size", OPT_CONFIG_SIZE, "BYTES", 0,
	  "Bytes of config space the info step reads when CONFIG is negotiated (default 40, 0: none)", 1 },
	{ 0 }
};

static int
parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || end == s || *end || *s == '-' || *out > max ? -1 : 0;
}

static error_t
parse(void *ctx, int key, char *arg, struct argp_state *state)
{
	struct run_args *a = ctx;
	unsigned long v;

	switch (key) {
	case OPT_MEMORY:
		if (vs_parse_size(arg, &a->dev.mem_size) < 0 || a->dev.mem_size == 0)
			vs_usage_error(state, "--memory takes a positive size such as 4M: '%s'", arg);
		break;
	case OPT_REGIONS:
		if (parse_uint(arg, VS_VHOST_MAX_REGIONS, &v) < 0 || v == 0)
			vs_usage_error(state, "--regions takes 1 to %d: '%s'", VS_VHOST_MAX_REGIONS, arg);
		a->dev.nregions = v;
		break;
	case OPT_QUEUES: {
		char *copy = strdup(arg), *save = NULL;
		if (!copy)
			argp_failure(state, VS_EXIT_FAIL, ENOMEM, "--queues");
		a->dev.queue_mask = 0;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (parse_uint(t, VS_VHOST_MAX_QUEUES - 1, &v) < 0) {
				free(copy);
				vs_usage_error(state, "--queues takes ring indexes 0 to %d separated by commas: '%s'",
					   VS_VHOST_MAX_QUEUES - 1, arg);
			}
			a->dev.queue_mask |= 1ull << v;
		}
		free(copy);
		if (!a->dev.queue_mask)
			vs_usage_error(state, "--queues needs at least one ring index: '%s'", arg);
		break;
	}
	case OPT_QUEUE_SIZE:
		if (parse_uint(arg, VS_VRING_MAX_SIZE, &v) < 0 || !vs_vring_size_valid(v))
			vs_usage_error(state, "--queue-size takes a power of 2 from 1 to %u: '%s'", VS_VRING_MAX_SIZE, arg);
		a->dev.queue_size = v;
		break;
	case OPT_MEM_TABLE:
		a->dev.mem_table = true;
		break;
	case OPT_CONFIG_SIZE:
		if (parse_uint(arg, VHOST_USER_MAX_CONFIG_SIZE, &v) < 0)
			vs_usage_error(state, "--config-size takes 0 to %u: '%s'", VHOST_USER_MAX_CONFIG_SIZE, arg);
		a->config_size = v;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp run_argp = VS_VERB_ARGP(
	options, "SOCKET STEP...",
	"Run STEPs in order on one connection, as QEMU's vhost_dev would:\n"
	"  start        features, guest memory (memfd), rings set up, kicked, enabled\n"
	"  stop         QEMU's order: rings disabled, GET_VRING_BASE on each\n"
	"  save FILE    save the state to FILE (- for stdout) as a raw stream\n"
	"  load FILE    load the state in FILE (- for stdin)\n"
	"  verify FILE  load FILE, save again, compare (exit 2 when different)\n"
	"  info         print what was negotiated and the state of each ring\n"
	"  reset        RESET_DEVICE: wipes the back-end's state (never RESET_OWNER)\n"
	"  log-start    dirty logging on (SET_LOG_BASE, LOG_ALL), as migration does\n"
	"  log-stop     dirty logging off\n"
	"save, load, verify and reset need a stopped device: stop first.  The sequence is "
	"checked before connecting; a failing step ends it with that step's exit status."
	VS_DIRECT_MODE_NOTE,
	VS_JSON_CHILD);

/* --json: what the current step did (NULL without --json) */
static struct json_object *jresult;

static void
jset(const char *key, struct json_object *v)
{
	if (jresult)
		json_object_object_add(jresult, key, v);
	else
		json_object_put(v);
}

/* ---- save, load, verify ---- */

static ssize_t
produce(void *r, void *buf, size_t len)
{
	return vs_chunk_read(r, buf, len);
}

/* Per step: the output (save) or checked input (load, verify). */
struct step_io {
	struct vs_save save;
	struct vs_state_input in;
	bool in_open;
};

static int
open_input(struct step_io *io, const char *file)
{
	struct vs_chunk_limits lim = { .max_total = vs_opt.max_size };

	memset(&io->in, 0, sizeof io->in);
	if (strcmp(file, "-") == 0 && isatty(STDIN_FILENO) && !vs_opt.force)
		return vs_fail(VS_EXIT_USAGE, 0, "refusing to read binary state from a terminal (use a file or a pipe)");
	if (vs_cmd_input_open(&io->in, file, &lim) < 0)
		return -1;
	io->in_open = true;
	return 0;
}

static int
step_save(struct vs_vhost_dev *dev, struct step_io *io, const char *file)
{
	uint64_t bytes, chunks;

	if (vs_vhost_save_backend_state(dev, vs_opt.max_size, vs_save_consume, &io->save, &bytes) < 0 ||
	    vs_save_finish(&io->save, NULL) < 0 || vs_save_commit(&io->save) < 0)
		return -1;
	chunks = io->save.cap->w.chunks;
	jset("payload_bytes", json_object_new_int64((int64_t)bytes));
	jset("chunks", json_object_new_int64((int64_t)chunks));
	if (!vs_opt.quiet)
		fprintf(stderr, "%s: run: saved %" PRIu64 " bytes of state (%" PRIu64 " chunk%s) to %s\n",
			program_invocation_short_name, bytes, chunks, chunks == 1 ? "" : "s", io->save.out.name);
	(void)file;
	return 0;
}

static int
step_load(struct vs_vhost_dev *dev, struct step_io *io, const char *file)
{
	struct vs_chunk_reader r;
	uint64_t bytes;

	if (!io->in_open && open_input(io, file) < 0)
		return -1;
	if (vs_state_input_rewind(&io->in, &r) < 0 || vs_vhost_load_backend_state(dev, produce, &r, &bytes) < 0)
		return -1;
	jset("payload_bytes", json_object_new_int64((int64_t)bytes));
	if (!vs_opt.quiet)
		fprintf(stderr, "%s: run: loaded %" PRIu64 " bytes of state from %s (CHECK_DEVICE_STATE returned 0)\n",
			program_invocation_short_name, bytes, file);
	return 0;
}

/* verify: compared as it arrives, and kept for decoding (as the verb) */
struct arrival {
	struct vs_payload_compare cmp;
	struct vs_decode_keep keep;
};

static int
consume_verify(void *c, const void *data, size_t len)
{
	struct arrival *a = c;

	return vs_payload_compare_consume(&a->cmp, data, len) < 0 || vs_decode_keep_add(&a->keep, data, len) < 0 ? -1 : 0;
}

/* The differences decoded, as verify and diff show them; NULL when the
 * payloads do not both decode. */
static struct json_object *
decoded_differences(struct vs_state_input *in, const struct vs_decode_keep *keep)
{
	unsigned char *p = NULL;
	size_t len;
	struct json_object *list = NULL;

	if (vs_decode_keep_whole(keep) && vs_state_input_load(in, VS_DECODE_MAX, &p, &len) == VS_INPUT_LOADED)
		list = vs_decode_diff(in->kind, p, len, vs_payload_sniff(keep->buf, keep->len, keep->total), keep->buf,
				      keep->len);
	free(p);
	vs_error_clear();
	return list;
}

static int
step_verify(struct vs_vhost_dev *dev, struct step_io *io, const char *file)
{
	struct vs_chunk_reader r;
	struct arrival *ar;
	struct vs_payload_compare *cmp;
	struct json_object *list = NULL;
	uint64_t loaded, saved;
	int rc = 0;

	if (!io->in_open && open_input(io, file) < 0)
		return -1;
	ar = calloc(1, sizeof *ar);
	if (!ar)
		return vs_fail(VS_EXIT_FAIL, ENOMEM, "out of memory");
	cmp = &ar->cmp;
	ar->keep.max = VS_DECODE_MAX;
	if (vs_state_input_rewind(&io->in, &r) < 0 || vs_vhost_load_backend_state(dev, produce, &r, &loaded) < 0) {
		vs_error_prefix("loading %s", file);
		goto fail;
	}
	vs_payload_compare_init(cmp, &r);
	if (vs_state_input_rewind(&io->in, &r) < 0 ||
	    vs_vhost_save_backend_state(dev, vs_opt.max_size, consume_verify, ar, &saved) < 0) {
		vs_error_prefix("saving the state back");
		goto fail;
	}
	vs_payload_compare_end(cmp, saved, io->in.payload);
	jset("same", json_object_new_boolean(cmp->first_diff == UINT64_MAX));
	jset("status", json_object_new_string(cmp->first_diff == UINT64_MAX ? "same" : "different"));
	jset("first_difference",
	     cmp->first_diff == UINT64_MAX ? NULL : json_object_new_int64((int64_t)cmp->first_diff));
	jset("expected_payload_bytes", json_object_new_int64((int64_t)io->in.payload));
	jset("actual_payload_bytes", json_object_new_int64((int64_t)saved));
	if (cmp->first_diff != UINT64_MAX)
		list = decoded_differences(&io->in, &ar->keep);
	jset("decoded", json_object_new_boolean(list != NULL));
	jset("differences", list ? json_object_get(list) : json_object_new_array());
	if (cmp->first_diff == UINT64_MAX) {
		if (!vs_opt.quiet)
			fprintf(stderr, "%s: run: verified: the back-end holds the %" PRIu64 "-byte state of %s\n",
				program_invocation_short_name, saved, file);
	} else {
		if (list && !vs_opt.json) {
			fprintf(stderr, "%s: run: state differences (file -> back-end):\n", program_invocation_short_name);
			vs_print_differences(stderr, list, "  ");
		}
		rc = vs_fail(VS_EXIT_DIFFERENT, 0,
			     "the back-end holds a different state than %s: the payloads differ at offset %" PRIu64
			     " (file %" PRIu64 " bytes, back-end %" PRIu64 " bytes)",
			     file, cmp->first_diff, io->in.payload, saved);
	}
	json_object_put(list);
	vs_decode_keep_free(&ar->keep);
	free(ar);
	return rc;
fail:
	vs_decode_keep_free(&ar->keep);
	free(ar);
	return -1;
}

/* ---- info ---- */

static struct json_object *
json_info(struct vs_vhost_dev *dev, const char *socket, uint32_t config_size)
{
	struct json_object *o = vs_identity_json(&dev->vu, socket, true), *rings = json_object_new_array();

	json_object_object_add(o, "features_set", vs_json_feature_mask(dev->sent_features, vs_vu_feature_name));
	json_object_object_add(o, "started", json_object_new_boolean(dev->started));
	for (unsigned i = 0; i < dev->nvqs; i++) {
		const struct vs_vhost_virtqueue *vq = &dev->vqs[i];
		struct json_object *r = json_object_new_object();
		json_object_object_add(r, "index", json_object_new_int(i));
		json_object_object_add(r, "size", json_object_new_int((int)vq->num));
		json_object_object_add(r, "base",
				       json_object_new_int(vq->started ? vq->vring.avail_idx : vq->last_avail_idx));
		json_object_object_add(r, "started", json_object_new_boolean(vq->started));
		json_object_array_add(rings, r);
	}
	json_object_object_add(o, "rings", rings);
	json_object_object_add(o, "memory_bytes", json_object_new_int64((int64_t)dev->opts.mem_size));
	json_object_object_add(o, "regions", json_object_new_int((int)dev->nregions));
	json_object_object_add(o, "dirty_log", json_object_new_boolean(dev->log_enabled));
	json_object_object_add(o, "backend_channel", json_object_new_boolean(dev->channel.fd >= 0));
	if (vs_vu_has_protocol_feature(&dev->vu, VHOST_USER_PROTOCOL_F_STATUS))
		json_object_object_add(o, "status", json_object_new_int(dev->status));
	if (vs_vu_has_protocol_feature(&dev->vu, VHOST_USER_PROTOCOL_F_CONFIG) && config_size) {
		unsigned char cfg[VHOST_USER_MAX_CONFIG_SIZE];
		char hex[2 * VHOST_USER_MAX_CONFIG_SIZE + 1];
		if (vs_vhost_dev_get_config(dev, cfg, config_size) == 0) {
			vs_hex(hex, cfg, config_size);
			json_object_object_add(o, "config", json_object_new_string(hex));
		}
	}
	return o;
}

static void
print_info(struct vs_vhost_dev *dev, const char *socket, uint32_t config_size)
{
	struct vs_vu *vu = &dev->vu;

	printf("socket:             %s\n", socket);
	printf("features offered:   0x%016" PRIx64 " ", vu->features);
	vs_print_feature_names(vu->features, vs_vu_feature_name);
	printf("\nfeatures set:       ");
	if (dev->sent_features) {
		printf("0x%016" PRIx64 " ", dev->sent_features);
		vs_print_feature_names(dev->sent_features, vs_vu_feature_name);
	} else {
		printf("none yet (no SET_FEATURES)");
	}
	if (vs_vu_has_feature(vu, VHOST_USER_F_PROTOCOL_FEATURES)) {
		printf("\nprotocol offered:   0x%016" PRIx64 " ", vu->protocol_offered);
		vs_print_feature_names(vu->protocol_offered, vs_vu_protocol_feature_name);
		printf("\nprotocol acked:     0x%016" PRIx64 " ", vu->protocol_features);
		vs_print_feature_names(vu->protocol_features, vs_vu_protocol_feature_name);
	}
	printf("\ndevice:             %s\n", dev->started ? "started" : "stopped");
	for (unsigned i = 0; i < dev->nvqs; i++) {
		const struct vs_vhost_virtqueue *vq = &dev->vqs[i];
		printf("ring %-2u             size %u, base %u, %s, desc 0x%" PRIx64 " avail 0x%" PRIx64
		       " used 0x%" PRIx64 " (guest-physical)\n",
		       i, vq->num, vq->started ? vq->vring.avail_idx : vq->last_avail_idx,
		       vq->started ? "started" : "stopped", vq->desc_gpa, vq->avail_gpa, vq->used_gpa);
	}
	printf("memory:             %" PRIu64 " bytes in %u region%s, sent with %s (%u slots)\n",
	       dev->opts.mem_size, dev->nregions, dev->nregions == 1 ? "" : "s",
	       vs_vu_has_protocol_feature(vu, VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS) ? "ADD_MEM_REG"
											  : "SET_MEM_TABLE",
	       vs_vhost_get_max_memslots(dev));
	printf("dirty log:          %s\n", dev->log_enabled ? "on" : "off");
	printf("back-end channel:   ");
	if (dev->channel.fd >= 0) {
		unsigned long n = __atomic_load_n(&dev->channel.served, __ATOMIC_RELAXED);
		printf("%s, %lu request%s served\n",
		       __atomic_load_n(&dev->channel.closed, __ATOMIC_ACQUIRE) ? "closed by the back-end" : "open", n,
		       n == 1 ? "" : "s");
	} else
		printf("none\n");
	if (vs_vu_has_protocol_feature(vu, VHOST_USER_PROTOCOL_F_STATUS))
		printf("status:             0x%02x\n", dev->status);
	if (dev->inflight.fd >= 0)
		printf("inflight:           %" PRIu64 " bytes mapped\n", dev->inflight.size);
	printf("device state:       %s\n", vs_vhost_supports_device_state(dev) ? "supported" : "not supported");
	if (vs_vu_has_protocol_feature(vu, VHOST_USER_PROTOCOL_F_CONFIG) && config_size) {
		unsigned char cfg[VHOST_USER_MAX_CONFIG_SIZE];
		char hex[2 * VHOST_USER_MAX_CONFIG_SIZE + 1];
		printf("config:             ");
		if (vs_vhost_dev_get_config(dev, cfg, config_size) < 0) {
			printf("unreadable: %s\n", vs_error_get()->msg);
		} else {
			vs_hex(hex, cfg, config_size);
			printf("%" PRIu32 " bytes: %s\n", config_size, hex);
		}
	}
	fflush(stdout);
}

/* ---- the sequence ---- */

static int
run_step(struct vs_vhost_dev *dev, const struct vs_run_step *s, struct step_io *io, const struct run_args *a)
{
	switch (s->op) {
	case VS_RUN_START:
		if (vs_vhost_dev_start(dev) < 0)
			return -1;
		if (jresult) {
			struct json_object *rings = json_object_new_array();
			for (unsigned i = 0; i < dev->nvqs; i++)
				if (dev->vqs[i].started)
					json_object_array_add(rings, json_object_new_int(i));
			jset("rings_started", rings);
		}
		if (!vs_opt.quiet) {
			fprintf(stderr, "%s: run: started rings", program_invocation_short_name);
			for (unsigned i = 0; i < dev->nvqs; i++)
				if (dev->vqs[i].started)
					fprintf(stderr, " %u", i);
			fprintf(stderr, " (size %u; %" PRIu64 " bytes of guest memory in %u region%s)\n",
				dev->opts.queue_size, dev->opts.mem_size, dev->nregions, dev->nregions == 1 ? "" : "s");
		}
		return 0;
	case VS_RUN_STOP: {
		bool was[VS_VHOST_MAX_QUEUES];
		for (unsigned i = 0; i < dev->nvqs; i++)
			was[i] = dev->vqs[i].started;
		if (vs_vhost_dev_stop(dev) < 0)
			return -1;
		if (jresult) {
			struct json_object *bases = json_object_new_object();
			for (unsigned i = 0; i < dev->nvqs; i++) {
				char k[12];
				snprintf(k, sizeof k, "%u", i);
				if (was[i])
					json_object_object_add(bases, k, json_object_new_int(dev->vqs[i].last_avail_idx));
			}
			jset("ring_bases", bases);
		}
		if (!vs_opt.quiet) {
			fprintf(stderr, "%s: run: stopped; ring bases:", program_invocation_short_name);
			for (unsigned i = 0; i < dev->nvqs; i++)
				if (was[i])
					fprintf(stderr, " %u:%u", i, dev->vqs[i].last_avail_idx);
			fprintf(stderr, "\n");
		}
		return 0;
	}
	case VS_RUN_SAVE:
		return step_save(dev, io, s->file);
	case VS_RUN_LOAD:
		return step_load(dev, io, s->file);
	case VS_RUN_VERIFY:
		return step_verify(dev, io, s->file);
	case VS_RUN_INFO:
		if (jresult)
			jset("info", json_info(dev, a->socket, a->config_size));
		else
			print_info(dev, a->socket, a->config_size);
		return 0;
	case VS_RUN_RESET:
		if (vs_vhost_reset_device(dev) < 0)
			return -1;
		if (!vs_opt.quiet)
			fprintf(stderr, "%s: run: RESET_DEVICE sent: the back-end's state is wiped\n",
				program_invocation_short_name);
		return 0;
	case VS_RUN_LOG_START:
	case VS_RUN_LOG_STOP:
		if (vs_vhost_migration_log(dev, s->op == VS_RUN_LOG_START) < 0)
			return -1;
		if (!vs_opt.quiet)
			fprintf(stderr, "%s: run: dirty logging %s%s\n", program_invocation_short_name,
				s->op == VS_RUN_LOG_START ? "on" : "off",
				dev->started ? "" : " (takes effect at the next start)");
		return 0;
	}
	return vs_fail(VS_EXIT_FAIL, 0, "unknown step");
}

int
vs_cmd_run(int argc, char **argv)
{
	struct run_args a = { .config_size = 40 };
	struct vs_run_plan plan = { 0 };
	struct step_io *io = NULL;
	struct vs_vhost_dev *dev = NULL;
	bool inited = false;
	struct json_object *jsteps = NULL;
	/* save FILE writes QEMU's raw stream, as the back-end gives it */
	const struct vs_format_opts raw = { .archive = 0, .zstd_level = VS_ZSTD_OFF, .threads = 0 };
	int rc = 0;

	a.words = calloc(argc > 0 ? argc : 1, sizeof *a.words);
	if (!a.words) {
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		return -1;
	}
	struct vs_verb_args va = {
		.pos = { .slot = { &a.socket }, .required = 2, .missing = "SOCKET and at least one STEP are required",
			 .rest = a.words, .nrest = &a.nwords },
		.parse = parse,
		.ctx = &a,
	};

	argp_parse(&run_argp, argc, argv, 0, NULL, &va);
	if (vs_run_plan_parse(&plan, a.nwords, a.words) < 0) {
		free(a.words);
		return -1;
	}
	for (unsigned i = 0; i < plan.n; i++)
		if (vs_result_check_stdout(plan.steps[i].op == VS_RUN_SAVE && strcmp(plan.steps[i].file, "-") == 0) < 0) {
			vs_run_plan_free(&plan);
			free(a.words);
			return -1;
		}
	io = calloc(plan.n, sizeof *io);
	dev = calloc(1, sizeof *dev);
	if (!io || !dev) {
		vs_error_set(VS_EXIT_FAIL, ENOMEM, "out of memory");
		goto fail;
	}
	/* Refuse bad outputs and malformed inputs before the connection
	 * consumes the back-end; inputs that an earlier step writes are
	 * checked when they are read. */
	for (unsigned i = 0; i < plan.n; i++) {
		const struct vs_run_step *s = &plan.steps[i];
		vs_run_step_describe(s, vs_fail_step, sizeof vs_fail_step);
		if (s->op == VS_RUN_SAVE) {
			if (vs_save_open(&io[i].save, s->file, &raw, VS_SAVE_FRAMED) < 0)
				goto fail;
		} else if ((s->op == VS_RUN_LOAD || s->op == VS_RUN_VERIFY) && !s->file_from_save) {
			if (open_input(&io[i], s->file) < 0)
				goto fail;
		}
	}
	vs_fail_step[0] = '\0';
	if (vs_opt.json)
		jsteps = json_object_new_array();
	a.dev.timeout_ms = vs_opt.timeout_ms;
	a.dev.verbose = vs_opt.verbose;
	if (vs_vhost_dev_init(dev, a.socket, &a.dev) < 0)
		goto fail;
	inited = true;
	for (unsigned i = 0; i < plan.n; i++) {
		const struct vs_run_step *s = &plan.steps[i];
		vs_run_step_describe(s, vs_fail_step, sizeof vs_fail_step);
		if (jsteps) {
			/* typed: the step's name, its position, its file */
			jresult = json_object_new_object();
			json_object_object_add(jresult, "step", json_object_new_string(vs_run_op_name(s->op)));
			json_object_object_add(jresult, "index", json_object_new_int((int)s->number));
			if (vs_run_op_takes_file(s->op))
				json_object_object_add(jresult, "file", json_object_new_string(s->file));
		}
		if (run_step(dev, s, &io[i], &a) < 0)
			goto fail;
		if (jsteps) {
			json_object_array_add(jsteps, jresult);
			jresult = NULL;
		}
	}
	if (jsteps) {
		struct json_object *doc = json_object_new_object();
		json_object_object_add(doc, "socket", json_object_new_string(a.socket));
		json_object_object_add(doc, "steps", jsteps);
		jsteps = NULL;
		puts(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(doc);
	}
	goto done;

fail:
	if (jsteps) {
		/* one document still: the error, the steps done, the one that failed */
		vs_error_json_extra = json_object_new_object();
		json_object_object_add(vs_error_json_extra, "steps", jsteps);
		if (jresult)
			json_object_object_add(vs_error_json_extra, "failed_step", jresult);
		jsteps = jresult = NULL;
	}
	rc = -1;
done:
	if (inited)
		vs_vhost_dev_cleanup(dev);
	for (unsigned i = 0; io && i < plan.n; i++) {
		vs_save_close(&io[i].save);
		if (io[i].in_open)
			vs_state_input_close(&io[i].in);
	}
	free(io);
	free(dev);
	vs_run_plan_free(&plan);
	free(a.words);
	return rc;
}
