/*
 * value_test: the text-to-value parsers on their own, without YAML or a config file: numbers,
 * booleans, words and actions, the one name validation (including the list reader's
 * non-terminated form and which of two problems it reports), name formatting, patterns,
 * networks, addresses, paths, and the ASCII lower-casing helper against a byte-by-byte reference.
 * config_test covers the same parsers again as the loader applies them.
 */
#include "value.h"
#include "tap.h"
#include "testname.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_uint(void)
{
	unsigned long v = 7;

	ok(value_parse_uint("0", 0, 10, &v) == 0 && v == 0, "uint 0");
	ok(value_parse_uint("10", 0, 10, &v) == 0 && v == 10, "uint at MAX");
	ok(value_parse_uint("11", 0, 10, &v) == -1 && v == 10, "uint above MAX refused, OUT kept");
	ok(value_parse_uint("4", 5, 10, &v) == -1, "uint below MIN refused");
	ok(value_parse_uint("010", 0, 100, &v) == -1, "leading zero refused (YAML 1.1 octal)");
	ok(value_parse_uint("", 0, 100, &v) == -1, "empty refused");
	ok(value_parse_uint("-1", 0, 100, &v) == -1, "sign refused");
	ok(value_parse_uint("1e3", 0, 10000, &v) == -1, "exponent refused");
	ok(value_parse_uint("99999999999999999999999", 0, 1000000, &v) == -1,
		"a huge number stops at MAX, no overflow");
}

static void test_bool_word_action(void)
{
	static const char *const words[] = { "reject", "skip" };
	enum policy_action a = ACTION_DROP;
	bool b = false;
	size_t w = 9;

	ok(value_parse_bool("TRUE", &b) == 0 && b, "bool TRUE");
	ok(value_parse_bool("yes", &b) == 0 && b, "bool yes");
	ok(value_parse_bool("No", &b) == 0 && !b, "bool No");
	ok(value_parse_bool("1", &b) == -1, "bool 1 refused");
	ok(value_parse_bool("on", &b) == -1, "bool on refused");
	ok(value_parse_word("skip", words, 2, &w) == 0 && w == 1, "word skip is 1");
	ok(value_parse_word("Skip", words, 2, &w) == -1, "words are case-sensitive");
	ok(value_parse_action("NODATA", ACTION_REDIRECT, &a) == 0 && a == ACTION_NODATA,
		"action NODATA, any case");
	ok(value_parse_action("redirect", ACTION_DROP, &a) == -1, "an action past LAST refused");
	ok(value_parse_action("default", ACTION_REDIRECT, &a) == -1, "\"default\" is no action");
	is_str(value_action_name(ACTION_ALLOW), "allow", "action name allow");
	is_str(value_action_name(ACTION_DEFAULT), "default", "action name default");
	is_str(value_action_name((enum policy_action)42), "?", "action name out of range");
}

static void name_is(const char *text, size_t len, const char *want, const char *what)
{
	uint8_t got[CONFIG_NAME_MAX], exp[CONFIG_NAME_MAX];
	size_t glen = 0, elen = wire(want, exp);
	const char *err = "";

	if (!ok(value_parse_name_len(text, len, got, &glen, &err) == 0, "%s parses", what))
		printf("#   %s\n", err);
	else
		ok(glen == elen && memcmp(got, exp, elen) == 0, "%s is %s", what, want);
}

static void name_err(const char *text, const char *want, const char *what)
{
	uint8_t got[CONFIG_NAME_MAX];
	size_t len = 0;
	const char *err = NULL;

	ok(value_parse_name(text, got, &len, &err) == -1, "%s refused", what);
	is_str(err, want, "%s: message", what);
}

static void test_names(void)
{
	char buf[600];
	size_t n = 0;

	name_is("Ab.CD.", 6, "ab.cd", "mixed case, trailing dot");
	name_is("ab.cd garbage", 5, "ab.cd", "LEN bytes only (a list line)");
	name_is("xn--bcher-kva.example", 21, "xn--bcher-kva.example", "an A-label");
	name_is("b\xc3\xbc" "cher.example rest", 15, "xn--bcher-kva.example",
		"a U-label converted, LEN bytes only");
	name_is(".", 1, ".", "the root");
	name_err("", "empty name", "empty");
	name_err("..", "empty label", "two dots");
	name_err("a..b", "empty label", "an empty label");
	name_err("a.*.b", "\"*\" is only allowed as a leading \"*.\"", "a star inside");
	name_err("a b", "invalid character: expected letters, digits, \"-\", \"_\" and \".\"",
		"a space");
	/* 300 octets of short labels, then a 64-octet one: the label is the more precise problem */
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "ab.");
	memset(buf + n, 'x', 64);
	buf[n + 64] = '\0';
	name_err(buf, "label longer than 63 octets", "a long name with a long label");
	buf[n + 63] = '\0';
	name_err(buf, "name longer than 255 octets", "a long name of short labels");
	{
		uint8_t w[CONFIG_NAME_MAX];
		const char *err = NULL;

		ok(value_parse_name("b\xc3\xbc" "cher..example", w, &n, &err) == -1 && err != NULL,
			"a bad Unicode name refused (%s)", err ? err : "?");
	}
	ok(strncmp(buf, "ab.", 3) == 0, "(buffer intact)");
}

