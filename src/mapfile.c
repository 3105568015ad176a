/*
 * mapfile: read-only file mappings for the list readers (see include/mapfile.h).
 */
#include "mapfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int mapfile_map(const char *path, struct mapfile *m, const char **err)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *p;

	m->data = NULL;
	m->size = 0;
	if (fd < 0 || fstat(fd, &st) < 0)
		goto fail;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto fail;
	}
	if (st.st_size > 0) {
		p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED)
			goto fail;
		/* read once front to back: let the kernel read ahead and drop pages behind */
		madvise(p, (size_t)st.st_size, MADV_SEQUENTIAL);
		m->data = p;
		m->size = (size_t)st.st_size;
	}
	close(fd);
	return 0;
fail:
	*err = strerror(errno);
	if (fd >= 0)
		close(fd);
	return -1;
}

void mapfile_unmap(struct mapfile *m)
{
	if (m->data != NULL)
		munmap((void *)m->data, m->size);
	m->data = NULL;
	m->size = 0;
}
