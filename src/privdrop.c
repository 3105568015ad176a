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
 * What the child of check_access found: a message of the configuration loader about the file as
 * SIGHUP reads it ('C'), or a list ('L') or the state-dir ('S') the account cannot use, with the
 * errno and the path as the child opened it. Fixed-size, so the parent reads whole records.
 */
struct finding {
	char kind;
	int err;
	unsigned line, column;
	char text[2048];
};

static void send_finding(int fd, char kind, int err, unsigned line, unsigned column,
	const char *text)
{
	struct finding f = { .kind = kind, .err = err, .line = line, .column = column };

	snprintf(f.text, sizeof(f.text), "%s", text);
	if (write(fd, &f, sizeof(f)) != (ssize_t)sizeof(f))
		_exit(1);
}

/*
 * The child: becomes what the daemon is after privdrop_apply (inside ROOT when not NULL, then
 * UID and GID when SWITCH), loads the configuration file by the path it has there (VIEW), as a
 * SIGHUP does, and tries every enabled list and, with zones, the state-dir, by the paths that
 * reload computes. Every problem is a finding on FD. Never returns.
 */
static void check_child(int fd, const char *root, bool sw, uid_t uid, gid_t gid, const char *view)
{
	struct diag *d;
	struct config *c;

	if (root != NULL && (chdir(root) < 0 || chroot(".") < 0 || chdir("/") < 0))
		_exit(1);
	if (sw && (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0))
		_exit(1);
	if ((d = diag_new()) == NULL)
		_exit(1);
	c = config_load(view, d);
	if (c == NULL) {
		for (size_t i = 0; i < diag_count(d); i++)
			send_finding(fd, 'C', 0, 0, 0, diag_get(d, i));
		_exit(0);
	}
	for (size_t i = 0; i < c->list_count; i++) {
		/* O_NONBLOCK: a FIFO named as a list must not hang --check */
		int lfd;

		if (!c->lists[i].enabled)
			continue;
		if ((lfd = open(c->lists[i].path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
			send_finding(fd, 'L', errno, c->lists[i].line, c->lists[i].column,
				c->lists[i].path);
		else
			close(lfd);
	}
	if (c->zone_count > 0 && access(c->state_dir, W_OK | X_OK) < 0) {
		/* a defaulted state-dir points at the zones */
		struct config_pos at = c->state_dir_pos.line ? c->state_dir_pos :
			(struct config_pos){ c->zones[0].line, c->zones[0].column };
		send_finding(fd, 'S', errno, at.line, at.column, c->state_dir);
	}
	_exit(0); /* the child's copies go with it */
}

/* A loader message of the child, "VIEW:LINE[:COLUMN]: text", put at CFG's own path. */
static void add_loader_finding(const struct config *cfg, struct diag *diag, const char *view,
	const char *msg, const char *who)
{
	size_t n = strlen(view);
	unsigned line = 1, column = 0;
	int used = 0;

	if (strncmp(msg, view, n) == 0 && msg[n] == ':' &&
	    (sscanf(msg + n, ":%u:%u: %n", &line, &column, &used) == 2 ||
	     (column = 0, sscanf(msg + n, ":%u: %n", &line, &used) == 1)) && used > 0)
		msg += n + (size_t)used;
	else
		line = 1, column = 1;
	diag_add(diag, cfg->path, line, column, "%s (as SIGHUP finds %s after the privilege drop, "
		"as %s)", msg, view, who);
}

/*
 * As root with user:, group: or chroot: set, what the daemon needs after privdrop_apply: the
 * configuration file (and so every zone's tsig-secret-file, which loading it reads) as SIGHUP
 * reads it, every enabled list readable and with zones the state-dir writable. Root reads them
 * all at start, so without this check the first SIGHUP would be the one to fail. A child does
 * it the way privdrop_apply does (chroot, then the account), so the answer is the kernel's for
 * the daemon itself: modes, ACLs, every directory on the way, and inside a chroot the paths a
 * reload resolves there (a list named by an absolute path is looked for inside the chroot; one
 * beside the file, by a relative path, is the same file either way). Only in a process with no
 * threads yet.
 */
static void check_access(const struct config *cfg, struct diag *diag)
{
	char who[512], root[PATH_MAX], file[PATH_MAX];
	const char *view = cfg->path, *jail = NULL;
	uid_t uid = 0;
	gid_t gid = getgid();
	bool sw = cfg->user != NULL || cfg->group != NULL;
	struct finding f;
	size_t got = 0, n;
	int fds[2], st = 0;
	pid_t pid;

	if (geteuid() != 0 || (!sw && cfg->chroot == NULL))
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
	if (cfg->chroot != NULL) {
		/* the file's path inside the chroot, as privdrop_apply computes it */
		if (realpath(cfg->chroot, root) == NULL || realpath(cfg->path, file) == NULL ||
		    !under_root(file, root, &n))
			return; /* reported by the caller */
		jail = root;
		view = file + n;
	}
	if (cfg->user != NULL && cfg->group != NULL)
		snprintf(who, sizeof(who), "user \"%s\", group \"%s\"", cfg->user, cfg->group);
	else if (cfg->user != NULL)
		snprintf(who, sizeof(who), "user \"%s\"", cfg->user);
	else if (cfg->group != NULL)
		snprintf(who, sizeof(who), "group \"%s\"", cfg->group);
	else
		snprintf(who, sizeof(who), "root");
	if (jail != NULL)
		snprintf(who + strlen(who), sizeof(who) - strlen(who), " inside chroot %s", cfg->chroot);

	if (pipe2(fds, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		diag_add(diag, cfg->path, 1, 1, "%s: cannot test what it can read (%s)", who,
			strerror(errno));
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		check_child(fds[1], jail, sw, uid, gid, view);
	}
	close(fds[1]);
	for (;;) {
		ssize_t r = read(fds[0], (char *)&f + got, sizeof(f) - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if ((got += (size_t)r) < sizeof(f))
			continue;
		got = 0;
		f.text[sizeof(f.text) - 1] = '\0';
		if (f.kind == 'C')
			add_loader_finding(cfg, diag, view, f.text, who);
		else if (f.kind == 'S')
			diag_add(diag, cfg->path, f.line, f.column, "state-dir %s: not writable by %s "
				"(%s): transferred zones could not be kept", f.text, who,
				strerror(f.err));
		else
			diag_add(diag, cfg->path, f.line, f.column, "list %s: not readable by %s "
				"(%s); SIGHUP reads it again after the privilege drop", f.text, who,
				strerror(f.err));
	}
	close(fds[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		diag_add(diag, cfg->path, cfg->user ? cfg->user_pos.line : cfg->group ?
			cfg->group_pos.line : cfg->chroot_pos.line, cfg->user ? cfg->user_pos.column :
			cfg->group ? cfg->group_pos.column : cfg->chroot_pos.column,
			"%s: cannot test what it can read (no child process could switch to it)", who);
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
