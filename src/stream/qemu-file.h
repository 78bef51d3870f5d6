/* QEMU migration files: the precopy stream that `migrate` writes to file:,
 * exec: or fd:, in its plain or its mapped-ram layout, alone or behind a
 * libvirt save image's header (libvirt-image.h).  The file is walked by its
 * structure (header, configuration, commands, the iterative `ram` section
 * page by page or, mapped-ram, block by block with a seek over each block's
 * pages, device sections with their subsections and footers, EOF, then the
 * VM description JSON when there is one), and the vhost-user back-end
 * states in it are located:
 *   vhost-user-fs:  subsection `vhost-user-fs-backend`, field `back-end`;
 *   vhost-user-net: subsection `virtio-net-device/backend`, nested in the
 *                   device's `virtio` field (whose inner layout is not
 *                   described by QEMU, so it is found by its header and
 *                   must be unique).
 * Device sections carry no lengths of their own: the description JSON's
 * field sizes are what lets a reader skip them, and what inject fixes.
 * Nothing is read past a declared length or the file's end; every
 * inconsistency is VS_EXIT_DATAERR naming the offset and what was
 * expected. */
#ifndef VS_QEMU_FILE_H
#define VS_QEMU_FILE_H

#include <json.h>
#include <stdbool.h>
#include <stdint.h>

#include "libvirt-image.h"
#include "payload.h"
#include "sink.h"

#define VS_QEMU_FILE_MAGIC 0x5145564du /* "QEVM" */
#define VS_QEMU_FILE_VERSION 3u
/* The description JSON is held in memory to be parsed: refuse more. */
#define VS_QEMU_DESC_MAX (64u << 20)

/* One vhost-user back-end state found in the file. */
struct vs_qemu_state {
	char *device;		 /* section name: "0000:00:04.0/vhost-user-fs" */
	uint32_t instance_id, section_id;
	enum vs_payload_kind kind; /* from the device type: fs or net */
	uint64_t section_offset; /* the device section's header */
	uint64_t offset;	 /* the chunk list (QEMU's raw stream) */
	uint64_t length;	 /* its bytes, terminator included */
	uint64_t payload, chunks;
	uint32_t min_chunk, max_chunk;
	char sha256[65];	 /* of the payload, hex */
	uint64_t desc_size;	 /* what the description says of the enclosing field
				  * (without a description: the state's length) */
	/* the description field whose "size" encloses the state (fs: the
	 * `back-end` field; net: the device's `virtio` field); owned by desc */
	struct json_object *desc_field;
};

/* Every section, for inspect. */
struct vs_qemu_section {
	char *name;
	uint8_t type; /* QEMU_VM_SECTION_* of its first appearance */
	uint32_t section_id, instance_id, version;
	uint64_t offset, length; /* length: FULL sections (footer included) */
	int state;		 /* index into states, or -1 */
};

struct vs_qemu_file {
	int fd;
	bool owned;
	const char *name;
	uint64_t size;
	/* a libvirt save image: its header, and where QEMU's stream starts
	 * (base; 0 for a bare QEMU file).  Offsets are the file's. */
	bool libvirt;
	struct vs_libvirt_image image;
	uint64_t base;
	/* formats 1-5: the stream decompressed into a spool file (RAM pages
	 * as holes) which fd then reads; image_fd is the image itself.  The
	 * offsets are then the decompressed stream's. */
	bool compressed;
	int image_fd;
	bool mapped_ram;      /* capability mapped-ram: RAM pages sit at fixed offsets */
	bool described;	      /* the file ends with a VM description */
	uint64_t eof_offset;  /* the QEMU_VM_EOF byte */
	uint64_t desc_offset; /* the QEMU_VM_VMDESCRIPTION byte (no description: the file size) */
	uint32_t desc_len;
	struct json_object *desc;
	char machine[256]; /* from the configuration section */
	uint64_t page_size;
	bool footers;
	bool ignore_shared;
	/* the ram section */
	uint32_t ram_blocks;
	uint64_t ram_bytes, ram_pages, ram_zero_pages, ram_xbzrle_pages, ram_parts;
	uint32_t commands;
	struct vs_qemu_section *sections;
	size_t nsections;
	struct vs_qemu_state *states;
	size_t nstates;
	uint64_t max_payload; /* refuse a back-end state larger than this (0: no limit) */
};

/* 1 if path names a regular file starting with QEMU's magic or a libvirt
 * save image's, else 0
 * (including when it cannot be opened: the normal reader reports that). */
int vs_qemu_file_sniff(const char *path);
/* Open (path "-": stdin, spooled to disk first, each wait for it bounded
 * by timeout_ms, 0: the default of io.h) and walk the whole file.
 * max_payload: refuse larger back-end states (0: no limit). */
int vs_qemu_file_open(struct vs_qemu_file *q, const char *path, uint64_t max_payload, int timeout_ms);
/* The same over an fd the caller keeps (inject re-reads its output). */
int vs_qemu_file_open_fd(struct vs_qemu_file *q, int fd, const char *name, uint64_t max_payload);
void vs_qemu_file_close(struct vs_qemu_file *q);

/* Which state --device ID means: the section name, the device path before
 * its last '/' (e.g. "0000:00:04.0"), or the 1-based position in the
 * list.  NULL: the only one.  Errors: VS_EXIT_USAGE (none or several
 * match, listing the candidates), VS_EXIT_FAIL (the file holds none). */
int vs_qemu_file_choose(const struct vs_qemu_file *q, const char *id, size_t *index);

/* Copy state i's chunk list, byte for byte as QEMU wrote it, to sink
 * (then vs_sink_finish). */
int vs_qemu_file_copy_state(struct vs_qemu_file *q, size_t i, struct vs_sink *sink);

/* A reader of the replacement: fills buf with up to len bytes of the new
 * raw stream (framing included), 0 at its end. */
typedef ssize_t (*vs_qemu_read_fn)(void *ctx, void *buf, size_t len);

/* Write to out a copy of the file with state i replaced by new_len bytes
 * of raw stream read through fn, and the description's enclosing sizes
 * fixed; the bulk copy is handed to vs_output_writeback as it lands.  The
 * caller has checked the new stream. */
struct vs_output;
int vs_qemu_file_inject(struct vs_qemu_file *q, size_t i, vs_qemu_read_fn fn, void *ctx, uint64_t new_len,
			struct vs_output *out);

/* A JSON summary (caller puts it): file, machine, ram, sections, states. */
struct json_object *vs_qemu_file_json(const struct vs_qemu_file *q);

/* The description written back as QEMU writes it ({"k": v, ...}), so an
 * unchanged description round-trips byte for byte.  Caller frees. */
char *vs_qemu_json_serialize(struct json_object *o, size_t *len);

#endif
