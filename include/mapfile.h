/*
 * mapfile: a file mapped read-only into memory, for the list readers that parse millions of
 * lines in place (a read(2) copy of a 100 MB list would double its cost in memory).
 */
#ifndef BLOKIR_MAPFILE_H
#define BLOKIR_MAPFILE_H

#include <stddef.h>

/* A mapped file; an empty file has data NULL and size 0. */
struct mapfile {
	const char *data;
	size_t size;
};

/*
 * Maps PATH into *M (released with mapfile_unmap). Returns 0, or -1 with *ERR set to
 * strerror's text (a directory is EISDIR).
 */
int mapfile_map(const char *path, struct mapfile *m, const char **err);
void mapfile_unmap(struct mapfile *m); /* no-op on an empty or already unmapped file */

#endif
