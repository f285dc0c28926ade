/*
 * Shared declarations of the fan-out load generator (loadgen.c): one
 * connection table, a latency histogram and the run-wide counters. Nothing
 * here allocates per delivery; the generator is single-threaded.
 */
#ifndef SNO_BENCH_LOADGEN_H
#define SNO_BENCH_LOADGEN_H

#include <stddef.h>
#include <stdint.h>

#define HIST_LIN 128 /* 1 µs buckets below this */
#define HIST_SUB 64  /* sub-buckets per power of two above */
#define HIST_N (HIST_LIN + 40 * HIST_SUB)
#define LG_PREFIX 160 /* payload bytes kept per frame */
#define LG_MAXPUB 64

/* Log-linear histogram of microseconds (about 1.5 % resolution). */
struct hist {
	uint64_t n;
	uint64_t max;
	uint64_t b[HIST_N];
};

void hist_add(struct hist *h, uint64_t us);
/* Value at quantile q (0..1) in microseconds; 0 when empty. */
uint64_t hist_q(const struct hist *h, double q);

enum lg_mode { LG_PUSHER, LG_NCHAN };
enum lg_kind { LG_SUB, LG_PUB };
/* LG_TLS: TCP connected, TLS handshake (--tls) under way. */
enum lg_state { LG_CONNECTING, LG_HANDSHAKE, LG_OPEN, LG_CLOSED, LG_TLS };

struct ssl_st;

struct lg_conn {
	int fd;
	uint8_t kind;
	uint8_t state;
	uint8_t subscribed;
	uint8_t busy; /* publisher: a request is in flight */
	/* --tls: SSL_read wants the socket writable, SSL_write readable. */
	uint8_t rwantw, wwantr;
	struct ssl_st *ssl; /* NULL without --tls */
	/* RFC 6455 §5.2 streaming parser: header, then payload bytes. */
	uint8_t hdr[14];
	uint8_t hlen;
	uint8_t in_payload;
	uint8_t opcode;
	uint16_t plen;
	uint64_t remain;
	char pre[LG_PREFIX]; /* first bytes of the current frame */
	/* HTTP head (handshake answer or publish response). */
	char *in;
	size_t inlen;
	/* Output that did not fit in the socket. */
	char *out;
	size_t outlen, outoff;
	uint32_t *last_seq; /* per publisher, subscribers only */
	uint64_t received;
	int64_t sent_ns; /* publisher: when the request was written */
	int id;
	int chan; /* subscriber: its channel; publisher: the one in flight */
};

/* lg_turns.c: the relay's loop-turn histograms from its /metrics:
 * sno_loop_turn_seconds (how long turns lasted) and
 * sno_loop_turn_cpu_seconds (the CPU time the relay used in them). */
#define LG_TURN_BUCKETS 16
struct lg_hist {
	int n;
	double le[LG_TURN_BUCKETS];
	uint64_t b[LG_TURN_BUCKETS];
	uint64_t count;
	double max_s; /* since start */
};
struct lg_turns {
	struct lg_hist wall, cpu;
};

/*
 * One blocking HTTP/1.0 GET /metrics on its own socket (3 s timeouts); 0,
 * or -1 when the server did not give the figures (nchan, the floor).
 */
int lg_turns_fetch(const char *host, int port, struct lg_turns *t);
/*
 * The smallest bucket bound in ms that holds every turn between a and b,
 * so the longest turn of that window to the histogram's resolution; -1 when
 * unknown or past the last bound.
 */
double lg_turns_window_ms(const struct lg_hist *a, const struct lg_hist *b);

#endif
