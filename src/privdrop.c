/*
 * privdrop: chroot, setgid, setuid (see include/privdrop.h).
 *
 * Names are resolved before the chroot, while /etc/passwd and /etc/group are still reachable.
 * Supplementary groups are reduced to the one configured group, and the switch is verified: if
 * root can be regained afterwards, something is wrong and we stop rather than serve as root.
 */
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Moves cfg->path into the chroot's view of the file system. */
static int path_into_chroot(struct config *cfg, const char *root)
{
	size_t n = strlen(root);
	char *inside;

	while (n > 1 && root[n - 1] == '/')
		n--;
	if (cfg->path[0] != '/' || strncmp(cfg->path, root, n) != 0 || cfg->path[n] != '/') {
		log_err("chroot %s: the configuration file %s is outside it, so SIGHUP could not "
			"re-read it; give -c an absolute path under the chroot", root, cfg->path);
		return -1;
	}
	inside = strdup(cfg->path + n); /* owned by cfg */
	if (inside == NULL)
		return -1;
	free(cfg->path);
	cfg->path = inside;
	return 0;
}

static int lookup_ids(const struct config *cfg, uid_t *uid, gid_t *gid)
{
	if (cfg->user != NULL) {
		struct passwd *pw = getpwnam(cfg->user);
		if (pw == NULL) {
			log_err("user \"%s\": no such user", cfg->user);
			return -1;
		}
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
	}
	if (cfg->group != NULL) {
		struct group *gr = getgrnam(cfg->group);
		if (gr == NULL) {
			log_err("group \"%s\": no such group", cfg->group);
			return -1;
		}
		*gid = gr->gr_gid;
	}
	return 0;
}

int privdrop_apply(struct config *cfg)
{
	uid_t uid = getuid();
	gid_t gid = getgid();

	if (lookup_ids(cfg, &uid, &gid) < 0)
		return -1;
	if (cfg->chroot != NULL) {
		if (path_into_chroot(cfg, cfg->chroot) < 0)
			return -1;
		if (chdir(cfg->chroot) < 0 || chroot(".") < 0 || chdir("/") < 0) {
			log_err("chroot %s: %s", cfg->chroot, strerror(errno));
			return -1;
		}
	}
	if (cfg->user != NULL || cfg->group != NULL) {
		if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
			log_err("cannot switch to user %s, group %s: %s", cfg->user ? cfg->user : "-",
				cfg->group ? cfg->group : "-", strerror(errno));
			return -1;
		}
		if (uid != 0 && setuid(0) == 0) {
			log_err("privileges could be regained after dropping them; stopping");
			return -1;
		}
	}
	if ((getuid() == 0 || geteuid() == 0) && !cfg->allow_root) {
		log_err("refusing to run as root: set user: (and group:) in %s, or allow-root: true",
			cfg->path);
		return -1;
	}
	return 0;
}
