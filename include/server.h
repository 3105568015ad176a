/*
 * server: the daemon around the workers. Owns the main thread's event base, the signals
 * (SIGHUP reload, SIGTERM/SIGINT stop, SIGUSR1 counters, SIGUSR2 reopen logs), the service
 * manager notifications (READY, RELOADING, STATUS), the loader thread that builds a new policy
 * off the query path, the atomic swap of the current policy and the freeing of the old one once
 * every worker has acknowledged the swap.
 */
#ifndef BLOKIR_SERVER_H
#define BLOKIR_SERVER_H

#include "config.h"
#include "policy.h"

struct server;

/*
 * The worker count for `workers: 0`: one per online CPU (NCPUS, from sysconf, < 1 when unknown:
 * then 1), at most the 64 the key allows.
 */
unsigned server_auto_workers(long ncpus);

/*
 * Called first thing in main: SIGHUP, SIGUSR1 and SIGUSR2 get a handler that only remembers them
 * (SIGUSR2: ignores it, the files it reopens are opened later anyway), so one
 * that arrives while a big policy loads at start-up (before the event loop has its own handlers)
 * or after the loop has let go of them during a stop is never fatal. server_run acts on what was
 * remembered once it serves: a reload for SIGHUP (the file may have changed while it was read),
 * the counters for SIGUSR1. SA_RESTART: reads of the policy file are not cut short by them.
 */
void server_signals_early(void);

/*
 * Takes ownership of CFG (the start-up configuration, with command-line overrides applied and
 * cfg->workers resolved) and POL (the policy compiled from it). CFG->path is re-read on SIGHUP.
 * Returns NULL on failure.
 */
struct server *server_new(struct config *cfg, struct policy *pol);

/* Binds every listen address once per worker (SO_REUSEPORT). 0, or -1 with the error logged. */
int server_bind(struct server *s);

/*
 * KEY (a static string: "listen", "upstreams", "allow-root") was set on the command line: a reload
 * keeps the command line's value and says so when the file's differs. Before server_run.
 */
void server_pin_key(struct server *s, const char *key);

typedef void (*server_ready_cb)(void *arg);

/*
 * CB(ARG) is called once, on the main thread, when the daemon serves: privileges dropped,
 * workers running, READY=1 sent to the service manager. main uses it to end a detached start.
 */
void server_set_ready_cb(struct server *s, server_ready_cb cb, void *arg);

/*
 * Reopens every log file by its path (log-file:, for logrotate): what SIGUSR2 and the control
 * command reopen-logs do. Each failure is logged and the file opened before stays in use.
 * Returns 0, or -1 when some file could not be reopened. Main loop thread.
 */
int server_reopen_logs(struct server *s);

/* Runs until SIGTERM/SIGINT and a graceful drain. Returns the process exit code. */
int server_run(struct server *s);

void server_free(struct server *s);

struct stats_zone;
/*
 * The status of each RPZ zone (`zones:`, start-up order) into OUT (CAP entries); returns how
 * many zones there are (0 without zones). Any thread: for the status and metrics commands.
 */
size_t server_zone_status(struct server *s, struct stats_zone *out, size_t cap);

#endif
