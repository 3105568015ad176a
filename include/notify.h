/*
 * notify: the service manager's readiness protocol (sd_notify(3), through libsystemd), so a
 * `Type=notify` unit knows when blokir serves, when it reloads and what policy is in force.
 * Without $NOTIFY_SOCKET (not started by systemd) every call is a no-op. The only user of
 * libsystemd. Main thread only.
 */
#ifndef BLOKIR_NOTIFY_H
#define BLOKIR_NOTIFY_H

/* READY=1 with STATUS=STATUS: the policy is loaded, the sockets are bound, the workers run. */
void notify_ready(const char *status);

/* RELOADING=1 with MONOTONIC_USEC= (CLOCK_MONOTONIC now) and STATUS=STATUS. */
void notify_reloading(const char *status);

/* STOPPING=1 with STATUS=STATUS. */
void notify_stopping(const char *status);

#endif
