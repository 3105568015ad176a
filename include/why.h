/*
 * why: the decision blokir takes for one query name, and its proof. Shows the entry that decides
 * (with FILE:LINE, or the list file and its line), its action, reason, ref and schedule state,
 * every less specific entry it overrides, the entries on the name's path that are not in force,
 * and the answer the client would get. The daemon's `ctl why` and the offline `blokir why -c FILE`
 * both call why_explain, so the two print the same text for the same policy.
 *
 * No libevent, no sockets: a plain function of a policy and the settings that shape an answer.
 */
#ifndef BLOKIR_WHY_H
#define BLOKIR_WHY_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "policy.h"

/*
 * Writes the explanation for NAME (presentation form), TYPE (a mnemonic such as "AAAA", or NULL
 * for A) and CLIENT (an address, or NULL: no allow-from check) under POL at NOW to OUT. CFG
 * (borrowed) gives the settings of the answer: allow-from, deny-action, upstreams, and PATH, the
 * file the policy's YAML entries came from. Returns 0, or -1 when NAME, TYPE or CLIENT is not
 * valid (then only "why: ..." saying what was expected is written).
 */
int why_explain(const struct config *cfg, const struct policy *pol, const char *path,
	const char *name, const char *type, const char *client, int64_t now, FILE *out);

#endif
