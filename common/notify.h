/*
 * The systemd notification protocol (sd_notify(3)) without libsystemd: one
 * datagram to $NOTIFY_SOCKET. For the agent, whose package and memory budget
 * have no room for libsystemd's compression and crypto libraries; the relay
 * uses libsystemd itself.
 */
#ifndef SNO_NOTIFY_H
#define SNO_NOTIFY_H

/*
 * Sends state ("READY=1", "STOPPING=1", several lines allowed) to the
 * socket named by $NOTIFY_SOCKET (a path, or "@name" in the abstract
 * namespace). 1 when sent, 0 when there is no socket, or a negative errno.
 */
int notify_systemd(const char *state);

#endif
