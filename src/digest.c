/*
 * digest: SHA-256 of a file, read in blocks (see include/digest.h).
 */
#include "digest.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include <ldns/sha2.h>

int digest_file_sha256(const char *path, char *hex)
{
	unsigned char block[65536], md[LDNS_SHA256_DIGEST_LENGTH];
	ldns_sha256_CTX ctx;
	FILE *f = fopen(path, "rb");
	size_t n;
	int err;

	if (f == NULL)
		return -1;
	ldns_sha256_init(&ctx);
	while ((n = fread(block, 1, sizeof(block), f)) > 0)
		ldns_sha256_update(&ctx, block, n);
	err = ferror(f) ? EIO : 0;
	fclose(f);
	if (err != 0) {
		errno = err;
		return -1;
	}
	ldns_sha256_final(md, &ctx);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}
