/* Kept-open /proc files re-read with pread(2); see pfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "pfile.h"
#include "utf8.h"

void
pfile_init(struct pfile *pf)
{
	pf->fd = -1;
	pf->path[0] = '\0';
}

int
pfile_open(struct pfile *pf, const char *root, const char *rel)
{
	int n;

	pf->fd = -1;
	n = snprintf(pf->path, sizeof(pf->path), "%s/%s", root, rel);
	if (n < 0 || (size_t)n >= sizeof(pf->path))
		return -ENAMETOOLONG;
	if ((pf->fd = open(pf->path, O_RDONLY | O_CLOEXEC)) < 0) {
		pf->fd = -1;
		return -errno;
	}
	return 0;
}

/* Reads from fd at offset 0 until EOF or buf is full. */
static long
pfile_pread_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t r;

	if (cap == 0)
		return -EINVAL;
	while (len < cap - 1) {
		r = pread(fd, buf + len, cap - 1 - len, (off_t)len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	return (long)len;
}

long
pfile_read(struct pfile *pf, char *buf, size_t cap)
{
	if (pf->fd < 0)
		return -ENOENT;
	return pfile_pread_all(pf->fd, buf, cap);
}

void
pfile_close(struct pfile *pf)
{
	if (pf->fd >= 0)
		close(pf->fd);
	pf->fd = -1;
}

long
pfile_slurp(const char *root, const char *rel, char *buf, size_t cap)
{
	struct pfile pf;
	long r;

	if ((r = pfile_open(&pf, root, rel)) < 0)
		return r;
	r = pfile_read(&pf, buf, cap);
	pfile_close(&pf);
	return r;
}

size_t
pfile_put_text(char *out, size_t o, size_t cap, const char *s, size_t n)
{
	size_t i = 0, k;
	unsigned char c;

	while (i < n && o + 1 < cap) {
		c = (unsigned char)s[i];
		k = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
		if (k > n - i || !utf8_valid((const unsigned char *)s + i, k) ||
		    (k == 1 && (c < 0x20 || c == 0x7f))) {
			out[o++] = '?';
			i++;
			continue;
		}
		if (o + k >= cap)
			break;
		memcpy(out + o, s + i, k);
		o += k;
		i += k;
	}
	out[o] = '\0';
	return o;
}
