/*
 * value: text to typed values (see include/value.h). Nothing here knows YAML, the config tree or
 * where the text came from; callers add the position and the key's path to the messages.
 */
#include "value.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>

#include <errno.h>
#include <sys/stat.h>

#include <idn2.h>
#include <ldns/ldns.h>

#define LABEL_MAX 63

/* ---- numbers, booleans, words ---------------------------------------------------------------- */

int value_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max) /* also stops overflow: MAX is far below ULONG_MAX / 10 */
			return -1;
	}
	if (v < min)
		return -1;
	*out = v;
	return 0;
}

int value_parse_bool(const char *s, bool *out)
{
	if (strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0)
		*out = true;
	else if (strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

int value_parse_word(const char *s, const char *const *words, size_t n, size_t *out)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, words[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return -1;
}

/* Indexed by enum policy_action. */
static const char *const action_names[] = {
	[ACTION_NXDOMAIN] = "nxdomain",
	[ACTION_NODATA] = "nodata",
	[ACTION_REFUSED] = "refused",
	[ACTION_DROP] = "drop",
	[ACTION_ALLOW] = "allow",
	[ACTION_REDIRECT] = "redirect",
	[ACTION_DEFAULT] = "default",
};

const char *value_action_name(enum policy_action action)
{
	if ((size_t)action >= sizeof(action_names) / sizeof(action_names[0]))
		return "?";
	return action_names[action];
}

int value_parse_action(const char *s, enum policy_action last, enum policy_action *out)
{
	for (int a = ACTION_NXDOMAIN; a <= (int)last; a++) {
		if (strcasecmp(s, action_names[a]) == 0) {
			*out = (enum policy_action)a;
			return 0;
		}
	}
	return -1;
}

/* ---- names ----------------------------------------------------------------------------------- */

static bool is_label_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

char *value_name_to_ascii(const char *text, const char **err)
{
	static _Thread_local char msg[160];
	char *ascii = NULL; /* allocated by libidn2, freed by the caller with free() */
	int rc = idn2_to_ascii_8z(text, &ascii, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);

	if (rc == IDN2_OK)
		return ascii;
	snprintf(msg, sizeof(msg), "invalid internationalized name: %s", idn2_strerror(rc));
	*err = msg;
	return NULL;
}

/* The slow path for a name with non-ASCII bytes: libidn2 first, then the ASCII rules. */
static int parse_idn(const char *text, size_t len, uint8_t *out, size_t *out_len,
	const char **err)
{
	char buf[1024];
	char *ascii; /* owned, freed below */
	int rc;

	if (len >= sizeof(buf)) {
		*err = "name longer than 255 octets";
		return -1;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	if ((ascii = value_name_to_ascii(buf, err)) == NULL)
		return -1;
	rc = value_parse_name_len(ascii, strlen(ascii), out, out_len, err);
	free(ascii);
	return rc;
}

/*
 * Writes the wire form while it checks, so a list line is converted in one pass without an
 * allocation. Problems inside a label are found before the name's length: a 64-octet label in a
 * long name is reported as what it is. Past 255 octets nothing more is written, but the rest is
 * still checked for that reason.
 */
int value_parse_name_len(const char *text, size_t len, uint8_t *out, size_t *out_len,
	const char **err)
{
	size_t w = 1, label = 0; /* w: next byte of OUT; OUT[w - label - 1] is the length octet */
	bool too_long = false;

	if (len == 0) {
		*err = "empty name";
		return -1;
	}
	if (len == 1 && text[0] == '.') {
		out[0] = 0;
		*out_len = 1;
		return 0;
	}
	if (text[len - 1] == '.')
		len--;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = value_lower((uint8_t)text[i]);

		if (c >= 0x80)
			return parse_idn(text, len, out, out_len, err);
		if (c == '.') {
			if (label == 0)
				goto empty;
			if (!too_long)
				out[w - label - 1] = (uint8_t)label;
			label = 0;
			w++;
			continue;
		}
		if (!is_label_char(c)) {
			*err = c == '*' ? "\"*\" is only allowed as a leading \"*.\"" :
				"invalid character: expected letters, digits, \"-\", \"_\" and \".\"";
			return -1;
		}
		if (++label > LABEL_MAX) {
			*err = "label longer than 63 octets";
			return -1;
		}
		too_long |= w + 2 > CONFIG_NAME_MAX; /* this byte and the root label */
		if (!too_long)
			out[w] = c;
		w++;
	}
	if (label == 0)
		goto empty;
	if (too_long) {
		*err = "name longer than 255 octets";
		return -1;
	}
	out[w - label - 1] = (uint8_t)label;
	out[w++] = 0;
	*out_len = w;
	return 0;
empty:
	*err = "empty label";
	return -1;
}

int value_parse_name(const char *text, uint8_t *out, size_t *out_len, const char **err)
{
	return value_parse_name_len(text, strlen(text), out, out_len, err);
}

static bool plain_char(uint8_t c)
{
	return is_label_char(value_lower(c)) || c == '*';
}

size_t value_name_format(const uint8_t *name, char *buf)
{
	size_t w = 0;

	for (const uint8_t *l = name; *l != 0; l += 1 + *l) {
		if (l != name)
			buf[w++] = '.';
		for (size_t i = 1; i <= *l; i++) {
			if (plain_char(l[i]))
				buf[w++] = (char)l[i];
			else
				w += (size_t)sprintf(buf + w, "\\%03u", l[i]);
		}
	}
	buf[w] = '\0';
	return w;
}

int value_parse_pattern(const char *text, uint8_t *out, size_t *out_len, enum match_form *form,
	char *presentation, const char **err)
{
	bool below = strncmp(text, "*.", 2) == 0;

	if (below)
		text += 2; /* the "*." selects the form; the wire name is the part after it */
	if (below && (text[0] == '\0' || strcmp(text, ".") == 0)) {
		*err = "expected a name after \"*.\"";
		return -1;
	}
	if (value_parse_name(text, out, out_len, err) < 0)
		return -1;
	*form = below ? MATCH_BELOW : MATCH_SUBTREE;
	memcpy(presentation, "*.", 2);
	if (value_name_format(out, presentation + 2) == 0)
		strcpy(presentation + 2, "."); /* the root */
	if (!below)
		memmove(presentation, presentation + 2, strlen(presentation + 2) + 1);
	return 0;
}

/* ---- endpoints and addresses ----------------------------------------------------------------- */

int value_parse_endpoint(const char *text, uint16_t default_port, struct config_endpoint *out,
	const char **err)
{
	char host[INET6_ADDRSTRLEN];
	uint8_t bin[16];
	const char *start = text, *end, *port = NULL, *colon;
	unsigned long portnum = default_port;
	uint16_t port16;
	int family = AF_INET;

	if (text[0] == '[') {
		start = text + 1;
		end = strchr(start, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
			*err = VALUE_ENDPOINT_FORM;
			return -1;
		}
		if (end[1] == ':')
			port = end + 2;
		family = AF_INET6;
	} else if ((colon = strchr(text, ':')) != NULL && strchr(colon + 1, ':') != NULL) {
		end = text + strlen(text); /* two colons: a bare IPv6 address, which cannot carry a port */
		family = AF_INET6;
	} else if (colon != NULL) {
		end = colon;
		port = colon + 1;
	} else {
		end = text + strlen(text);
	}
	if (end == start || (size_t)(end - start) >= sizeof(host)) {
		*err = VALUE_ENDPOINT_ADDR;
		return -1;
	}
	memcpy(host, start, (size_t)(end - start));
	host[end - start] = '\0';
	if ((port != NULL && value_parse_uint(port, 1, 65535, &portnum) < 0) || portnum == 0) {
		*err = VALUE_ENDPOINT_PORT;
		return -1;
	}

	port16 = (uint16_t)portnum; /* the type tells the compiler the text fits */
	if (inet_pton(family, host, bin) != 1) {
		*err = VALUE_ENDPOINT_ADDR;
		return -1;
	}
	memset(out, 0, sizeof(*out));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->addr;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port16);
		memcpy(&sin->sin_addr, bin, 4);
		out->addrlen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->addr;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port16);
		memcpy(&sin6->sin6_addr, bin, 16);
		out->addrlen = sizeof(*sin6);
	}
	inet_ntop(family, bin, host, sizeof(host)); /* the canonical spelling */
	snprintf(out->text, sizeof(out->text), family == AF_INET ? "%s:%u" : "[%s]:%u", host,
		(unsigned)port16);
	return 0;
}

