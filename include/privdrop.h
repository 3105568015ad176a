/*
 * privdrop: give up root once the listening sockets are bound (ports below 1024 need it, nothing
 * after does): optional chroot, then the configured group and user. Refuses to carry on as root
 * unless the configuration says `allow-root: true`.
 */
#ifndef BLOKIR_PRIVDROP_H
#define BLOKIR_PRIVDROP_H

#include "config.h"

/*
 * Applies cfg->chroot, cfg->group and cfg->user. With a chroot, cfg->path is rewritten to the
 * path inside it (it must lie under the chroot directory, or SIGHUP could not find it). Returns 0,
 * or -1 with the reason logged. Must run before any thread is started.
 */
int privdrop_apply(struct config *cfg);

#endif
