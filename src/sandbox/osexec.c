/*
 * osexec.c: os.execute for scripts, a command run through /bin/sh without
 * touching anything the whole process shares.
 *
 * Not system(): it sets SIGINT and SIGQUIT to be ignored by the whole
 * process while the command runs, and its child would inherit the worker's
 * mask (every signal blocked) and every descriptor the daemon holds. Here
 * the command starts with no signal blocked and default actions, with
 * descriptors 1 and 2 only, and /dev/null as 0: posix_spawn with a
 * closefrom action where the C library has one (LF_HAVE_SPAWN_CLOSEFROM,
 * set by configure), else fork and exec with only async-signal-safe calls
 * between them (the guard's own fork: forkguard.c refuses others). Installed by oslib.c with the rest of the per-state
 * library.
 *
 * No count hook fires while C waits, so the wait itself keeps the
 * request's deadline (state_time_left): the command leads its own process
 * group, and at the deadline the group is killed, the command reaped and
 * the timeout raised as the hook raises it.
 *
 * The group is killed too when the command ends in time: what it left
 * running there ("sleep 30 &", a pipeline's straggler) would otherwise
 * outlive the request, its deadline and the daemon's stop, reparented
 * where nothing waits for it. The command is seen to end without being
 * reaped (WNOWAIT): its zombie holds its pid, so the group's id cannot
 * have been handed to another process when the kill goes out. A process
 * that left the group on purpose (setsid) is its own, as with any
 * program the daemon's user runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/wait.h>

#include <lua.h>
#include <lauxlib.h>

#include "forkguard.h"
#include "monoclock.h"
#include "osexec.h"
#include "state.h"

#define OSEXEC_SHELL "/bin/sh"

extern char **environ;

/* The signals the daemon may ignore (SIGPIPE, for one), whose SIG_IGN a
 * command would inherit through exec. Not a full set: some systems refuse
 * to reset SIGKILL and SIGSTOP, and posix_spawn then fails. */
static void
osexec_ignorable_signals(sigset_t *set)
{
    static const int signals[] = {
        SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGCHLD, SIGALRM, SIGTSTP,
        SIGTTIN, SIGTTOU, SIGXFSZ,
    };
    size_t i;

    sigemptyset(set);
    for (i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
        sigaddset(set, signals[i]);
}

#ifdef LF_HAVE_SPAWN_CLOSEFROM
/* Spawn ARGV with no signal blocked, the signals in RESET at their
 * default, standard input from /dev/null and no descriptor above 2: 0
 * with *PID set, or an errno. */
static int
osexec_spawn(pid_t *pid, char **argv, const sigset_t *reset)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none;
    int err;

    sigemptyset(&none);
    if ((err = posix_spawn_file_actions_init(&fa)) != 0)
        return err;
    if ((err = posix_spawnattr_init(&attr)) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return err;
    }
    if ((err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0)) == 0 &&
        (err = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) == 0 &&
        (err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETPGROUP)) == 0 &&
        (err = posix_spawnattr_setpgroup(&attr, 0)) == 0 &&
        (err = posix_spawnattr_setsigmask(&attr, &none)) == 0 &&
        (err = posix_spawnattr_setsigdefault(&attr, reset)) == 0)
        err = posix_spawn(pid, OSEXEC_SHELL, &fa, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    return err;
}
#else
/* As above, without a closefrom action in posix_spawn: fork, and in the
 * child only async-signal-safe calls until exec. The bound of the close
 * loop is read before the fork. */
