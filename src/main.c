/*
 * main: the command line. Loads and validates the configuration (or only checks it with
 * --check), binds the sockets while errors can still go to the terminal, optionally detaches,
 * and hands over to the server. Exit codes are part of the operator interface (README.md):
 * 0 success, 1 invalid configuration, 2 usage error, 3 start-up or run-time failure.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "export.h"
#include "log.h"
#include "pidfile.h"
#include "policy.h"
#include "server.h"

#define BLOKIR_VERSION "0.1.0"
#define EXIT_CONFIG 1
#define EXIT_USAGE 2
#define EXIT_RUNTIME 3
#define MAX_OVERRIDES 16
_Static_assert(MAX_OVERRIDES <= CONFIG_UPSTREAMS_MAX, "-u may not give more upstreams than a file");

struct options {
	const char *config_path;
	const char *pidfile;
	bool check, foreground, verbose, allow_root;
	const char *listen[MAX_OVERRIDES];
	size_t nlisten;
	const char *upstream[MAX_OVERRIDES];
	size_t nupstream;
};

static void usage(FILE *to)
{
	fprintf(to,
		"usage: blokir -c FILE [options]\n"
		"       blokir export --rpz -c FILE [--origin NAME]\n"
		"  -c, --config FILE       policy and settings (YAML)\n"
		"  -t, --check             validate FILE, print every error, exit 0 or 1\n"
		"  -l, --listen ADDR:PORT  listen here instead of the file's listen: (repeatable)\n"
		"  -u, --upstream ADDR[:PORT]  forward here instead of the file's upstreams: (repeatable)\n"
		"  -f, --foreground        stay in the foreground, log to stderr\n"
		"  -p, --pidfile FILE      write the process ID to FILE\n"
		"  -v, --verbose           debug logging\n"
		"      --allow-root        keep running as root when no user: is configured\n"
		"  -h, --help              this text\n"
		"  -V, --version           print the version\n"
		"export: write the effective policy (YAML entries and lists, as in force now) as an RPZ\n"
		"  zone to stdout, origin NAME (default " EXPORT_ORIGIN_DEFAULT "); refused entries become\n"
		"  NXDOMAIN (RPZ has no REFUSED); the word export must come first\n"
		"exit codes: 0 ok, 1 invalid configuration, 2 usage error, 3 start-up failure\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 't' },
		{ "listen", required_argument, NULL, 'l' },
		{ "upstream", required_argument, NULL, 'u' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "allow-root", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:tl:u:fp:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config_path = optarg; break;
		case 't': o->check = true; break;
		case 'f': o->foreground = true; break;
		case 'p': o->pidfile = optarg; break;
		case 'v': o->verbose = true; break;
		case 'R': o->allow_root = true; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("blokir %s\n", BLOKIR_VERSION); exit(0);
		case 'l':
		case 'u': {
			const char **arr = c == 'l' ? o->listen : o->upstream;
			size_t *n = c == 'l' ? &o->nlisten : &o->nupstream;
			if (*n == MAX_OVERRIDES) {
				fprintf(stderr, "blokir: at most %d --%s options\n", MAX_OVERRIDES,
					c == 'l' ? "listen" : "upstream");
				return -1;
			}
			arr[(*n)++] = optarg;
			break;
		}
		default:
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "blokir: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	if (o->config_path == NULL) {
		fprintf(stderr, "blokir: no configuration file given (-c FILE)\n");
		return -1;
	}
	return 0;
}

/* Replaces *ARR with the endpoints given on the command line. */
static int apply_overrides(const char *const *texts, size_t n, uint16_t port, const char *what,
	struct config_endpoint **arr, size_t *count)
{
	struct config_endpoint *eps;

	if (n == 0)
		return 0;
	eps = calloc(n, sizeof(*eps)); /* owned by the config from here on */
	if (eps == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *err;
		if (config_parse_endpoint(texts[i], port, &eps[i], &err) < 0) {
			fprintf(stderr, "blokir: --%s %s: %s\n", what, texts[i], err);
			free(eps);
			return -1;
		}
	}
	free(*arr);
	*arr = eps;
	*count = n;
	return 0;
}

static void print_diag(const struct diag *d)
{
	for (size_t i = 0; i < diag_count(d); i++)
		fprintf(stderr, "%s\n", diag_get(d, i));
}

/*
 * A daemon changes its directory to "/", but SIGHUP re-reads the file and the pidfile is removed
 * at exit, so relative paths given on the command line are resolved first.
 */
static int make_paths_absolute(struct config *cfg, struct options *o, char *pid_buf,
	size_t pid_cap)
{
	char *abs = realpath(cfg->path, NULL); /* owned by cfg from here */
	char cwd[2048];

	if (abs == NULL) {
		log_err("%s: %s", cfg->path, strerror(errno));
		return -1;
	}
	free(cfg->path);
	cfg->path = abs;
	if (o->pidfile && o->pidfile[0] != '/') {
		if (getcwd(cwd, sizeof(cwd)) == NULL ||
		    (size_t)snprintf(pid_buf, pid_cap, "%s/%s", cwd, o->pidfile) >= pid_cap) {
			log_err("pidfile %s: cannot make the path absolute", o->pidfile);
			return -1;
		}
		o->pidfile = pid_buf;
	}
	return 0;
}

