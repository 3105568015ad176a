/*
 * value: text to typed values, with no knowledge of YAML or of the config tree (Knot's
 * yptrafo.c): numbers, booleans, actions and keywords, domain names, endpoints, RFC 3339 times
 * and networks. config.c applies these to scalars of the policy file, lists.c to list lines,
 * main.c to command-line options, so each value is parsed, and each problem worded, once.
 *
 * Every parser returns 0 (or NULL for the ones returning a message) and fills its out-parameter,
 * or -1 with nothing written; where a parser can fail for several reasons it sets *ERR to a static
 * description of what was expected. The VALUE_*_EXPECTED texts are what a caller reports when it
 * has no more precise message (a sequence where a scalar belongs, a failed number).
 *
 * The ASCII lower-casing helper lives here too: names are compared in lower case everywhere
 * (matcher, cache, answer checks), and "A" to "Z" are the only letters DNS folds (RFC 4343).
 */
#ifndef BLOKIR_VALUE_H
#define BLOKIR_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "configdata.h" /* the value types: enum policy_action, struct config_endpoint */

#define VALUE_BOOL_EXPECTED "expected true or false"
#define VALUE_NAME_EXPECTED "expected a domain name"
#define VALUE_TIME_EXPECTED "expected an RFC 3339 time such as 2017-08-10T00:00:00+07:00"
#define VALUE_STRING_EXPECTED "expected a string"
#define VALUE_ACTION_EXPECTED "expected one of nxdomain, nodata, refused, drop, allow, redirect"
#define VALUE_ENDPOINT_FORM "expected ADDR:PORT, [IPV6]:PORT or an address alone"
#define VALUE_ENDPOINT_ADDR "expected an IPv4 or IPv6 address"
#define VALUE_ENDPOINT_PORT "expected a port 1..65535"

/*
 * Decimal only, MIN..MAX (MAX far below ULONG_MAX / 10). Leading zeros are refused because YAML
 * 1.1 reads "010" as octal 8: an operator who wrote it meant one of the two, and we would rather
 * ask than guess.
 */
int value_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *out);

/* YAML 1.1 booleans, the spellings operators use: true/false, yes/no, any case. */
int value_parse_bool(const char *s, bool *out);

/* One of the N words WORDS (exact, case-sensitive): its index in *OUT. */
int value_parse_word(const char *s, const char *const *words, size_t n, size_t *out);

/* An action by name (any case), ACTION_NXDOMAIN up to and including LAST. */
int value_parse_action(const char *s, enum policy_action last, enum policy_action *out);

/* "nxdomain" etc.: the name used in the file and in logs; "default" for ACTION_DEFAULT. */
const char *value_action_name(enum policy_action action);

/*
 * THE name validation: a domain name in presentation form, LEN bytes at TEXT (not necessarily
 * NUL-terminated), trailing dot optional, case-insensitive, to lower-case wire format in OUT
 * (CONFIG_NAME_MAX bytes). Letters, digits, "-" and "_" only; "." alone is the root. A "*" is
 * refused: a caller that accepts the "*.name" form strips the "*." first. A name with non-ASCII
 * bytes is first converted to A-labels with libidn2 (IDNA2008 nontransitional, NFC input), so
 * "bücher.example" is "xn--bcher-kva.example"; *ERR may then point to a thread-local buffer,
 * valid until the thread's next call. Allocation-free for ASCII names: lists feed it millions.
 */
int value_parse_name_len(const char *text, size_t len, uint8_t *out, size_t *out_len,
	const char **err);

/* value_parse_name_len on a NUL-terminated TEXT. */
int value_parse_name(const char *text, uint8_t *out, size_t *out_len, const char **err);

/* The A-label form of a name with Unicode labels (caller frees), or NULL with *ERR set. */
char *value_name_to_ascii(const char *text, const char **err);

/* Longest presentation text of a wire name: 255 octets, each escaped as \DDD at worst, a NUL. */
#define VALUE_NAME_TEXT_MAX (CONFIG_NAME_MAX * 4 + 1)

/*
 * The wire name NAME as presentation text into BUF (VALUE_NAME_TEXT_MAX bytes), without the
 * trailing dot; "" for the root. Octets other than letters, digits, "-", "_" and "*" are escaped
 * as \DDD, so the text reads back as the same name. Returns the text's length.
 */
size_t value_name_format(const uint8_t *name, char *buf);

/*
 * A domains entry's name: "name" (MATCH_SUBTREE: itself and below) or "*.name" (MATCH_BELOW:
 * only below) into the wire name OUT and *FORM, and PRESENTATION (VALUE_NAME_TEXT_MAX + 2 bytes)
 * the normalized text logs and exports show: lower case, A-labels, no trailing dot ("t.me",
 * "*.telegram.org"), "." for the root.
 */
int value_parse_pattern(const char *text, uint8_t *out, size_t *out_len, enum match_form *form,
	char *presentation, const char **err);

/*
 * "ADDR:PORT", "ADDR", "[V6ADDR]:PORT" or "[V6ADDR]" (DEFAULT_PORT when no port is given, and a
 * port is required when DEFAULT_PORT is 0; a bare IPv6 address without brackets is accepted
 * without a port). Numeric addresses only, no "%scope". OUT's text is the canonical "1.2.3.4:53" /
 * "[2001:db8::1]:53" form. *ERR is one of the VALUE_ENDPOINT_* texts.
 */