int value_parse_addr(const char *text, int family, uint8_t *out)
{
	uint8_t buf[16];

	if (inet_pton(family, text, buf) != 1)
		return -1;
	memcpy(out, buf, family == AF_INET ? 4 : 16);
	return 0;
}

const char *value_parse_cidr(const char *text, struct config_cidr *out)
{
	static const char form[] = "expected ADDR/PREFIX with an IPv4 or IPv6 address";
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t hlen = slash ? (size_t)(slash - text) : strlen(text);
	unsigned long prefix;
	unsigned max;

	memset(out, 0, sizeof(*out));
	if (hlen == 0 || hlen >= sizeof(host))
		return form;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1)
		out->family = AF_INET;
	else if (inet_pton(AF_INET6, host, out->addr) == 1)
		out->family = AF_INET6;
	else
		return form;
	max = out->family == AF_INET ? 32 : 128;
	if (slash != NULL && value_parse_uint(slash + 1, 0, max, &prefix) < 0)
		return out->family == AF_INET ? "expected a prefix length 0..32" :
			"expected a prefix length 0..128";
	out->prefix = slash != NULL ? (unsigned)prefix : max;
	for (unsigned bit = out->prefix; bit < max; bit++)
		if (out->addr[bit / 8] & (0x80 >> (bit % 8)))
			return "host bits set after the prefix length";
	return NULL;
}

