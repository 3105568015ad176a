/*
 * privdrop: give up root once the listening sockets are bound (ports below 1024 need it, nothing
 * after does): optional chroot, then the configured group and user. Refuses to carry on as root
 * unless the configuration says `allow-root: true`.
 */
#ifndef BLOKIR_PRIVDROP_H
#define BLOKIR_PRIVDROP_H

#include "config.h"
#include "diag.h"

/*
 * Applies cfg->chroot, cfg->group and cfg->user. With a chroot, cfg->path is rewritten to the
 * path inside it (it must lie under the chroot directory, or SIGHUP could not find it). Returns 0,
 * or -1 with the reason logged. Must run before any thread is started.
 */
int privdrop_apply(struct config *cfg);

/*
 * What privdrop_apply would refuse, found before anything is bound, for --check and start-up
 * alike: the user and the group exist, the chroot directory exists and holds the configuration
 * file; as root with user:, group: or chroot:, that the daemon after the drop can load the file
 * again (and so read every zone's tsig-secret-file), read every enabled list and, with zones,
 * write the state-dir, by the paths a SIGHUP resolves inside the chroot (tested in a child
 * process that chroots and switches as privdrop_apply does: call it before any thread is
 * started). Each problem is added to DIAG at its key's (or entry's) position, in the words
 * start-up uses.
 * Returns 0, or -1 when something was added.
 */
int privdrop_check(const struct config *cfg, struct diag *diag);

#endif
