/*
 * RFC 6455 5.1: a server closes the connection on a client frame that is
 * not masked. lws 4.1.6 neither checks nor reports the MASK bit, so the
 * relay reads the frame headers of plain websockets itself, from the bytes
 * lws receives (wsmask.c). Websockets over TLS are not covered.
 */
#ifndef SNO_WSMASK_H
#define SNO_WSMASK_H

/* Starts reading frame headers on fd (a plain websocket, just upgraded:
 * nothing of its frames read yet) for owner. fd over the table size is
 * ignored. */
void wsmask_watch(int fd, void *owner);
/* Stops it (before fd is closed). */
void wsmask_unwatch(int fd);
/* Whether a frame on fd came unmasked. */
int wsmask_bad(int fd);
/* The owner of a watched fd that got an unmasked frame since the last
 * call, or NULL (each is returned once; call until NULL). */
void *wsmask_take_bad(void);

#endif
