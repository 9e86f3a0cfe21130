/* The scoreboard: slots per worker, visible from the process that made it. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "luafcgid.h"
#include "scoreboard.h"
#include "tap.h"

int
main(void)
{
    struct scoreboard_entry e;
    char longpath[LF_SCOREBOARD_PATH * 2];
    time_t now = time(NULL);
    pid_t pid;
    int status;

    ok(scoreboard_create(3) == 0, "a board of 3 slots is made");
    is_int(scoreboard_slots(), 3, "it has 3 slots");
    is_int(scoreboard_read(1, &e), 0, "a slot starts idle");

    scoreboard_enter(2, "/www/a.lua");
    ok(scoreboard_read(2, &e) == 1, "a worker that entered a script is running it");
    is_str(e.script, "/www/a.lua", "with its path");
    ok(e.since >= now && e.since <= time(NULL), "since now");
    ok(e.worker == 2 && !e.torn, "a whole entry for worker 2");
    is_int(scoreboard_read(1, &e), 0, "the other slots stay idle");
    scoreboard_leave(2);
    is_int(scoreboard_read(2, &e), 0, "leaving makes it idle again");

    memset(longpath, 'p', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    scoreboard_enter(1, longpath);
    ok(scoreboard_read(1, &e) == 1 && strlen(e.script) == LF_SCOREBOARD_PATH - 1,
       "a long path is cut to the slot, still terminated");
    scoreboard_leave(1);

    scoreboard_enter(0, "/x.lua");
    scoreboard_enter(4, "/x.lua");
    ok(scoreboard_read(0, &e) == 0 && scoreboard_read(4, &e) == 0, "workers outside the board are ignored");

    /* what a process that dies in a script wrote is read by its parent */
    if ((pid = fork()) == 0) {
        scoreboard_enter(3, "/www/crash.lua");
        _exit(0);
    }
    ok(pid > 0 && waitpid(pid, &status, 0) == pid, "a child entered a script and exited");
    ok(scoreboard_read(3, &e) == 1, "its parent sees the slot busy");
    is_str(e.script, "/www/crash.lua", "with the child's script");

    /* a serving process that replaces another writes a board of its own */
    scoreboard_select(1);
    is_int(scoreboard_read(3, &e), 0, "the second board is apart from the first");
    if ((pid = fork()) == 0) {
        scoreboard_enter(3, "/www/new.lua");
        _exit(0);
    }
    ok(pid > 0 && waitpid(pid, &status, 0) == pid, "a child wrote the second board");
    ok(scoreboard_read(3, &e) == 1 && strcmp(e.script, "/www/new.lua") == 0, "which reads its script");
    scoreboard_clear();
    is_int(scoreboard_read(3, &e), 0, "clearing the second board");
    scoreboard_select(0);
    ok(scoreboard_read(3, &e) == 1 && strcmp(e.script, "/www/crash.lua") == 0,
       "leaves the first as it was");

    scoreboard_clear();
    is_int(scoreboard_read(3, &e), 0, "clear makes every slot idle");
    scoreboard_destroy();
    is_int(scoreboard_slots(), 0, "destroyed");
    is_int(scoreboard_read(1, &e), 0, "and a destroyed board reads idle");

    return done_testing();
}
