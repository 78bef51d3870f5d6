/* What main.c shares with the cmd-<verb>.c files. */
#ifndef VS_CMD_H
#define VS_CMD_H

#include <argp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "output.h"
#include "sink.h" /* VS_ZSTD_OFF */
#include "writer.h"

struct vs_common_opts {
	bool verbose;
	bool quiet;
	bool force;
	bool json; /* set by the verbs that offer --json */
	bool progress;	 /* --progress: human progress even off a terminal */
	int progress_fd; /* --progress=FD, or -1 */
	uint64_t max_size;
	int timeout_ms; /* -t, for the library's options structs */
};
extern struct vs_common_opts vs_opt;

/* --format, --zstd, --threads: how dump and convert write. */
struct vs_format_opts {
	int archive;	/* -1: not given, 0: raw, 1: archive */
	int zstd_level; /* VS_ZSTD_OFF: no zstd */
	int threads;	/* zstd workers; 0 = in the calling thread */
};
extern struct vs_format_opts vs_fmt;
extern const struct argp vs_format_argp;
#define VS_FORMAT_CHILD { &vs_format_argp, 0, "Output format:", 5 }
/* Fill in what was not given from the output's name (.vhsnap, .zst). */
void vs_format_from_name(const char *path);
/* The zstd level used by a bare --zstd. */
#define VS_ZSTD_DEFAULT_LEVEL 3

/* --json, as an argp child of the verbs that offer it. */
extern const struct argp vs_json_argp;
#define VS_JSON_CHILD { &vs_json_argp, 0, NULL, 0 }

/* -t -v -q -f --max-size, as an argp child of every verb. */
extern const struct argp vs_common_argp;
#define VS_COMMON_CHILD { &vs_common_argp, 0, "Common options:", 10 }

/* The direct-mode caveat every verb's --help repeats. */
#define VS_DIRECT_MODE_NOTE \
	"\vConnecting consumes a one-shot back-end: virtiofsd serves one front-end " \
	"and exits when it leaves, so each command needs a fresh instance (`run` " \
	"takes several steps on one connection)."

/* argp_error for the verbs: "vhost-state: VERB: message", then the
 * usual "Try ... --help" line; exits 64. */
