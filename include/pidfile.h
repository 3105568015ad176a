/*
 * pidfile: the -p/--pidfile file. Written as root before privileges are dropped; its descriptor
 * is kept, so at a clean stop the file is removed, or, when the dropped user may not write its
 * directory, emptied through the descriptor: no stale PID is left for a script to signal.
 */
#ifndef BLOKIR_PIDFILE_H
#define BLOKIR_PIDFILE_H

#include <sys/types.h>

struct pidfile;

/*
 * Writes PID and a newline to PATH (created or truncated, mode 0644 less the umask). Returns the
 * pidfile (caller owns; pidfile_remove), or NULL with the error logged.
 */
struct pidfile *pidfile_write(const char *path, pid_t pid);

/* After dropping privileges: warns when the file could then only be emptied, not removed. */
void pidfile_check_removable(const struct pidfile *pf);

/* Removes the file (or empties it, see above) and frees PF. pidfile_remove(NULL) is a no-op. */
void pidfile_remove(struct pidfile *pf);

#endif