static int
osexec_spawn(pid_t *pid, char **argv, const sigset_t *reset)
{
    long max = sysconf(_SC_OPEN_MAX);
    struct sigaction dfl;
    sigset_t none;
    pid_t child;
    int sig, fd;

    if (max < 0 || max > INT_MAX)
        max = 65536;
    sigemptyset(&none);
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    if ((child = forkguard_fork()) < 0)
        return errno;
    if (child == 0) {
        setpgid(0, 0);
        for (sig = 1; sig < NSIG; sig++)
            if (sigismember(reset, sig) == 1)
                sigaction(sig, &dfl, NULL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if ((fd = open("/dev/null", O_RDONLY)) < 0)
            _exit(127);
        if (fd != 0) {
            dup2(fd, 0);
            close(fd);
        }
        for (fd = 3; fd < max; fd++)
            close(fd);
        execve(OSEXEC_SHELL, argv, environ);
        _exit(127);
    }
    setpgid(child, child);      /* either side may run first */
    *pid = child;
    return 0;
}
#endif

enum { OSEXEC_DONE, OSEXEC_FAILED, OSEXEC_LATE };

/* Kill PID's process group (it leads it), then reap PID into *STATUS. */
static int
osexec_end(pid_t pid, int *status)
{
    kill(-pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR)
            return OSEXEC_FAILED;
    return OSEXEC_DONE;
}

/* Has PID ended? 1 (left unreaped), 0 not yet, -1 when it cannot be
 * waited for. Blocks unless NOHANG. */
static int
osexec_ended(pid_t pid, int nohang)
{
    siginfo_t info;

    for (;;) {
        info.si_pid = 0;
        if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT | (nohang ? WNOHANG : 0)) == 0)
            return info.si_pid == pid;
        if (errno != EINTR)
            return -1;
    }
}

/* Wait for PID without a bound: LEFT_MS < 0. */
static int
osexec_wait_forever(pid_t pid, int *status)
{
    if (osexec_ended(pid, 0) < 0)
        return OSEXEC_FAILED;
    return osexec_end(pid, status);
}

/* Wait for PID at most LEFT_MS ms (no bound when negative). Polls with
 * sleeps growing from 1 ms to 50 ms: a short command costs little, a long
 * one a few wakeups a second. Ended or late, the command's whole process
 * group (it is its leader: a pipeline, a background job) is killed and
 * PID reaped, so nothing it started outlives the request. */
static int
osexec_wait(pid_t pid, int *status, long long left_ms)
{
    struct timespec nap = { 0, 1000000 };
    long long end_ms;
    int ended;

    if (left_ms < 0)
        return osexec_wait_forever(pid, status);
    end_ms = monoclock_ms() + left_ms;
    for (;;) {
        if ((ended = osexec_ended(pid, 1)) != 0)
            return ended < 0 ? OSEXEC_FAILED : osexec_end(pid, status);
        if (monoclock_ms() >= end_ms)
            break;
        nanosleep(&nap, NULL);
        if (nap.tv_nsec < 50000000)
            nap.tv_nsec *= 2;
        if (nap.tv_nsec > 50000000)
            nap.tv_nsec = 50000000;
    }
    osexec_end(pid, status);
    return OSEXEC_LATE;
}

/*
 * os.execute([command]): /bin/sh -c COMMAND, its wait status, as Lua 5.1.
 * Not system(): it sets SIGINT and SIGQUIT to be ignored by the whole
 * process while the command runs (a stop asked for then would be lost),
 * and its child keeps the worker's mask, every signal blocked. The child
 * starts with no signal blocked and default actions, with descriptors 1
 * and 2 only, and 0 from /dev/null: not the daemon's standard input (a
 * terminal with -F), not the listening sockets, nor the files another
 * script holds open (close-on-exec is not enough: C modules open their
 * own files, and the daemon may inherit descriptors).
 * [-0, +1, e]
 */
int
osexec_execute(lua_State *L)
{
    const char *command = luaL_optstring(L, 1, NULL);
    char *argv[] = { "sh", "-c", NULL, NULL };
    sigset_t reset;
    pid_t pid = -1;
    int status;

    if (command == NULL) {
        lua_pushinteger(L, access(OSEXEC_SHELL, X_OK) == 0);
        return 1;
    }
    argv[2] = (char *)command;
    osexec_ignorable_signals(&reset);
    if (osexec_spawn(&pid, argv, &reset) != 0) {
        lua_pushinteger(L, -1);         /* what system() answers when it cannot fork */
        return 1;
    }
    switch (osexec_wait(pid, &status, state_time_left(L))) {
    case OSEXEC_LATE:
        return state_raise_timeout(L);
    case OSEXEC_FAILED:
        lua_pushinteger(L, -1);
        return 1;
    default:
        lua_pushinteger(L, status);
        return 1;
    }
}
