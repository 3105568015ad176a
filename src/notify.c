/*
 * notify: sd_notify messages (see include/notify.h).
 *
 * A failure to notify is logged at debug level only: the service manager then times the start
 * out or keeps showing "reloading", which is where an operator looks, and blokir goes on serving.
 */
#include "notify.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "log.h"

static void send_state(const char *state, const char *status)
{
	int r = sd_notifyf(0, "%s\nSTATUS=%s", state, status);

	if (r < 0)
		log_debug("sd_notify: %s", strerror(-r));
}

void notify_ready(const char *status)
{
	send_state("READY=1", status);
}

void notify_reloading(const char *status)
{
	struct timespec ts;
	char state[64];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(state, sizeof(state), "RELOADING=1\nMONOTONIC_USEC=%llu",
		(unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
	send_state(state, status);
}

void notify_stopping(const char *status)
{
	send_state("STOPPING=1", status);
}
