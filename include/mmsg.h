/*
 * mmsg: recvmmsg(2) and sendmmsg(2) the way the UDP hot paths use them, always with
 * MSG_DONTWAIT, made straight to the kernel. glibc's wrappers are cancellation points: around
 * every call they switch the thread's asynchronous cancellation on and off (two atomic updates,
 * some 60 instructions under callgrind), which with one or two datagrams per wakeup was a tenth
 * of what blokir itself spends on a blocked query. No thread of blokir is ever cancelled
 * (nothing calls pthread_cancel) and a MSG_DONTWAIT call never waits, so there is nothing for
 * the switch to do. Errors are as from the libc functions: -1 with errno set.
 */
#ifndef BLOKIR_MMSG_H
#define BLOKIR_MMSG_H

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int mmsg_recv(int fd, struct mmsghdr *v, unsigned n)
{
	return (int)syscall(SYS_recvmmsg, fd, v, n, MSG_DONTWAIT, NULL);
}

static inline int mmsg_send(int fd, struct mmsghdr *v, unsigned n)
{
	return (int)syscall(SYS_sendmmsg, fd, v, n, MSG_DONTWAIT);
}

#endif
