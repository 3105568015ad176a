/*
 * digest: the SHA-256 of a file (ldns's implementation; no other crypto library is linked), for
 * `ctl status` and the metrics info gauge: which exact file is in force.
 */
#ifndef BLOKIR_DIGEST_H
#define BLOKIR_DIGEST_H

#define DIGEST_HEX_LEN 64

/* Hex SHA-256 of PATH's contents into HEX (DIGEST_HEX_LEN + 1 bytes). 0, or -1 with errno set. */
int digest_file_sha256(const char *path, char *hex);

#endif
