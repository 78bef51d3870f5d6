/* Who a back-end is: its process (SO_PEERCRED -> /proc/PID/cmdline), what
 * it offered and what we acked, as JSON for info and manifests. */
#ifndef VS_IDENTITY_H
#define VS_IDENTITY_H

#include <json.h>
#include <stddef.h>
#include <stdint.h>

#include "vu-frontend.h"

/* The peer's command line, arguments joined by spaces ("" if unknown). */
void vs_peer_cmdline(pid_t pid, char *buf, size_t len);
/* The program's name, looking through a dynamic loader that runs it
 * (ld-linux-x86-64.so.2 --library-path X /usr/libexec/virtiofsd ...). */
void vs_peer_name(pid_t pid, char *buf, size_t len);
/* "fs", "net", "blk", or NULL: the device type a known back-end serves. */
const char *vs_backend_kind(const char *peer_name);

/* The names of mask's bits, "bitN" where name() has none. */
struct json_object *vs_json_feature_names(uint64_t mask, const char *(*name)(unsigned));
/* {"hex": "0x...", "names": [...]} */
struct json_object *vs_json_feature_mask(uint64_t mask, const char *(*name)(unsigned));
/* socket, peer {name, cmdline}, features, protocol features offered and
 * acked, queues, memory slots, device_state.  with_pid: add the pid
 * (info does; manifests don't, so the same state gives the same bytes). */
struct json_object *vs_identity_json(const struct vs_vu *vu, const char *socket, bool with_pid);

#endif
