/* Chained hash table, FNV-1a 64; see hmap.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"

uint64_t
hmap_hash(const char *key, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)key[i];
		h *= 1099511628211ULL;
	}
	return h;
}

int
hmap_init(struct hmap *m, size_t hint)
{
	size_t nb = 16;

	while (nb < hint)
		nb *= 2;
	m->n = 0;
	m->nb = nb;
	m->b = calloc(nb, sizeof(*m->b));
	return m->b ? 0 : -ENOMEM;
}

void
hmap_free(struct hmap *m)
{
	free(m->b);
	m->b = NULL;
	m->nb = m->n = 0;
}

struct hnode *
hmap_get(const struct hmap *m, const char *key, size_t len)
{
	uint64_t h = hmap_hash(key, len);
	struct hnode *n;

	if (m->nb == 0) /* never initialised, or freed: empty */
		return NULL;
	for (n = m->b[h & (m->nb - 1)]; n; n = n->next)
		if (n->hash == h && n->keylen == len &&
		    memcmp(n->key, key, len) == 0)
			return n;
	return NULL;
}

static int
hmap_grow(struct hmap *m)
{
	size_t nb = m->nb * 2;
	struct hnode **b = calloc(nb, sizeof(*b));

	if (b == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < m->nb; i++) {
		struct hnode *n, *next;

		for (n = m->b[i]; n; n = next) {
			next = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(m->b);
	m->b = b;
	m->nb = nb;
	return 0;
}

int
hmap_put(struct hmap *m, struct hnode *node, const char *key, size_t len)
{
	size_t i;

	if (m->n >= m->nb && hmap_grow(m) < 0)
		return -ENOMEM;
	node->key = key;
	node->keylen = len;
	node->hash = hmap_hash(key, len);
	i = node->hash & (m->nb - 1);
	node->next = m->b[i];
	m->b[i] = node;
	m->n++;
	return 0;
}

void
hmap_del(struct hmap *m, struct hnode *node)
{
	struct hnode **pp = &m->b[node->hash & (m->nb - 1)];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == node) {
			*pp = node->next;
			m->n--;
			return;
		}
	}
}
