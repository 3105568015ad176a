/*
 * listentry: what every list reader produces, one name with its action, and the callback that
 * takes it. Apart from lists.h so that a format reader (rpz) can produce entries without
 * including the module that calls it (lists), which would make an include circle.
 */
#ifndef BLOKIR_LISTENTRY_H
#define BLOKIR_LISTENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* One name found in a list. Borrowed: valid during the callback only. */
struct lists_entry {
	const uint8_t *name; size_t name_len; /* lower-case wire format */
	enum match_form form;
	enum policy_action action; /* the list's action (domains, hosts); an RPZ record's own */
	const uint8_t *cname; size_t cname_len; /* rpz redirect to a name; cname_len 0 otherwise */
	int addr_family;           /* rpz A/AAAA local data: AF_INET or AF_INET6; 0 otherwise */
	uint8_t addr[16];
	unsigned line;
};

/* Called for each entry; returns 0, or -1 to stop reading (out of memory). */
typedef int lists_entry_cb(void *ctx, const struct lists_entry *e);

#endif