int value_parse_endpoint(const char *text, uint16_t default_port, struct config_endpoint *out,
	const char **err);

/*
 * An RFC 3339 date-time with a UTC offset ("2017-08-10T00:00:00+07:00", "...Z"; fractional
 * seconds are dropped), 1970 or later, to unix seconds. The offset is required: a time without
 * one would mean a different instant on every server it is deployed to.
 */
int value_parse_time(const char *text, int64_t *out);

/*
 * "ADDR/PREFIX" or a bare address (/32, /128) into OUT. Returns NULL, or a static description of
 * what was expected; host bits set after the prefix are an error ("10.1.2.3/8" is more often a
 * typo for /32 than a deliberate /8).
 */
const char *value_parse_cidr(const char *text, struct config_cidr *out);

/*
 * A TSIG secret: base64 text in the file at PATH, which only its owner may read (a secret others
 * can read is not one), surrounding blanks dropped. Returns NULL with *OUT a new string the caller
 * frees, or a description of what is wrong (valid until the thread's next call).
 */
const char *value_read_secret(const char *path, char **out);

/* An IPv4 (FAMILY AF_INET, 4 bytes) or IPv6 (16 bytes) address alone into OUT. */
int value_parse_addr(const char *text, int family, uint8_t *out);

/*
 * TEXT as a path the daemon can open whatever its working directory: a relative path is taken
 * from the directory of the file BASE, as an operator keeping a list beside the config expects.
 * A new string the caller frees, or NULL when out of memory.
 */
char *value_path_beside(const char *base, const char *text);

/*
 * One blank-separated word (spaces, tabs, CRs) of the text [*P, END) into [*W, *W + *N), *P
 * moved past it. False at the end. Inline: list readers call it for every word of a big file.
 */
static inline bool value_next_word(const char **p, const char *end, const char **w, size_t *n)
{
	while (*p < end && (**p == ' ' || **p == '\t' || **p == '\r'))
		(*p)++;
	if (*p == end)
		return false;
	*w = *p;
	while (*p < end && **p != ' ' && **p != '\t' && **p != '\r')
		(*p)++;
	*n = (size_t)(*p - *w);
	return true;
}

/* ---- ASCII lower case ---- */

static inline uint8_t value_lower(uint8_t c)
{
	return (unsigned)(c - 'A') < 26u ? (uint8_t)(c | 0x20) : c;
}

/* Lower-cases the eight bytes at SRC into DST. */
static inline void value_lower8(uint8_t *dst, const uint8_t *src)
{
	const uint64_t ones = 0x0101010101010101u, high = ones * 0x80;
	uint64_t w;

	memcpy(&w, src, 8);
	/* Per byte, the high bit of ge_a is "b >= 'A'" and of gt_z is "b > 'Z'", computed on the
	 * low seven bits so no carry crosses a byte; bytes >= 0x80 are masked out at the end. */
	uint64_t low7 = w & ~high;
	uint64_t ge_a = low7 + ones * (0x80 - 'A');
	uint64_t gt_z = low7 + ones * (0x80 - 'Z' - 1);
	w |= ((ge_a ^ gt_z) & ~w & high) >> 2; /* 0x80 >> 2 is the 0x20 case bit */
	memcpy(dst, &w, 8);
}

#ifdef __SSE2__
/*
 * Lower-cases the sixteen bytes at SRC into DST with SSE2 (every x86-64 has it): a byte is
 * A-Z when byte - 'A' is below 26, which a signed compare tells once the range is moved to
 * the bottom of the signed bytes. About a third of what two value_lower8 cost.
 */
static inline void value_lower16(uint8_t *dst, const uint8_t *src)
{
	__m128i w = _mm_loadu_si128((const __m128i *)(const void *)src);
	__m128i moved = _mm_add_epi8(w, _mm_set1_epi8((char)(0x80 - 'A')));
	__m128i upper = _mm_cmplt_epi8(moved, _mm_set1_epi8((char)(0x80 - 0x100 + 26)));

	w = _mm_or_si128(w, _mm_and_si128(upper, _mm_set1_epi8(0x20)));
	_mm_storeu_si128((__m128i *)(void *)dst, w);
}
#endif

/*
 * Lower-cases N bytes from SRC into DST (which may be SRC): only A-Z change. Label length bytes
 * (<= 63) are below 'A', so a whole wire-format name is converted in one pass. Eight bytes or more
 * go a word at a time (sixteen with SSE2), the last word overlapping the ones before (converting
 * a byte twice gives the same result): a 20-byte name costs two vector or three word operations
 * instead of a byte loop. Inline: the query path calls it for every question.
 */
static inline void value_lower_copy(uint8_t *dst, const uint8_t *src, size_t n)
{
	if (n < 8) {
		for (size_t i = 0; i < n; i++)
			dst[i] = value_lower(src[i]);
		return;
	}
#ifdef __SSE2__
	if (n >= 16) {
		for (size_t i = 0; i + 16 < n; i += 16)
			value_lower16(dst + i, src + i);
		value_lower16(dst + n - 16, src + n - 16);
		return;
	}
#endif
	for (size_t i = 0; i + 8 < n; i += 8)
		value_lower8(dst + i, src + i);
	value_lower8(dst + n - 8, src + n - 8);
}

#endif
