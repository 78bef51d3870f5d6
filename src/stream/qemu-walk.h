/* The insides of the migration-file walker, shared by its files (not an
 * interface of the library): wire constants, the positional reader, the
 * walk's state, and the functions each file lends the others.
 *   qemu-file.c    the reader, the description, the section walk, the
 *                  public entry points (qemu-file.h);
 *   qemu-states.c  the back-end states (chunk lists, virtio-net's subsection);
 *   qemu-ram.c     the ram section (plain records, mapped-ram headers);
 *   qemu-nodesc.c  device sections and configuration without a description;
 *   qemu-inject.c  copying states out and files with a state replaced;
 *   qemu-json.c    the description written back in QEMU's JSON style. */
#ifndef VS_QEMU_WALK_H
#define VS_QEMU_WALK_H

#include <json.h>
#include <stdbool.h>
#include <stdint.h>

#include "qemu-file.h"

/* migration/savevm.c */
#define QEMU_VM_EOF 0x00
#define QEMU_VM_SECTION_START 0x01
#define QEMU_VM_SECTION_PART 0x02
#define QEMU_VM_SECTION_END 0x03
#define QEMU_VM_SECTION_FULL 0x04
#define QEMU_VM_SUBSECTION 0x05
#define QEMU_VM_VMDESCRIPTION 0x06
#define QEMU_VM_CONFIGURATION 0x07
#define QEMU_VM_COMMAND 0x08
#define QEMU_VM_SECTION_FOOTER 0x7e
/* enum qemu_vm_cmd: the ones a precopy stream to a file can hold */
#define MIG_CMD_PING 2
#define MIG_CMD_POSTCOPY_ADVISE 3
#define MIG_CMD_RECV_BITMAP 9
#define MIG_CMD_SWITCHOVER_START 11

/* migration/ram.c: MappedRamHeader after each block's name and length */
#define MAPPED_RAM_HDR_VERSION 1
#define MAPPED_RAM_HDR_LEN 28

/* migration/ram.h: flags in the low bits of each record's be64 address */
#define RAM_SAVE_FLAG_ZERO 0x02
#define RAM_SAVE_FLAG_MEM_SIZE 0x04
#define RAM_SAVE_FLAG_PAGE 0x08
#define RAM_SAVE_FLAG_EOS 0x10
#define RAM_SAVE_FLAG_CONTINUE 0x20
#define RAM_SAVE_FLAG_XBZRLE 0x40
#define RAM_SAVE_FLAG_HOOK 0x80
#define RAM_SAVE_FLAG_MULTIFD_FLUSH 0x200
#define ENCODING_FLAG_XBZRLE 0x1

/* Where the states live (hw/virtio/vhost-user-fs.c, hw/net/virtio-net.c). */
#define FS_SUBSECTION "vhost-user-fs-backend"
#define FS_FIELD "back-end"
#define NET_VMSD "virtio-net"
#define NET_FIELD "virtio"
#define NET_SUBSECTION "virtio-net-device/backend"
/* what must follow the net state inside the virtio field: the generic
 * virtio subsections (vmstate_virtio), or the field's end */
#define VIRTIO_SUBSECTION_PREFIX "virtio/"

#define READ_BUF (256u * 1024)
/* Without a description, the device part (from the end of RAM to EOF) is
 * searched for footers: bound it.  Real ones are under a few MiB. */
#define NODESC_DEVICES_MAX (256u << 20)
#define MAX_SECTIONS (1u << 20)
#define MAX_RAM_BLOCKS 4096
#define MAX_DEPTH 32
#define MAX_NET_CANDIDATES 16

struct reader {
	struct vs_qemu_file *q;
	unsigned char *buf;
	size_t buf_cap; /* READ_BUF, or less for a smaller file */
	uint64_t buf_off; /* file offset of buf[0] */
	size_t buf_len;
	uint64_t off; /* next byte to read */
	uint64_t end; /* nothing at or past this is read */
	const char *limit; /* what is at end, for messages */
};

struct ram_block {
	char name[256];
	uint64_t length;
};

struct walk {
	struct vs_qemu_file *q;
	struct reader r;
	size_t cap_sections, cap_states;
	struct ram_block *blocks; /* grown as blocks are named */
	size_t nblocks, cap_blocks;
	struct ram_block *last_block;
	int footers; /* -1 unknown, 0 none, 1 every section */
	int ram_section; /* index in sections, or -1 */
	bool ram_ended;
	bool in_config;
	bool over_max; /* a state was refused for --max-size */
	size_t cur_section;
	uint64_t visits; /* description entries looked at, see VISITS_MAX */
	/* without a description: footer candidates in the device part */
	struct footer_cand *cands;
	size_t ncands;
	bool cands_done;
	const unsigned char *dev; /* the device part, [dev_off, dev_off + dev_len) */
	unsigned char *dev_own; /* its copy, when the file is not in r.buf whole */
	uint64_t dev_off, dev_len;
};

struct footer_cand {
	uint32_t id;
	uint64_t pos;
};

/* Fields of size 0 take no file bytes, so a crafted description with many
 * of them, met by many small sections, could make the walk quadratic.
 * Real files need a few million visits at most. */
#define VISITS_MAX (64ull << 20)
/* Values (numbers, strings, objects...) in a VM description: a large
 * VM's has some tens of thousands. */
#define DESC_VALUES_MAX (1u << 20)

/* qemu-file.c: errors and the reader */
int vs_qf_machine_type(struct walk *w);
int vs_qf_bad(struct reader *r, uint64_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vs_qf_unsupported(struct reader *r, uint64_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vs_qf_no_desc(struct reader *r);
void vs_qf_printable(char *s);
int vs_qf_pread(int fd, void *buf, size_t len, uint64_t off, size_t *got, const char *name);
bool vs_qf_reader_whole(const struct reader *r);
const unsigned char *vs_qf_peek(struct reader *r, size_t n, const char *what);
int vs_qf_bytes(struct reader *r, void *dst, size_t n, const char *what);
int vs_qf_u8(struct reader *r, uint8_t *v, const char *what);
int vs_qf_be16(struct reader *r, uint16_t *v, const char *what);
int vs_qf_be32(struct reader *r, uint32_t *v, const char *what);
int vs_qf_be64(struct reader *r, uint64_t *v, const char *what);
int vs_qf_name(struct reader *r, char out[256], const char *what);
int vs_qf_skip(struct reader *r, uint64_t n, const char *what);
int vs_qf_config_subsection(struct walk *w, const char *name);

/* qemu-states.c: the description's values, and the back-end states */
int vs_qf_json_size(struct json_object *o, const char *key, int64_t *v);
const char *vs_qf_json_str(struct json_object *o, const char *key);
int vs_qf_chunk_list(struct walk *w, struct vs_qemu_state *st);
int vs_qf_add_state(struct walk *w, struct vs_qemu_state *st, enum vs_payload_kind kind, struct json_object *field,
		    uint64_t field_size);
int vs_qf_net_state(struct walk *w, uint64_t start, uint64_t size, struct json_object *field);

/* qemu-ram.c: the ram section's records, plain or mapped-ram */
int vs_qf_ram_records(struct walk *w);

/* qemu-nodesc.c: the walk without a VM description */
int vs_qf_configuration_nodesc(struct walk *w);
int vs_qf_full_nodesc(struct walk *w, uint64_t at, uint32_t id, const char *name);

#endif
