/*
 * pidfile: the -p/--pidfile file, written once the daemon has forked.
 */
#ifndef BLOKIR_PIDFILE_H
#define BLOKIR_PIDFILE_H

#include <sys/types.h>

/* Writes PID and a newline to PATH (created or truncated, mode 0644 less the umask). Returns 0,
 * or -1 with the error logged; no descriptor is left open either way. */
int pidfile_write(const char *path, pid_t pid);

#endif
