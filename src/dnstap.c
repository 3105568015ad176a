/*
 * dnstap: packing dnstap messages and handing them to libfstrm (see include/dnstap.h).
 *
 * A socket uses fstrm's own unix writer. A file uses fstrm's writer over a read/write object of
 * ours instead of fstrm's file writer, for one reason: logrotate. fstrm's writer hands its
 * rdwr whole frames per write call, so between two calls our rdwr can end the current file
 * with a STOP control frame, open the path afresh and begin it with a START frame carrying the
 * content type, and no frame is lost or split across files. Only the I/O thread ever calls it.
 * A socket has an rdwr of ours as well, for the connection's state (see the socket rdwr).
 */
#include "dnstap.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <fstrm.h>
#include <protobuf-c/protobuf-c.h>

#include "dnstap.pb-c.h"
#include "log.h"

#define CONTENT_TYPE "protobuf:dnstap.Dnstap"
#define QUEUE_SIZE 16384 /* fstrm's largest input queue: a few ms of a busy worker's traffic */

/* The rdwr object for a file. */
struct tapfile {
	char *path;            /* owned */
	int fd;
	bool wrote;            /* the writer's START frame went into the current file */
	_Atomic bool reopen;   /* set by any thread, acted on by the I/O thread */
};

struct dnstap {
	struct fstrm_iothr *iothr;          /* owned */
	struct fstrm_iothr_queue **queues;  /* borrowed from iothr, one per worker */
	unsigned queue_count;
	_Atomic unsigned types;             /* dnstap_set changes it while workers read it */
	struct tapfile *file;               /* owned by the rdwr (freed by its destroy); NULL: socket */
	struct tapsock *sock;               /* the same for a socket; NULL: file */
	_Atomic(char *) identity;           /* owned; dnstap_set replaces it while workers read it */
	char **old_identities;              /* owned: the replaced ones, which a worker may still be
	                                       packing, freed with the dnstap */
	size_t nold;
	char *version;                      /* owned */
};

/* ---- the file rdwr ------------------------------------------------------------------------- */

static int file_create(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0640);
}

static fstrm_res file_open(void *obj)
{
	struct tapfile *f = obj;

	f->fd = file_create(f->path);
	if (f->fd < 0) {
		log_err("dnstap file %s: %s", f->path, strerror(errno));
		return fstrm_res_failure;
	}
	f->wrote = false;
	return fstrm_res_success;
}

static fstrm_res file_close(void *obj)
{
	struct tapfile *f = obj;

	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	return fstrm_res_success;
}

static fstrm_res file_destroy(void *obj)
{
	struct tapfile *f = obj;

	free(f->path);
	free(f);
	return fstrm_res_success;
}

