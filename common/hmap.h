/*
 * An intrusive string-keyed hash table with chaining. The table never owns
 * entries or keys: callers embed struct hnode and keep the key alive while the
 * node is inserted. Grows by doubling; never shrinks.
 */
#ifndef SNO_HMAP_H
#define SNO_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hnode {
	struct hnode *next;
	uint64_t hash;
	const char *key;
	size_t keylen;
};

struct hmap {
	struct hnode **b;
	size_t nb;	/* power of two */
	size_t n;
};

uint64_t hmap_hash(const char *key, size_t len);
/* 0 or -ENOMEM. */
int hmap_init(struct hmap *m, size_t hint);
void hmap_free(struct hmap *m);
/* Returns the node with key, or NULL. */
struct hnode *hmap_get(const struct hmap *m, const char *key, size_t len);
/* Inserts node under key (must not be present); 0 or -ENOMEM. */
int hmap_put(struct hmap *m, struct hnode *node, const char *key, size_t len);
void hmap_del(struct hmap *m, struct hnode *node);

/* Iteration: for (i = 0; i < m->nb; i++) for (n = m->b[i]; n; n = next) */
#define HMAP_FOREACH_SAFE(m, i, n, nx)                                    \
	for ((i) = 0; (i) < (m)->nb; (i)++)                               \
		for ((n) = (m)->b[(i)]; (n) && ((nx) = (n)->next, 1);    \
		     (n) = (nx))

#define hmap_entry(ptr, type, member)                                     \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
