/* Who listens on a unix socket, found without connecting to it: a
 * one-shot back-end (virtiofsd, passt) serves the first front-end that
 * connects and is gone afterwards, so what can be known about it must be
 * known before.  The listening socket's inode comes from /proc/net/unix,
 * its owner from the socket:[INODE] links in /proc/PID/fd (as ss -xlp
 * finds them).  Another user's processes are not visible: then the owner
 * is unknown. */
#ifndef VS_PEER_OWNER_H
#define VS_PEER_OWNER_H

#include <stdbool.h>
#include <sys/types.h>

struct vs_peer_owner {
	pid_t pid;
	char exe[256];	   /* /proc/PID/exe ("" if unreadable) */
	char name[256];	   /* the program, through a dynamic loader */
	char cmdline[2048]; /* arguments joined by spaces */
	const char *kind;  /* "fs", "net", "blk", or NULL: not a known back-end */
};

/* Fill o from pid's /proc entries (the SO_PEERCRED pid of a connection,
 * or the owner found below). */
void vs_peer_describe(pid_t pid, struct vs_peer_owner *o);

/* 2: o describes the process listening on path; 1: a socket listens
 * there but its owner is not visible (another user's); 0: nothing
 * listens on path; -1: /proc unreadable, with the error set. */
int vs_peer_owner_find(const char *path, struct vs_peer_owner *o);

#endif
