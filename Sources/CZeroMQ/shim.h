#ifndef CTLIVE_CZEROMQ_SHIM_H
#define CTLIVE_CZEROMQ_SHIM_H
#include <zmq.h>
#include <errno.h>
#include <sys/eventfd.h>

/* Swift cannot see errno as a variable on every libc; read it through a function. */
static inline int ctlive_zmq_errno(void) { return zmq_errno(); }

/* eventfd is not exported by Swift's Glibc module. */
static inline int ctlive_eventfd_nonblocking(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

#endif
