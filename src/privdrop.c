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
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* Shared by --check (privdrop_check) and start-up (privdrop_apply): the same words either way. */
#define NO_USER "user \"%s\": no such user"
#define NO_GROUP "group \"%s\": no such group"
#define CHROOT_OUTSIDE "chroot %s: the configuration file %s is outside it, so SIGHUP could not " \
	"re-read it; give -c an absolute path under the chroot"

/* Whether PATH (absolute) lies under the directory ROOT; N is ROOT's length without trailing /. */
static bool under_root(const char *path, const char *root, size_t *n)
{
	*n = strlen(root);
	while (*n > 1 && root[*n - 1] == '/')
		(*n)--;
	return path[0] == '/' && strncmp(path, root, *n) == 0 && path[*n] == '/';
}

/* Moves cfg->path into the chroot's view of the file system. */
static int path_into_chroot(struct config *cfg, const char *root)
{
	size_t n;
	char *inside;

	if (!under_root(cfg->path, root, &n)) {
		log_err(CHROOT_OUTSIDE, root, cfg->path);
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
			log_err(NO_USER, cfg->user);
			return -1;
		}
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
	}
	if (cfg->group != NULL) {
		struct group *gr = getgrnam(cfg->group);
		if (gr == NULL) {
			log_err(NO_GROUP, cfg->group);
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

int privdrop_check(const struct config *cfg, struct diag *diag)
{
	size_t before = diag_count(diag);

	if (cfg->user != NULL && getpwnam(cfg->user) == NULL)
		diag_add(diag, cfg->path, cfg->user_pos.line, cfg->user_pos.column, NO_USER, cfg->user);
	if (cfg->group != NULL && getgrnam(cfg->group) == NULL)
		diag_add(diag, cfg->path, cfg->group_pos.line, cfg->group_pos.column, NO_GROUP, cfg->group);
	if (cfg->chroot != NULL) {
		struct stat st;
		char root[PATH_MAX], file[PATH_MAX];
		size_t n;

		/* both resolved, as the daemon sees them: a symlinked jail or -c path is fine */
		if (stat(cfg->chroot, &st) < 0 || realpath(cfg->chroot, root) == NULL)
			diag_add(diag, cfg->path, cfg->chroot_pos.line, cfg->chroot_pos.column, "chroot %s: %s",
				cfg->chroot, strerror(errno));
		else if (!S_ISDIR(st.st_mode))
			diag_add(diag, cfg->path, cfg->chroot_pos.line, cfg->chroot_pos.column,
				"chroot %s: not a directory", cfg->chroot);
		else if (realpath(cfg->path, file) == NULL || !under_root(file, root, &n))
			diag_add(diag, cfg->path, cfg->chroot_pos.line, cfg->chroot_pos.column, CHROOT_OUTSIDE,
				cfg->chroot, cfg->path);
	}
	return diag_count(diag) > before ? -1 : 0;
}
