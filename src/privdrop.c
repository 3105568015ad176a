/*
 * privdrop: chroot, setgid, setuid (see include/privdrop.h).
 *
 * Names are resolved before the chroot, while /etc/passwd and /etc/group are still reachable.
 * Supplementary groups are reduced to the one configured group, and the switch is verified: if
 * root can be regained afterwards, something is wrong and we stop rather than serve as root.
 */
#include "privdrop.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/*
 * A file the daemon opens again after the privilege drop (a list, a zone's TSIG secret: both
 * re-read on every SIGHUP), or the directory it writes zone copies into, with the entry of the
 * configuration file that names it.
 */
struct probe {
	const char *what;   /* the key, for the message: "list", "tsig-secret-file", "state-dir" */
	const char *path;   /* borrowed */
	bool dir;           /* state-dir: searchable and writable, not readable */
	unsigned line, column;
};

/*
 * Tries each of the N probes as UID and GID in a child that drops to them the way privdrop_apply
 * does, so the answer is the kernel's for the daemon itself: modes, ACLs, every directory on the
 * way. ERRS[i] gets probe i's errno, 0 when it is fine. Returns 0, or -1 when the child could not
 * be run or could not switch (nothing is known then). Only in a process with no threads yet.
 */
static int probe_as(uid_t uid, gid_t gid, const struct probe *pr, size_t n, int *errs)
{
	size_t want = n * sizeof(*errs), got = 0;
	int fds[2], st = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	if ((pid = fork()) < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
			_exit(1);
		for (size_t i = 0; i < n; i++) {
			/* O_NONBLOCK: a FIFO named as a list must not hang --check */
			int fd = pr[i].dir ? -1 : open(pr[i].path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
			int e = 0;

			if (pr[i].dir)
				e = access(pr[i].path, W_OK | X_OK) < 0 ? errno : 0;
			else if (fd < 0)
				e = errno;
			else
				close(fd);
			if (write(fds[1], &e, sizeof(e)) != (ssize_t)sizeof(e))
				_exit(1);
		}
		_exit(0);
	}
	close(fds[1]);
	while (got < want) {
		ssize_t r = read(fds[0], (char *)errs + got, want - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fds[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return got == want && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/*
 * As root with user: or group: set, what the daemon needs after dropping to them: every enabled
 * list and every zone's tsig-secret-file readable, and with zones the state-dir writable. Root
 * reads them all at start, so without this check the first SIGHUP would be the one to fail.
 */
static void check_access(const struct config *cfg, struct diag *diag)
{
	/* every enabled list, every zone's secret and the state-dir: at most this many */
	size_t cap = cfg->list_count + cfg->zone_count + 1;
	struct probe *pr = NULL; /* owned, freed at out */
	int *errs = NULL;        /* owned, freed at out */
	char who[256], state[PATH_MAX];
	size_t n = 0;
	uid_t uid = 0;
	gid_t gid = getgid();

	if (geteuid() != 0 || (cfg->user == NULL && cfg->group == NULL))
		return;
	if (cfg->user != NULL) {
		struct passwd *pw = getpwnam(cfg->user);
		if (pw == NULL)
			return; /* reported by the caller */
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (cfg->group != NULL) {
		struct group *gr = getgrnam(cfg->group);
		if (gr == NULL)
			return;
		gid = gr->gr_gid;
	}
	if (cfg->user != NULL && cfg->group != NULL)
		snprintf(who, sizeof(who), "user \"%s\", group \"%s\"", cfg->user, cfg->group);
	else if (cfg->user != NULL)
		snprintf(who, sizeof(who), "user \"%s\"", cfg->user);
	else
		snprintf(who, sizeof(who), "group \"%s\"", cfg->group);
	pr = calloc(cap, sizeof(*pr));
	errs = calloc(cap, sizeof(*errs));
	if (pr == NULL || errs == NULL) {
		diag_add(diag, cfg->path, 1, 1, "out of memory testing what %s can read", who);
		goto out;
	}
	for (size_t i = 0; i < cfg->list_count; i++)
		if (cfg->lists[i].enabled)
			pr[n++] = (struct probe){ "list", cfg->lists[i].path, false,
				cfg->lists[i].line, cfg->lists[i].column };
	for (size_t i = 0; i < cfg->zone_count; i++)
		if (cfg->zones[i].tsig_secret_file != NULL)
			pr[n++] = (struct probe){ "tsig-secret-file", cfg->zones[i].tsig_secret_file,
				false, cfg->zones[i].line, cfg->zones[i].column };
	if (cfg->zone_count > 0) {
		/* with chroot: state-dir is the path inside it; a defaulted one points at the zones */
		struct config_pos at = cfg->state_dir_pos.line ? cfg->state_dir_pos :
			(struct config_pos){ cfg->zones[0].line, cfg->zones[0].column };
		snprintf(state, sizeof(state), "%s%s", cfg->chroot ? cfg->chroot : "", cfg->state_dir);
		pr[n++] = (struct probe){ "state-dir", state, true, at.line, at.column };
	}
	if (n == 0)
		goto out;
	if (probe_as(uid, gid, pr, n, errs) < 0) {
		diag_add(diag, cfg->path, cfg->user ? cfg->user_pos.line : cfg->group_pos.line,
			cfg->user ? cfg->user_pos.column : cfg->group_pos.column,
			"%s: cannot test which files it can read (no child process could switch to it)",
			who);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (errs[i] == 0)
			continue;
		if (pr[i].dir)
			diag_add(diag, cfg->path, pr[i].line, pr[i].column, "%s %s: not writable by %s "
				"(%s): transferred zones could not be kept", pr[i].what, pr[i].path, who,
				strerror(errs[i]));
		else
			diag_add(diag, cfg->path, pr[i].line, pr[i].column, "%s %s: not readable by %s "
				"(%s); SIGHUP reads it again after the privilege drop",
				pr[i].what, pr[i].path, who, strerror(errs[i]));
	}
out:
	free(pr);
	free(errs);
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
	check_access(cfg, diag);
	return diag_count(diag) > before ? -1 : 0;
}
