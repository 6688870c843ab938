#define _GNU_SOURCE
#include "ctlive_child_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

int ctlive_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int ctlive_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int ctlive_die_with_parent(pid_t expected_parent, int signal) {
#ifdef __linux__
    if (prctl(PR_SET_PDEATHSIG, signal) != 0) return -1;
#endif
    return getppid() == expected_parent ? 0 : -1;
}

int ctlive_eventfd(void) { return eventfd(0, EFD_CLOEXEC); }

int ctlive_exited(int status) { return WIFEXITED(status); }
int ctlive_exit_code(int status) { return WEXITSTATUS(status); }
int ctlive_signalled(int status) { return WIFSIGNALED(status); }
int ctlive_term_signal(int status) { return WTERMSIG(status); }