static int write_all(int fd, struct iovec *iov, int iovcnt)
{
	while (iovcnt > 0) {
		ssize_t r = writev(fd, iov, iovcnt);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		while (iovcnt > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/* A control frame of TYPE (with the content type for START), escape and length included. */
static int control_frame(fstrm_control_type type, uint8_t *buf, size_t *len)
{
	struct fstrm_control *c = fstrm_control_init();
	int rc = -1;

	if (c == NULL)
		return -1;
	if (fstrm_control_set_type(c, type) == fstrm_res_success &&
	    (type != FSTRM_CONTROL_START ||
	     fstrm_control_add_field_content_type(c, (const uint8_t *)CONTENT_TYPE,
		     strlen(CONTENT_TYPE)) == fstrm_res_success) &&
	    fstrm_control_encode(c, buf, len, FSTRM_CONTROL_FLAG_WITH_HEADER) == fstrm_res_success)
		rc = 0;
	fstrm_control_destroy(&c);
	return rc;
}

/* Ends the current file and starts a new one at the path; keeps the old one if that fails. */
static void file_rotate(struct tapfile *f)
{
	uint8_t frame[FSTRM_CONTROL_FRAME_LENGTH_MAX];
	size_t len = sizeof(frame);
	int fd = file_create(f->path);

	if (fd < 0) {
		log_err("dnstap file %s: reopen: %s; still writing to the file open before", f->path,
			strerror(errno));
		return;
	}
	if (control_frame(FSTRM_CONTROL_STOP, frame, &len) == 0) {
		struct iovec v = { frame, len };
		if (write_all(f->fd, &v, 1) < 0)
			log_warn("dnstap file %s: cannot end the old file: %s", f->path, strerror(errno));
	}
	close(f->fd);
	f->fd = fd;
	len = sizeof(frame);
	if (control_frame(FSTRM_CONTROL_START, frame, &len) == 0) {
		struct iovec v = { frame, len };
		if (write_all(f->fd, &v, 1) < 0)
			log_warn("dnstap file %s: cannot start the new file: %s", f->path,
				strerror(errno));
	}
	log_info("dnstap file %s: reopened", f->path);
}

static fstrm_res file_write(void *obj, const struct iovec *iov, int iovcnt)
{
	struct tapfile *f = obj;
	struct iovec v[IOV_MAX];

	if (f->wrote && atomic_exchange(&f->reopen, false))
		file_rotate(f);
	if (iovcnt > IOV_MAX)
		return fstrm_res_failure; /* fstrm's output queue is at most IOV_MAX */
	memcpy(v, iov, sizeof(*iov) * (size_t)iovcnt);
	if (write_all(f->fd, v, iovcnt) < 0) {
		log_err("dnstap file %s: write: %s", f->path, strerror(errno));
		return fstrm_res_failure;
	}
	f->wrote = true;
	return fstrm_res_success;
}

/* ---- the socket rdwr ----------------------------------------------------------------------- */

/*
 * A unix socket is written through an rdwr of ours too, rather than fstrm's unix writer, so that
 * blokir knows whether a collector is connected: fstrm's I/O thread throws away what it takes
 * from the queues while its writer is closed, without a word, and those messages would be
 * neither in the collector's stream nor in dnstap-dropped. dnstap_log refuses (and the worker
 * counts) a message while no collector is connected instead. The I/O thread logs each change
 * of the connection's state once, not each retry.
 */
enum tapsock_state { SOCK_UNTRIED, SOCK_CONNECTED, SOCK_DOWN };

struct tapsock {
	struct sockaddr_un sa;
	int fd;
	_Atomic int state;  /* enum tapsock_state: written by the I/O thread, read by the workers */
	_Atomic int last_err; /* the errno of the last failure (written by the I/O thread) */
	int told;             /* the cause of connect failures last logged, -1 after a loss was
	                         (I/O thread only): each cause is logged once */
};

static fstrm_res sock_open(void *obj)
{
	struct tapsock *s = obj;
	int err;

	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd >= 0 && connect(s->fd, (const struct sockaddr *)&s->sa, sizeof(s->sa)) == 0) {
		if (atomic_exchange(&s->state, SOCK_CONNECTED) == SOCK_DOWN)
			log_info("dnstap socket %s: connected", s->sa.sun_path);
		atomic_store(&s->last_err, 0);
		s->told = 0;
		return fstrm_res_success;
	}
	err = errno;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	atomic_store(&s->last_err, err); /* before the state, which dnstap_new reads */
	/* the first attempt is reported by dnstap_new, and right after a lost connection
	 * (the collector is restarting) nothing more is said; later ones once per cause */
	if (atomic_exchange(&s->state, SOCK_DOWN) != SOCK_UNTRIED && s->told != -1 && err != s->told)
		log_warn("dnstap socket %s: cannot connect: %s; messages are dropped (dnstap-dropped) "
			"until a collector listens, tried every second", s->sa.sun_path, strerror(err));
	s->told = err;
	return fstrm_res_failure;
}

static fstrm_res sock_close(void *obj)
{
	struct tapsock *s = obj;

	if (s->fd >= 0) {
		close(s->fd);
		s->fd = -1;
	}
	return fstrm_res_success;
}

/* The stream broke (the collector went away): closed, and marked down for the workers. */
static fstrm_res sock_lost(struct tapsock *s, int err)
{
	atomic_store(&s->last_err, err);
	s->told = -1;
	if (atomic_exchange(&s->state, SOCK_DOWN) == SOCK_CONNECTED)
		log_warn("dnstap socket %s: connection lost: %s; messages are dropped (dnstap-dropped) "
			"until a collector listens again, tried every second", s->sa.sun_path,
			strerror(err));
	return fstrm_res_failure;
}

static fstrm_res sock_read(void *obj, void *buf, size_t len)
{
	struct tapsock *s = obj;

	while (len > 0) {
		ssize_t r = read(s->fd, buf, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return sock_lost(s, r == 0 ? ECONNRESET : errno);
		buf = (char *)buf + r;
		len -= (size_t)r;
	}
	return fstrm_res_success;
}

static fstrm_res sock_write(void *obj, const struct iovec *iov, int iovcnt)
{
	struct tapsock *s = obj;
	struct iovec v[IOV_MAX];
	struct msghdr mh = { .msg_iov = v };

	if (iovcnt > IOV_MAX)
		return fstrm_res_failure;
	memcpy(v, iov, sizeof(*iov) * (size_t)iovcnt);
	mh.msg_iovlen = (size_t)iovcnt;
	while (mh.msg_iovlen > 0) {
		/* MSG_NOSIGNAL: a collector that went away is an EPIPE, not a SIGPIPE */
		ssize_t r = sendmsg(s->fd, &mh, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return sock_lost(s, errno);
		while (mh.msg_iovlen > 0 && (size_t)r >= mh.msg_iov->iov_len) {
			r -= (ssize_t)mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen > 0) {
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + r;
			mh.msg_iov->iov_len -= (size_t)r;
		}
	}
	return fstrm_res_success;
}

static fstrm_res sock_destroy(void *obj)
{
	free(obj);
	return fstrm_res_success;
}

/*
 * Waits (a bounded while) for the I/O thread's first connect, which it makes as it starts, so
 * that a reload moving to a listening collector loses no message to the workers' moving to it
 * before the connection is up; with none listening, says so (the caller of a reload repeats it
 * to the operator, dnstap_connected).
 */
static void sock_first_attempt(struct tapsock *s)
{
	for (int i = 0; i < 1000 && atomic_load(&s->state) == SOCK_UNTRIED; i++)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	if (atomic_load(&s->state) != SOCK_CONNECTED)
		log_warn("dnstap socket %s: no collector listens (%s); messages are dropped "
			"(dnstap-dropped) until one does, tried every second", s->sa.sun_path,
			strerror(atomic_load(&s->last_err) ? atomic_load(&s->last_err) : ETIMEDOUT));
}

static struct fstrm_writer *sock_writer(struct dnstap *d, const char *path,
	const struct fstrm_writer_options *wopt)
{
	struct tapsock *s;
	struct fstrm_rdwr *rdwr;

	if (strlen(path) >= sizeof(s->sa.sun_path)) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	s = calloc(1, sizeof(*s)); /* owned by the rdwr from fstrm_rdwr_init on */
	if (s == NULL)
		return NULL;
	s->sa.sun_family = AF_UNIX;
	memcpy(s->sa.sun_path, path, strlen(path) + 1);
	s->fd = -1;
	atomic_init(&s->state, SOCK_UNTRIED);
	atomic_init(&s->last_err, 0);
	rdwr = fstrm_rdwr_init(s);
	if (rdwr == NULL) {
		free(s);
		return NULL;
	}
	fstrm_rdwr_set_destroy(rdwr, sock_destroy);
	fstrm_rdwr_set_open(rdwr, sock_open);
	fstrm_rdwr_set_close(rdwr, sock_close);
	fstrm_rdwr_set_read(rdwr, sock_read);
	fstrm_rdwr_set_write(rdwr, sock_write);
	d->sock = s;
	return fstrm_writer_init(wopt, &rdwr); /* takes the rdwr, even on failure */
}

/* ---- set-up -------------------------------------------------------------------------------- */

/* IDENTITY, or the host name when NULL, as a string the caller owns; NULL when out of memory. */
static char *identity_dup(const char *identity)
{
	char host[256];

	if (identity == NULL && gethostname(host, sizeof(host)) != 0)
		strcpy(host, "blokir");
	host[sizeof(host) - 1] = '\0';
	return strdup(identity ? identity : host);
}

static struct fstrm_writer *file_writer(struct dnstap *d, const char *path,
	const struct fstrm_writer_options *wopt)
{
	struct tapfile *f = calloc(1, sizeof(*f)); /* owned by the rdwr from fstrm_rdwr_init on */
	struct fstrm_rdwr *rdwr;

	if (f == NULL || (f->path = strdup(path)) == NULL) {
		free(f);
		return NULL;
	}
	f->fd = -1;
	rdwr = fstrm_rdwr_init(f);
	if (rdwr == NULL) {
		file_destroy(f);
		return NULL;
	}
	fstrm_rdwr_set_destroy(rdwr, file_destroy);
	fstrm_rdwr_set_open(rdwr, file_open);
	fstrm_rdwr_set_close(rdwr, file_close);
	fstrm_rdwr_set_write(rdwr, file_write);
	d->file = f;
	return fstrm_writer_init(wopt, &rdwr); /* takes the rdwr, even on failure */
}

struct dnstap *dnstap_new(const struct dnstap_options *opt)
{
	struct dnstap *d = calloc(1, sizeof(*d)); /* owned by the caller; dnstap_free */
	struct fstrm_writer_options *wopt = NULL;
	struct fstrm_iothr_options *iopt = NULL;
	struct fstrm_writer *writer = NULL;
	int err = ENOMEM;

	if (d == NULL)
		goto fail_mem;
	atomic_init(&d->types, opt->types);
	d->queue_count = opt->queues ? opt->queues : 1;
	atomic_init(&d->identity, identity_dup(opt->identity));
	d->version = strdup(opt->version ? opt->version : "blokir");
	d->queues = calloc(d->queue_count, sizeof(*d->queues));
	wopt = fstrm_writer_options_init();
	iopt = fstrm_iothr_options_init();
	if (atomic_load(&d->identity) == NULL || d->version == NULL || d->queues == NULL || wopt == NULL ||
	    iopt == NULL)
		goto fail_mem;
	fstrm_writer_options_add_content_type(wopt, CONTENT_TYPE, strlen(CONTENT_TYPE));

	if (opt->file_path != NULL) {
		/* Created here too, so a bad path is a start-up error rather than a line from the
		 * I/O thread; the I/O thread then opens it again (truncating) as the stream's start. */
		int fd = file_create(opt->file_path);
		if (fd < 0) {
			err = errno;
			log_err("dnstap file %s: %s", opt->file_path, strerror(err));
			goto fail;
		}
		close(fd);
		writer = file_writer(d, opt->file_path, wopt);
	} else {
		writer = sock_writer(d, opt->socket_path, wopt);
		if (writer == NULL && errno == ENAMETOOLONG) {
			err = errno;
			log_err("dnstap socket %s: %s (at most %zu bytes)", opt->socket_path,
				strerror(err), sizeof(d->sock->sa.sun_path) - 1);
			goto fail;
		}
	}
	if (writer == NULL)
		goto fail_mem;
	fstrm_iothr_options_set_num_input_queues(iopt, d->queue_count);
	fstrm_iothr_options_set_input_queue_size(iopt, QUEUE_SIZE);
	fstrm_iothr_options_set_queue_model(iopt, FSTRM_IOTHR_QUEUE_MODEL_SPSC);
	fstrm_iothr_options_set_reopen_interval(iopt, 1);
	d->iothr = fstrm_iothr_init(iopt, &writer); /* takes the writer */
	if (d->iothr == NULL) {
		log_err("dnstap: cannot start fstrm's I/O thread");
		err = EAGAIN;
		goto fail;
	}
	for (unsigned i = 0; i < d->queue_count; i++)
		d->queues[i] = fstrm_iothr_get_input_queue_idx(d->iothr, i);
	if (d->sock != NULL)
		sock_first_attempt(d->sock);
	fstrm_writer_options_destroy(&wopt);
	fstrm_iothr_options_destroy(&iopt);
	return d;
fail_mem:
	log_err("dnstap: out of memory");
	err = ENOMEM;
fail:
	if (writer != NULL)
		fstrm_writer_destroy(&writer);
	if (wopt != NULL)
		fstrm_writer_options_destroy(&wopt);
	if (iopt != NULL)
		fstrm_iothr_options_destroy(&iopt);
	if (d != NULL)
		d->file = NULL, d->sock = NULL; /* went with the writer */
	dnstap_free(d);
	errno = err; /* for a reload's warning */
	return NULL;
}

bool dnstap_wants(const struct dnstap *d, enum dnstap_type t)
{
	return d != NULL &&
		(atomic_load_explicit(&d->types, memory_order_relaxed) & DNSTAP_TYPE_BIT(t)) != 0;
}

int dnstap_set(struct dnstap *d, const char *identity, unsigned types)
{
	char *id = identity_dup(identity), *cur = atomic_load(&d->identity);
	char **old;

	if (id == NULL)
		return -1;
	if (strcmp(id, cur) == 0) {
		free(id);
	} else {
		/* the replaced one stays readable: a worker may be packing a message with it */
		if ((old = realloc(d->old_identities, (d->nold + 1) * sizeof(*old))) == NULL) {
			free(id);
			return -1;
		}
		d->old_identities = old;
		old[d->nold++] = cur;
		atomic_store(&d->identity, id);
	}
	atomic_store_explicit(&d->types, types, memory_order_relaxed);
	return 0;
}

bool dnstap_connected(const struct dnstap *d)
{
	return d->sock == NULL || atomic_load(&d->sock->state) == SOCK_CONNECTED;
}

const char *dnstap_file(const struct dnstap *d)
{
	return d->file != NULL ? d->file->path : NULL;
}

void dnstap_reopen(struct dnstap *d)
{
	if (d != NULL && d->file != NULL)
		atomic_store(&d->file->reopen, true);
}

void dnstap_free(struct dnstap *d)
{
	if (d == NULL)
		return;
	if (d->iothr != NULL)
		fstrm_iothr_destroy(&d->iothr); /* flushes the queues, writes STOP, joins */
	free(d->queues);
	free(atomic_load(&d->identity));
	for (size_t i = 0; i < d->nold; i++)
		free(d->old_identities[i]);
	free(d->old_identities);
	free(d->version);
	free(d);
}

/* ---- messages ------------------------------------------------------------------------------ */

/* Fills the address and port fields from SA; returns the family (0 when SA is unusable). */
static int set_addr(const struct sockaddr *sa, ProtobufCBinaryData *addr, protobuf_c_boolean *has,
	uint32_t *port, protobuf_c_boolean *has_port)
{
	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		addr->data = (uint8_t *)&sin->sin_addr;
		addr->len = 4;
		*port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		addr->data = (uint8_t *)&sin6->sin6_addr;
		addr->len = 16;
		*port = ntohs(sin6->sin6_port);
	} else {
		return 0;
	}
	*has = *has_port = 1;
	return sa->sa_family;
}

static void set_policy(Dnstap__Policy *p, const struct dnstap_policy *dp)
{
	p->type = (char *)(dp->type ? dp->type : "blokir");
	if (dp->rule != NULL) {
		p->has_rule = 1;
		p->rule.data = (uint8_t *)dp->rule;
		p->rule.len = strlen(dp->rule);
	}
	p->has_match = 1;
	p->match = dp->match == DNSTAP_MATCH_CLIENT_IP ? DNSTAP__POLICY__MATCH__CLIENT_IP :
		DNSTAP__POLICY__MATCH__QNAME;
	if (dp->value != NULL) {
		p->has_value = 1;
		p->value.data = (uint8_t *)dp->value;
		p->value.len = dp->value_len;
	}
	p->has_action = 1;
	if (dp->truncate) {
		p->action = DNSTAP__POLICY__ACTION__TRUNCATE;
		return;
	}
	switch (dp->has_action ? dp->action : ACTION_DEFAULT) {
	case ACTION_NXDOMAIN: p->action = DNSTAP__POLICY__ACTION__NXDOMAIN; break;
	case ACTION_NODATA: p->action = DNSTAP__POLICY__ACTION__NODATA; break;
	case ACTION_DROP: p->action = DNSTAP__POLICY__ACTION__DROP; break;
	case ACTION_REDIRECT: p->action = DNSTAP__POLICY__ACTION__LOCAL_DATA; break;
	case ACTION_ALLOW: p->action = DNSTAP__POLICY__ACTION__PASS; break;
	case ACTION_REFUSED: /* dnstap has no REFUSED: the response's rcode says it */
	case ACTION_DEFAULT:
		p->has_action = 0;
		break;
	}
}

int dnstap_log(struct dnstap *d, unsigned queue, const struct dnstap_msg *m)
{
	static const Dnstap__Message__Type types[DNSTAP_TYPE_COUNT] = {
		[DNSTAP_CLIENT_QUERY] = DNSTAP__MESSAGE__TYPE__CLIENT_QUERY,
		[DNSTAP_CLIENT_RESPONSE] = DNSTAP__MESSAGE__TYPE__CLIENT_RESPONSE,
		[DNSTAP_FORWARDER_QUERY] = DNSTAP__MESSAGE__TYPE__FORWARDER_QUERY,
		[DNSTAP_FORWARDER_RESPONSE] = DNSTAP__MESSAGE__TYPE__FORWARDER_RESPONSE,
	};
	Dnstap__Dnstap tap = DNSTAP__DNSTAP__INIT;
	Dnstap__Message msg = DNSTAP__MESSAGE__INIT;
	Dnstap__Policy pol = DNSTAP__POLICY__INIT;
	int64_t t = m->time_ns;
	int fam;

	if (d->sock != NULL && atomic_load_explicit(&d->sock->state, memory_order_relaxed) !=
	    SOCK_CONNECTED)
		return -1; /* fstrm would throw it away unseen; the caller counts it */
	if (t == 0) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		t = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	}
	tap.type = DNSTAP__DNSTAP__TYPE__MESSAGE;
	tap.message = &msg;
	tap.has_identity = tap.has_version = 1;
	const char *identity = atomic_load_explicit(&d->identity, memory_order_acquire);
	tap.identity.data = (uint8_t *)identity;
	tap.identity.len = strlen(identity);
	tap.version.data = (uint8_t *)d->version;
	tap.version.len = strlen(d->version);

	msg.type = types[m->type];
	msg.has_socket_protocol = 1;
	msg.socket_protocol = m->tcp ? DNSTAP__SOCKET_PROTOCOL__TCP : DNSTAP__SOCKET_PROTOCOL__UDP;
	fam = set_addr(m->query_addr, &msg.query_address, &msg.has_query_address, &msg.query_port,
		&msg.has_query_port);
	int rfam = set_addr(m->response_addr, &msg.response_address, &msg.has_response_address,
		&msg.response_port, &msg.has_response_port);
	if (fam == 0)
		fam = rfam;
	if (fam != 0) {
		msg.has_socket_family = 1;
		msg.socket_family = fam == AF_INET ? DNSTAP__SOCKET_FAMILY__INET :
			DNSTAP__SOCKET_FAMILY__INET6;
	}
	bool is_query = m->type == DNSTAP_CLIENT_QUERY || m->type == DNSTAP_FORWARDER_QUERY;
	if (is_query) {
		msg.has_query_time_sec = msg.has_query_time_nsec = 1;
		msg.query_time_sec = (uint64_t)(t / 1000000000);
		msg.query_time_nsec = (uint32_t)(t % 1000000000);
	} else {
		msg.has_response_time_sec = msg.has_response_time_nsec = 1;
		msg.response_time_sec = (uint64_t)(t / 1000000000);
		msg.response_time_nsec = (uint32_t)(t % 1000000000);
	}
	if (m->query != NULL) {
		msg.has_query_message = 1;
		msg.query_message.data = (uint8_t *)m->query;
		msg.query_message.len = m->query_len;
	}
	if (m->response != NULL) {
		msg.has_response_message = 1;
		msg.response_message.data = (uint8_t *)m->response;
		msg.response_message.len = m->response_len;
	}
	if (m->policy != NULL) {
		set_policy(&pol, m->policy);
		msg.policy = &pol;
	}

	size_t len = dnstap__dnstap__get_packed_size(&tap);
	uint8_t *buf = malloc(len); /* owned by fstrm once submitted (fstrm_free_wrapper frees) */
	if (buf == NULL)
		return -1;
	dnstap__dnstap__pack(&tap, buf);
	if (fstrm_iothr_submit(d->iothr, d->queues[queue], buf, len, fstrm_free_wrapper, NULL) !=
	    fstrm_res_success) {
		free(buf);
		return -1;
	}
	return 0;
}
