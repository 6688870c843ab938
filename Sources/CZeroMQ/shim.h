#ifndef CTLIVE_CZEROMQ_SHIM_H
#define CTLIVE_CZEROMQ_SHIM_H
#include <zmq.h>
#include <errno.h>

/* Swift cannot see errno as a variable on every libc; read it through a function. */
static inline int ctlive_zmq_errno(void) { return zmq_errno(); }

#endif
