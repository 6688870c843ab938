/* System calls the Swift ChildProcess module needs and Glibc does not import cleanly. */
#ifndef CTLIVE_CHILD_PROCESS_H
#define CTLIVE_CHILD_PROCESS_H

#include <sys/types.h>

/** pipe2(fds, O_CLOEXEC): both ends close on exec (0 on success, -1 and errno on failure). */
int ctlive_pipe_cloexec(int fds[2]);

/** pidfd_open(pid, 0) with O_CLOEXEC semantics (a descriptor, or -1 and errno). Linux 5.3 and later. */
int ctlive_pidfd_open(pid_t pid);

/**
 * In a child: asks the kernel to send `signal` when the thread that spawned us ends, then checks that
 * `expected_parent` is still our parent (it may have died before the call). 0 when armed, -1 when
 * the parent is already gone (the caller should exit).
 */
int ctlive_die_with_parent(pid_t expected_parent, int signal);

/** eventfd(0, EFD_CLOEXEC): a descriptor, or -1 and errno. */
int ctlive_eventfd(void);

/** WIFEXITED / WEXITSTATUS / WIFSIGNALED / WTERMSIG, which are macros. */
int ctlive_exited(int status);
int ctlive_exit_code(int status);
int ctlive_signalled(int status);
int ctlive_term_signal(int status);

#endif
