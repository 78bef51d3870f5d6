/* What a payload is, read from its bytes.  These are hints: our own
 * reading of a back-end's private format (virtiofsd 1.13's postcard
 * serialisation, passt's migration header), never needed to move state. */
#ifndef VS_PAYLOAD_H
#define VS_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vs_payload_kind { VS_KIND_UNKNOWN, VS_KIND_FS, VS_KIND_NET };

/* Enough of the start of a payload to tell its kind. */
#define VS_SNIFF_BYTES (1u << 20)

/* p: the first len bytes of a payload of `total` bytes. */
enum vs_payload_kind vs_payload_sniff(const unsigned char *p, size_t len, uint64_t total);
const char *vs_payload_kind_name(enum vs_payload_kind k);
enum vs_payload_kind vs_payload_kind_parse(const char *name);

/* virtiofsd (PassthroughFs V1/V2) */
enum vs_vfs_location { VS_LOC_ROOT, VS_LOC_PATH, VS_LOC_INVALID, VS_LOC_FULL_PATH, VS_LOC_FILE_HANDLE };

/* A file handle as virtiofsd serialises it (SerializableFileHandle):
 * the source's mount id, the handle type, and up to MAX_HANDLE_SZ bytes. */
#define VS_VFS_HANDLE_MAX 128
struct vs_vfs_file_handle {
	uint64_t mount_id;
	int32_t type;
	uint32_t len;
	unsigned char bytes[VS_VFS_HANDLE_MAX];
};

struct vs_vfs_inode {
	uint64_t id, refcount;
	enum vs_vfs_location location;
	uint64_t parent;   /* VS_LOC_PATH */
	char *name;	   /* VS_LOC_PATH, VS_LOC_FULL_PATH */
	bool file_handle;  /* a file handle was recorded too */
	/* allocated only when present: the recorded handle (the source ran
	 * with handle verification), and the location's (VS_LOC_FILE_HANDLE) */
	struct vs_vfs_file_handle *recorded, *handle;
};

struct vs_vfs_handle {
	uint64_t id, inode;
	int32_t flags;
};

struct vs_vfs_mount {
	uint64_t id;
	char *path;
};

struct vs_vfs_id_index {
	uint64_t id;
	size_t i;
};

struct vs_vfs_state {
	unsigned variant; /* 0 = V1, 1 = V2 */
	size_t ninodes, nhandles, nmounts;
	struct vs_vfs_inode *inodes;
	struct vs_vfs_id_index *by_id; /* inodes sorted by id, for lookups */
	/* vs_vfs_decode only, per inode (vs_vfs_inode_path): its parent's
	 * index (a Path inode whose parent is there, else VS_VFS_NO_INODE) and its
	 * path's length, -1 where it has none */
	size_t *parent_at;
	int32_t *path_len;
	struct vs_vfs_handle *handles;
	struct vs_vfs_mount *mounts;
	uint64_t next_inode, next_handle;
	bool writeback, announce_submounts, posix_acl, sup_group_extension;
	char *strings; /* where every name and path points (one allocation) */
	size_t file_handles; /* of the inodes' handles, how many were allocated */
};

/* Decode a whole payload.  0: decoded exactly; 1: the bytes end early but
 * what is there is consistent (a prefix); -1: not this format (err says
 * where).  A decoded state is freed with vs_vfs_state_free. */
int vs_vfs_decode(const unsigned char *p, size_t len, struct vs_vfs_state *st, char *err, size_t errlen);
/* The same, read as virtiofsd reads it (postcard::from_bytes): bytes after
 * the state are ignored (*trailing counts them) and strings must be UTF-8. */
int vs_vfs_load(const unsigned char *p, size_t len, struct vs_vfs_state *st, size_t *trailing, char *err,
		size_t errlen);
void vs_vfs_state_free(struct vs_vfs_state *st);
/* The index of an inode with this id (one of them, if several share it),
 * or VS_VFS_NO_INODE; only for a state from vs_vfs_decode, as below. */
#define VS_VFS_NO_INODE SIZE_MAX
size_t vs_vfs_inode_at(const struct vs_vfs_state *st, uint64_t id);
/* The inode's path relative to the shared directory ("." for the root),
 * following Path parents; false when it cannot be resolved (Invalid, a
 * file handle, a missing parent, a loop, longer than VS_VFS_PATH_MAX or
 * than len - 1) or the path would use more of *budget than is left (it
 * counts the bytes of every path given, NULs too, to bound the text a
 * state of many deep inodes turns into).  Each path costs its length:
 * vs_vfs_decode resolved every inode's parent and path length once
 * (a chain shared by many inodes, or a loop, is followed only once).
 * Only for a state from vs_vfs_decode: vs_vfs_load builds no index, so
 * there no path is ever found. */
#define VS_VFS_PATH_MAX 4096
bool vs_vfs_inode_path(const struct vs_vfs_state *st, const struct vs_vfs_inode *ino, char *buf, size_t len,
		       uint64_t *budget);

/* passt: be64 magic, be32 version, be32 compat version */
#define VS_PASST_MAGIC 0xB1BB1D1B0BB1D1B0ull
struct vs_passt_header {
	uint32_t version, compat_version;
};
bool vs_passt_header(const unsigned char *p, size_t len, struct vs_passt_header *h);

/* passt's migration data (migrate.c, flow.c, tcp.c; tcp_conn.h).  v1 and
 * v2 start with the observed guest addresses; v2 then has a be32 flow
 * count, that many struct tcp_tap_transfer (112 bytes), then per flow a
 * struct tcp_tap_transfer_ext (52 bytes) followed by its send and receive
 * queues (absent when tcpi_state is 0: passt skipped the flow).
 * Everything is network order except the ports, which passt copies from
 * its flow table in the source host's order (little-endian on x86). */
#define VS_PASST_ADDRS_SIZE 42
#define VS_PASST_FLOW_SIZE 112
#define VS_PASST_EXT_SIZE 52

struct vs_passt_side {
	unsigned char oaddr[16], eaddr[16]; /* IPv6, or IPv4-mapped */
	uint16_t oport, eport;
};

struct vs_passt_flow {
	uint8_t pif[2];
	struct vs_passt_side side[2];
	uint8_t retries, ws_from_tap, ws_to_tap, events;
	uint32_t tap_mss, sndbuf;
	uint8_t flags, seq_dup_ack_approx;
	uint16_t wnd_from_tap, wnd_to_tap;
	uint32_t seq_to_tap, seq_ack_from_tap, seq_from_tap, seq_ack_to_tap, seq_init_from_tap;
	/* struct tcp_tap_transfer_ext */
	uint32_t seq_snd, seq_rcv, sndq, notsent, rcvq, mss, timestamp;
	uint32_t snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup;
	uint8_t snd_ws, rcv_ws, tcpi_state, tcpi_options;
};

struct vs_passt_state {
	struct vs_passt_header h;
	unsigned char addr6[16], addr6_ll[16], addr4[4], mac[6];
	bool have_flows; /* v2 */
	uint32_t nflows;
	struct vs_passt_flow *flows;
};

/* 0: decoded exactly; -1: not decodable (err says why and where). */
int vs_passt_decode(const unsigned char *p, size_t len, struct vs_passt_state *st, char *err, size_t errlen);
void vs_passt_state_free(struct vs_passt_state *st);

#endif
