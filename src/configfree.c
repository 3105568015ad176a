/*
 * configfree: the ownership side of struct config, config-internal. Releasing a configuration
 * and each of its parts (the loader drops a bad entry with the same functions, declared in
 * include/configparts.h), deep-copying a redirect, and finding a zone by name. No libyaml here:
 * config.c stays its only user. A part of config, without a header of its own.
 */
#include "config.h"
#include "configparts.h"

#include <stdlib.h>
#include <string.h>

static void redirect_release(struct config_redirect *r)
{
	free(r->a);
	free(r->aaaa);
	memset(r, 0, sizeof(*r));
}

void domain_release(struct config_domain *d)
{
	free(d->text);
	free(d->reason);
	free(d->ref);
	if (d->redirect != NULL)
		redirect_release(d->redirect);
	free(d->redirect);
}

void list_release(struct config_list *l)
{
	free(l->path);
	free(l->reason);
	free(l->ref);
}

void tsig_key_release(struct config_tsig_key *k)
{
	free(k->name);
	free(k->algorithm);
	free(k->secret_file);
}

static void serve_release(struct config_serve *sv)
{
	for (size_t i = 0; i < sv->key_count; i++)
		tsig_key_release(&sv->keys[i]);
	free(sv->keys);
	free(sv->allow);
	free(sv->notify);
	free(sv->zone);
	memset(sv, 0, sizeof(*sv));
}

void zone_release(struct config_zone *z)
{
	free(z->text);
	free(z->primaries);
	free(z->tsig_name);
	free(z->tsig_algorithm);
	free(z->tsig_secret);
	free(z->tsig_secret_file);
	free(z->reason);
	free(z->ref);
	memset(z, 0, sizeof(*z));
}

const struct config_zone *config_zone_find(const struct config *cfg, const uint8_t *name,
	size_t len)
{
	for (size_t i = 0; i < cfg->zone_count; i++)
		if (cfg->zones[i].name_len == len && memcmp(cfg->zones[i].name, name, len) == 0)
			return &cfg->zones[i];
	return NULL;
}

void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->domain_count; i++)
		domain_release(&cfg->domains[i]);
	free(cfg->domains);
	for (size_t i = 0; i < cfg->list_count; i++)
		list_release(&cfg->lists[i]);
	free(cfg->lists);
	for (size_t i = 0; i < cfg->zone_count; i++)
		zone_release(&cfg->zones[i]);
	free(cfg->zones);
	free(cfg->state_dir);
	serve_release(&cfg->serve);
	free(cfg->audit_log);
	free(cfg->control_socket);
	free(cfg->log_file);
	free(cfg->dnstap.socket);
	free(cfg->dnstap.file);
	free(cfg->dnstap.identity);
	redirect_release(&cfg->redirect);
	free(cfg->allow_from);
	free(cfg->user);
	free(cfg->group);
	free(cfg->chroot);
	free(cfg->listen);
	free(cfg->upstreams);
	free(cfg->path);
	free(cfg);
}

/* A deep copy of SRC into DST (which the caller releases). Returns -1 when out of memory. */
int config_redirect_copy(struct config_redirect *dst, const struct config_redirect *src)
{
	*dst = *src;
	dst->a = NULL;
	dst->aaaa = NULL;
	if (src->a_count > 0 && (dst->a = malloc(src->a_count * 4)) == NULL)
		goto fail;
	if (src->aaaa_count > 0 && (dst->aaaa = malloc(src->aaaa_count * 16)) == NULL)
		goto fail;
	if (src->a_count > 0)
		memcpy(dst->a, src->a, src->a_count * 4);
	if (src->aaaa_count > 0)
		memcpy(dst->aaaa, src->aaaa, src->aaaa_count * 16);
	return 0;
fail:
	redirect_release(dst);
	return -1;
}

void config_redirect_release(struct config_redirect *r)
{
	redirect_release(r);
}