static void test_format_pattern(void)
{
	uint8_t w[CONFIG_NAME_MAX];
	char buf[VALUE_NAME_TEXT_MAX + 2];
	const char *text = buf;
	static const uint8_t odd[] = { 3, 'a', '.', 0xff, 2, 'B', '*', 0 };
	enum match_form form;
	size_t len;
	const char *err = NULL;

	is_int(value_name_format(odd, buf), 12, "escaped text length");
	is_str(text, "a\\046\\255.B*", "octets outside the plain set are \\DDD");
	value_name_format((const uint8_t *)"", buf);
	is_str(text, "", "the root formats as \"\"");
	ok(value_parse_pattern("*.Telegram.ORG.", w, &len, &form, buf, &err) == 0 &&
		form == MATCH_BELOW, "\"*.name\" is MATCH_BELOW");
	is_str(text, "*.telegram.org", "  normalized text");
	ok(len == wire("telegram.org", w + 100) && memcmp(w, w + 100, len) == 0,
		"  wire name without the \"*.\"");
	ok(value_parse_pattern("T.me", w, &len, &form, buf, &err) == 0 && form == MATCH_SUBTREE,
		"\"name\" is MATCH_SUBTREE");
	is_str(text, "t.me", "  normalized text");
	ok(value_parse_pattern(".", w, &len, &form, buf, &err) == 0 && len == 1, "the root");
	is_str(text, ".", "  shown as \".\"");
	ok(value_parse_pattern("*.", w, &len, &form, buf, &err) == -1, "\"*.\" refused");
	is_str(err, "expected a name after \"*.\"", "  message");
	ok(value_parse_pattern("b\xc3\xbc" "cher.example", w, &len, &form, buf, &err) == 0,
		"a Unicode pattern");
	is_str(text, "xn--bcher-kva.example", "  shown in A-labels, as the matcher has it");
}

static void test_networks(void)
{
	struct config_cidr c;
	uint8_t a[16];

	ok(value_parse_cidr("10.0.0.0/8", &c) == NULL && c.family == AF_INET && c.prefix == 8,
		"10.0.0.0/8");
	ok(value_parse_cidr("2001:db8::1", &c) == NULL && c.prefix == 128, "a bare IPv6 host");
	is_str(value_parse_cidr("10.1.2.3/8", &c), "host bits set after the prefix length",
		"host bits");
	is_str(value_parse_cidr("10.0.0.0/33", &c), "expected a prefix length 0..32", "/33");
	is_str(value_parse_cidr("::/129", &c), "expected a prefix length 0..128", "/129");
	is_str(value_parse_cidr("/8", &c), "expected ADDR/PREFIX with an IPv4 or IPv6 address",
		"no address");
	ok(value_parse_addr("192.0.2.1", AF_INET, a) == 0 && a[0] == 192 && a[3] == 1, "IPv4");
	ok(value_parse_addr("192.0.2.1", AF_INET6, a) == -1, "IPv4 text is no IPv6 address");
	ok(value_parse_addr("::1", AF_INET6, a) == 0 && a[15] == 1, "IPv6");
}

static void test_time_path(void)
{
	int64_t t = 0;
	char *p;

	ok(value_parse_time("1970-01-01T00:00:00Z", &t) == 0 && t == 0, "the epoch");
	ok(value_parse_time("2017-08-10T00:00:00+07:00", &t) == 0 && t == 1502298000,
		"an offset");
	ok(value_parse_time("2017-08-10T00:00:00", &t) == -1, "no offset refused");
	p = value_path_beside("/etc/blokir/blokir.yaml", "lists/a.txt");
	is_str(p, "/etc/blokir/lists/a.txt", "a relative path beside the config");
	free(p);
	p = value_path_beside("/etc/blokir/blokir.yaml", "/var/a.txt");
	is_str(p, "/var/a.txt", "an absolute path kept");
	free(p);
	p = value_path_beside("blokir.yaml", "a.txt");
	is_str(p, "a.txt", "a config in the working directory");
	free(p);
}

static void test_lower(void)
{
	uint8_t src[80], dst[80], ref[80];
	bool all = true, inplace = true;

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 37 + 11); /* every class: digits, A-Z, a-z, >= 0x80, '@', '[' */
	src[0] = 'A';
	src[1] = 'Z';
	src[2] = '@';
	src[3] = '[';
	src[4] = 0xc1; /* 'A' | 0x80: not a letter */
	for (size_t i = 0; i < sizeof(src); i++)
		ref[i] = src[i] >= 'A' && src[i] <= 'Z' ? (uint8_t)(src[i] + 32) : src[i];
	for (size_t n = 0; n <= sizeof(src); n++) {
		memset(dst, 0xee, sizeof(dst));
		value_lower_copy(dst, src, n);
		all &= memcmp(dst, ref, n) == 0 && (n == sizeof(dst) || dst[n] == 0xee);
		memcpy(dst, src, sizeof(src));
		value_lower_copy(dst, dst, n);
		inplace &= memcmp(dst, ref, n) == 0 && memcmp(dst + n, src + n, sizeof(src) - n) == 0;
	}
	ok(all, "value_lower_copy agrees with a byte loop for every length 0..80, writes only N");
	/* Every byte value at every position of the word or vector it is converted in. */
	uint8_t every[256 + 16], low[256 + 16];
	bool each = true;
	for (size_t shift = 0; shift < 16; shift++) {
		for (size_t i = 0; i < 256; i++)
			every[shift + i] = (uint8_t)i;
		value_lower_copy(low, every + shift, 256);
		for (size_t i = 0; i < 256; i++)
			each &= low[i] == (i >= 'A' && i <= 'Z' ? i + 32 : i);
	}
	ok(each, "value_lower_copy: every byte value, at every offset, only A-Z changed");
	ok(inplace, "  and in place");
	ok(value_lower('Q') == 'q' && value_lower('q') == 'q' && value_lower(0xd1) == 0xd1,
		"value_lower: only A-Z change");
}

int main(void)
{
	test_uint();
	test_bool_word_action();
	test_names();
	test_format_pattern();
	test_networks();
	test_time_path();
	test_lower();
	return tap_exit();
}