/* Options of `blokir export`: the word "export" is argv[0] here. Returns -1 on a usage error. */
static int parse_export_args(int argc, char **argv, const char **config, const char **origin)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "rpz", no_argument, NULL, 'r' },
		{ "origin", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool rpz = false;
	int c;

	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': *config = optarg; break;
		case 'r': rpz = true; break;
		case 'o': *origin = optarg; break;
		case 'h': usage(stdout); exit(0);
		default: return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "blokir: export: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	/* RPZ is the only format today; asking for it by name leaves room for others */
	if (!rpz || *config == NULL) {
		fprintf(stderr, "blokir: export: needs --rpz and -c FILE\n");
		return -1;
	}
	return 0;
}

/*
 * `blokir export --rpz -c FILE`: loads FILE and its lists exactly as start-up does (errors as
 * --check prints them, exit 1), then writes the policy in force now as an RPZ zone to stdout.
 */
static int run_export(int argc, char **argv)
{
	static char outbuf[1 << 20]; /* a 2-million-name zone is ~60 MB: write it in big blocks */
	const char *path = NULL, *origin = NULL;
	struct export_stats st;
	struct diag *d = NULL;
	struct config *cfg = NULL;
	struct policy *pol = NULL;
	int rc = EXIT_CONFIG;

	if (parse_export_args(argc, argv, &path, &origin) < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	log_init(LOG_LEVEL_INFO, false);
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	if ((d = diag_new()) == NULL)
		return EXIT_RUNTIME;
	if ((cfg = config_load(path, d)) != NULL)
		pol = policy_new(cfg, d);
	if (pol == NULL)
		goto fail;
	rc = EXIT_RUNTIME;
	if (export_rpz(cfg, pol, origin, policy_now(), stdout, d, &st) < 0)
		goto fail;
	fprintf(stderr, "blokir: export: %zu triggers written, %zu not expressible\n", st.triggers,
		st.skipped);
	rc = 0;
	goto out;
fail:
	print_diag(d);
	if (diag_count(d) == 0)
		fprintf(stderr, "blokir: %s: out of memory\n", path);
out:
	policy_free(pol);
	config_free(cfg);
	diag_free(d);
	return rc;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct diag *d = NULL;
	struct config *cfg = NULL;
	struct policy *pol = NULL;
	struct server *srv = NULL;
	char pidfile_abs[4096];
	int rc = EXIT_CONFIG;

	if (argc > 1 && strcmp(argv[1], "export") == 0)
		return run_export(argc - 1, argv + 1);
	if (parse_args(argc, argv, &o) < 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	log_init(o.verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, false);
	d = diag_new();
	if (d == NULL)
		return EXIT_RUNTIME;
	cfg = config_load(o.config_path, d);
	if (cfg != NULL)
		pol = policy_new(cfg, d);
	if (pol == NULL) {
		print_diag(d);
		if (diag_count(d) == 0)
			fprintf(stderr, "blokir: %s: out of memory\n", o.config_path);
		goto out;
	}
	if (o.check) {
		printf("%s: ok, %zu domain entries, %zu enabled, %zu list names\n", o.config_path,
			cfg->domain_count, policy_rule_count(pol), policy_list_names(pol));
		rc = 0;
		goto out;
	}
	rc = EXIT_USAGE;
	if (apply_overrides(o.listen, o.nlisten, 53, "listen", &cfg->listen, &cfg->listen_count) < 0 ||
	    apply_overrides(o.upstream, o.nupstream, 53, "upstream", &cfg->upstreams,
		&cfg->upstream_count) < 0)
		goto out;
	rc = EXIT_RUNTIME;
	if ((!o.foreground || cfg->chroot) &&
	    make_paths_absolute(cfg, &o, pidfile_abs, sizeof(pidfile_abs)) < 0)
		goto out;
	cfg->allow_root |= o.allow_root;
	if (cfg->workers == 0)
		cfg->workers = server_auto_workers(sysconf(_SC_NPROCESSORS_ONLN));
	srv = server_new(cfg, pol); /* owns cfg and pol from here, even on failure */
	cfg = NULL;
	pol = NULL;
	if (srv == NULL || server_bind(srv) < 0)
		goto out;
	if (!o.foreground) {
		if (daemon(0, 0) < 0) {
			log_err("daemon: %s", strerror(errno));
			goto out;
		}
		log_init(o.verbose ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, true);
	}
	if (o.pidfile && pidfile_write(o.pidfile, getpid()) < 0)
		goto out;
	rc = server_run(srv);
	if (o.pidfile)
		unlink(o.pidfile);
out:
	server_free(srv);
	policy_free(pol);
	config_free(cfg);
	diag_free(d);
	return rc;
}
