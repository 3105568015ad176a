/*
 * testname.h: "a.b.c" (or "." for the root) to lower-case wire format, for the matcher and policy
 * tests. Written out by hand rather than through value_parse_name so those tests do not depend
 * on the config module they are not about; the tests only pass valid names.
 */
#ifndef BLOKIR_TESTNAME_H
#define BLOKIR_TESTNAME_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static size_t wire(const char *text, uint8_t *out)
{
	size_t n = 0;

	if (strcmp(text, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	while (*text != '\0') {
		size_t l = strcspn(text, ".");

		out[n++] = (uint8_t)l;
		memcpy(out + n, text, l);
		n += l;
		text += l;
		if (*text == '.')
			text++;
	}
	out[n++] = 0;
	return n;
}

#endif