/* ---- times ----------------------------------------------------------------------------------- */

/* Days from 1970-01-01 to Y-M-D in the proleptic Gregorian calendar (Howard Hinnant's method). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* N decimal digits at *P, advancing it. Returns -1 when they are not all digits. */
static int take_digits(const char **p, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (**p - '0');
	}
	return v;
}

static bool take_char(const char **p, const char *set)
{
	if (**p == '\0' || strchr(set, **p) == NULL)
		return false;
	(*p)++;
	return true;
}

int value_parse_time(const char *text, int64_t *out)
{
	static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = text;
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	bool leap;

	if ((y = take_digits(&p, 4)) < 0 || !take_char(&p, "-") || (mo = take_digits(&p, 2)) < 0 ||
		!take_char(&p, "-") || (d = take_digits(&p, 2)) < 0 || !take_char(&p, "Tt") ||
		(h = take_digits(&p, 2)) < 0 || !take_char(&p, ":") || (mi = take_digits(&p, 2)) < 0 ||
		!take_char(&p, ":") || (sec = take_digits(&p, 2)) < 0)
		return -1;
	if (take_char(&p, ".")) {
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (!take_char(&p, "Zz")) {
		sign = *p == '+' ? 1 : *p == '-' ? -1 : 0;
		if (sign == 0 || !take_char(&p, "+-") || (oh = take_digits(&p, 2)) < 0 ||
			!take_char(&p, ":") || (om = take_digits(&p, 2)) < 0 || oh > 23 || om > 59)
			return -1;
	}
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (*p != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 ||
		(unsigned)d > mdays[mo - 1] - (mo == 2 && !leap) || h > 23 || mi > 59 || sec > 60)
		return -1;
	*out = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec -
		sign * (oh * 3600 + om * 60);
	return 0;
}

/* ---- secrets -------------------------------------------------------------------------------- */

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

const char *value_read_secret(const char *path, char **out)
{
	static _Thread_local char msg[160];
	char buf[1024];
	struct stat st;
	size_t n, b, e;
	FILE *fp = fopen(path, "re"); /* owned, closed below */
	ldns_rdf *bin = NULL;         /* owned, freed below: only to check the base64 */

	if (fp == NULL) {
		snprintf(msg, sizeof(msg), "%s: %s", path, strerror(errno));
		return msg;
	}
	n = fstat(fileno(fp), &st) == 0 ? fread(buf, 1, sizeof(buf) - 1, fp) : 0;
	fclose(fp);
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		snprintf(msg, sizeof(msg), "%s: readable by others (mode %03o): chmod 600 it", path,
			(unsigned)(st.st_mode & 0777));
		return msg;
	}
	for (b = 0; b < n && blank(buf[b]); b++)
		;
	for (e = n; e > b && blank(buf[e - 1]); e--)
		;
	buf[e] = '\0';
	if (e == b || ldns_str2rdf_b64(&bin, buf + b) != LDNS_STATUS_OK) {
		snprintf(msg, sizeof(msg), "%s: expected a base64 secret", path);
		return msg;
	}
	ldns_rdf_deep_free(bin);
	if ((*out = strdup(buf + b)) == NULL)
		return "out of memory";
	return NULL;
}

/* ---- paths ----------------------------------------------------------------------------------- */

char *value_path_beside(const char *base, const char *text)
{
	const char *slash = strrchr(base, '/');
	size_t dir = slash != NULL ? (size_t)(slash - base) + 1 : 0;
	char *out;

	if (text[0] == '/' || dir == 0)
		return strdup(text);
	if ((out = malloc(dir + strlen(text) + 1)) == NULL)
		return NULL;
	memcpy(out, base, dir);
	strcpy(out + dir, text);
	return out;
}
