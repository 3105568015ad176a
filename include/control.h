/*
 * control: the unix-socket server behind `blokir ctl`, and its client. The daemon answers
 * commands on `control-socket:` (mode 0660, group = the service's group: who may run `blokir ctl`
 * is decided by the file system, and a unix socket is never reachable over the network).
 *
 * Protocol, one command per connection: the client sends one line "WORD [ARG...]\n" (at most
 * CONTROL_LINE_MAX bytes, words separated by single spaces); the daemon answers "CODE\n" followed
 * by text and closes. CODE is the client's exit status: 0 done, 1 refused (a reload of a bad
 * file), 2 a bad command or argument, 3 the daemon could not do it.
 *
 * The server runs on the event base it is given (the daemon's main loop, never a worker's), with
 * a bufferevent per connection: reading and writing never block, a client that sends nothing or
 * reads nothing is dropped after a timeout, and a command may answer later (a reload waits for
 * its loader thread) without holding anything up meanwhile.
 */
#ifndef BLOKIR_CONTROL_H
#define BLOKIR_CONTROL_H

#include <stdio.h>
#include <sys/types.h>

#define CONTROL_LINE_MAX 4096
#define CONTROL_ARGS_MAX 16

struct event_base;
struct control;
struct control_reply;

/*
 * Called on the server's loop for each command. ARGV (ARGC words, ARGV[0] the command) is
 * borrowed for the call. The handler writes its text to control_reply_out(R) and finishes R
 * with control_reply_done, now or later; R stays valid until then even if the client has gone.
 */
typedef void control_command_cb(void *arg, int argc, char **argv, struct control_reply *r);

/*
 * Binds PATH (replacing a stale socket file, refusing one a live daemon answers on) and sets
 * mode 0660 and group GID. Call while still privileged. Returns NULL (logged).
 */
struct control *control_new(const char *path, gid_t gid, control_command_cb *cb, void *arg);
/* Starts serving on BASE (after the privilege drop, once the loop exists). 0, or -1 (logged). */
int control_start(struct control *c, struct event_base *base);
/* Closes every connection, frees pending replies' connections, removes the socket file. */
void control_free(struct control *c);

FILE *control_reply_out(struct control_reply *r);
/* Sends CODE and the text written so far, then frees R. */
void control_reply_done(struct control_reply *r, int code);

/*
 * The client: sends ARGV (ARGC words) to the daemon at PATH and copies its text to stdout (code
 * 0) or stderr (others). Returns the daemon's code, or 3 when the daemon cannot be reached (with
 * the reason on stderr: no such socket, permission denied, ...).
 */
int control_client(const char *path, int argc, char **argv);

#endif