void vs_usage_error(const struct argp_state *state, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* A verb's positional arguments (SOCKET, FILE...): "too many arguments"
 * and "X is required" (exit 64) come from vs_parse_verb. */
struct vs_positional {
	const char **slot[3]; /* where each one goes, in order; NULL-terminated */
	unsigned required;    /* how many must be given (slots and rest) */
	const char *missing;  /* the usage error when fewer are */
	const char *extra;    /* one too many, '%s' its text (NULL: "too many arguments: '%s'") */
	char **rest;	      /* if set, the arguments after the slots go here (run's steps) */
	int *nrest;
	/* how a usage error is reported (NULL: vs_usage_error) */
	void (*usage)(const struct argp_state *state, const char *fmt, ...);
};
/* An option of a verb that only stores its argument, or sets a flag. */
struct vs_verb_opt {
	int key;
	const char **arg;
	bool *flag;
};
/* A verb's command line: argp_parse's input for vs_parse_verb. */
struct vs_verb_args {
	struct vs_positional pos;
	struct vs_verb_opt opt[6]; /* at most 5, ended by key 0 */
	/* the verb's own parser for its other options (NULL: none), and its
	 * checks once all is parsed (after the positional ones; NULL: none) */
	error_t (*parse)(void *ctx, int key, char *arg, struct argp_state *state);
	void (*end)(const void *ctx, const struct argp_state *state);
	void *ctx;
};
/* The argp parser of every verb. */
error_t vs_parse_verb(int key, char *arg, struct argp_state *state);
/* A verb's argp: its OPTIONS (or NULL), ARGS_DOC and DOC, then its
 * children (VS_FORMAT_CHILD, VS_JSON_CHILD); the common options come last. */
#define VS_VERB_ARGP(options, args_doc, doc, ...)                                                         \
	{ (options), vs_parse_verb, (args_doc), (doc),                                                    \
	  (const struct argp_child[]){ __VA_ARGS__, VS_COMMON_CHILD, { 0 } }, NULL, NULL }

/* A verb returns 0, an exit status of its own (verify, diff: 2), or -1
 * when it failed: main then reports the current error once, as
 * "vhost-state: VERB: message" (and, with --json, the error document). */
/* With --json, keys of this object (taken over) join the error document. */
struct json_object;
extern struct json_object *vs_error_json_extra;
/* What the verb was doing when it failed, said after its name in the
 * report ("run: step 3 (save s.vhs): ..."); empty: nothing. */
extern char vs_fail_step[320];
/* A fs state is not loaded into a net back-end or the reverse, unless -f:
 * the back-end would reject it at best.  owner: the process behind the
 * socket, found before connecting (connected false: nothing was said to
 * it) or by SO_PEERCRED after. */
struct vs_peer_owner;
struct vs_state_input;
int vs_check_kind(const struct vs_peer_owner *owner, const struct vs_state_input *in, const char *socket,
		  bool connected);
/* Messages read "PROGRAM: VERB: text": the program's short name and the
 * verb being run (NULL before one is known); main.c sets them. */
extern const char *vs_program;
extern const char *vs_verb;
/* A byte count with an optional K, M, G or T suffix (powers of 1024). */
int vs_parse_size(const char *s, uint64_t *out);
/* After option parsing: progress on a terminal, or as asked. */
void vs_setup_progress(void);
/* vs_output_open with -t's deadline, refusing stdout when --progress=1
 * writes there too. */
struct vs_output;
int vs_cmd_output_open(struct vs_output *out, const char *path, unsigned flags);
/* vs_vu_open and vs_state_input_open with -t's deadline (and -v's trace). */
struct vs_vu;
struct vs_chunk_limits;
int vs_cmd_vu_open(struct vs_vu *vu, const char *socket);
int vs_cmd_input_open(struct vs_state_input *in, const char *path, const struct vs_chunk_limits *lim);
/* "  NAME NAME ..." for the set bits of a mask. */
void vs_print_feature_names(uint64_t mask, const char *(*name)(unsigned));

/* A state on its way to the output the user chose (-o or a FILE, in a
 * format): dump, snapshot, verify --save, run's save step, convert and
 * extract.  The output appears only complete (src/output.c). */
struct vs_save {
	const struct vs_format_opts *fmt;
	struct vs_output out;
	struct vs_state_writer w;
	struct vs_capture *cap; /* VS_SAVE_FRAMED, VS_SAVE_DIGEST */
	struct vs_manifest m;	/* created and tool set at open; the rest filled in by the verb or vs_save_finish */
	bool out_open, writer;
};
enum vs_save_capture {
	VS_SAVE_RAW,	/* the verb writes a framed stream to vs_state_writer_raw(&s->w) */
	VS_SAVE_FRAMED, /* payload arrives through vs_save_consume / s->cap */
	VS_SAVE_DIGEST, /* the same, with the SHA-256 computed on the way */
};
/* Refused before a back-end is used: an output already there (without
 * -f), a terminal.  s starts zeroed; vs_save_close() it in any case. */
int vs_save_open(struct vs_save *s, const char *path, const struct vs_format_opts *fmt, enum vs_save_capture capture);
/* A vs_consume_fn: the next piece of payload (progress follows it). */
int vs_save_consume(void *save, const void *buf, size_t len);
/* The stream ended and framed; the manifest's payload fields and backend
 * (taken over) when captured; an archive's container written. */
int vs_save_finish(struct vs_save *s, struct json_object *backend);
/* The output in place. */
int vs_save_commit(struct vs_save *s);
/* Commit, then emit doc (taken over; text: its line on stderr). */
int vs_save_emit(struct vs_save *s, struct json_object *doc, void (*text)(struct json_object *doc, FILE *f));
/* An output not committed is thrown away. */
void vs_save_close(struct vs_save *s);
/* The result of a state saved (schema/dump.schema.json's shape): KEY
 * (socket, control) FROM, the output, its format and the state. */
struct json_object *vs_save_result(const struct vs_save *s, const char *key, const char *from);
/* The line dump, snapshot and restore print on stderr (without -q). */
void vs_print_moved(struct json_object *doc, FILE *f);

int vs_cmd_info(int argc, char **argv);
int vs_cmd_dump(int argc, char **argv);
int vs_cmd_restore(int argc, char **argv);
int vs_cmd_verify(int argc, char **argv);
int vs_cmd_run(int argc, char **argv);
int vs_cmd_inspect(int argc, char **argv);
int vs_cmd_convert(int argc, char **argv);
int vs_cmd_diff(int argc, char **argv);
int vs_cmd_extract(int argc, char **argv);
int vs_cmd_inject(int argc, char **argv);
int vs_cmd_proxy(int argc, char **argv);
int vs_cmd_snapshot(int argc, char **argv);
int vs_cmd_preflight(int argc, char **argv);

#endif
