/*
 * server_test: the worker count `workers: 0` resolves to, as a function of the online CPUs:
 * one per CPU up to and including 64 (the old code gave 1 worker at 64 CPUs and more), 1 when
 * the count is unknown.
 */
#include "server.h"

#include "tap.h"

int main(void)
{
	is_int(server_auto_workers(-1), 1, "sysconf failed (-1): 1 worker");
	is_int(server_auto_workers(0), 1, "0 CPUs reported: 1 worker");
	is_int(server_auto_workers(1), 1, "1 CPU: 1 worker");
	is_int(server_auto_workers(2), 2, "2 CPUs: 2 workers");
	is_int(server_auto_workers(63), 63, "63 CPUs: 63 workers");
	is_int(server_auto_workers(64), 64, "64 CPUs: 64 workers, the most allowed");
	is_int(server_auto_workers(65), 64, "65 CPUs: 64 workers");
	is_int(server_auto_workers(512), 64, "512 CPUs: 64 workers");
	return tap_exit();
}
