/* luafcgid.conf: defaults, types, ranges, errors that name the key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "conf.h"
#include "log.h"
#include "logfile.h"
#include "tap.h"

static char dir[] = "/tmp/lf-test-conf.XXXXXX";
static char path[256], logpath[256];
static char err[1024];

static struct conf *
load(const char *text)
{
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return NULL;
    fputs(text, f);
    fclose(f);
    err[0] = '\0';
    return conf_load(path, err, sizeof(err));
}

static int
load_fails(const char *text, const char *want)
{
    struct conf *c = load(text);

    if (c) {
        conf_free(c);
        return 0;
    }
    return strstr(err, want) != NULL;
}

/* C loaded: freed, and 1. */
static int
conf_free_ok(struct conf *c)
{
    conf_free(c);
    return c != NULL;
}

static int
log_contains(const char *want)
{
    char buf[8192];
    FILE *f = fopen(logpath, "r");
    size_t n;

    if (f == NULL)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return strstr(buf, want) != NULL;
}

static void
test_defaults(void)
{
    struct conf *c = load("-- nothing set\n");

    ok(c != NULL, "an empty config loads");
    if (!c)
        return;
    is_str(c->listen.items[0], "/var/run/luafcgid/luafcgid.sock", "listen default");
    is_int(c->listen.count, 1, "one listen address by default");
    is_int(c->listen_mode, 0660, "listen_mode default");
    is_int(c->workers, 4, "workers default");
    is_int(c->states, 8, "states defaults to workers * 2");
    is_int(c->clones, 8, "clones defaults to states");
    is_int(c->sweep, 1000, "sweep default");
    is_int(c->jitter, 0, "jitter default (no pause: see luafcgid.conf(5))");
    is_int(c->timeout, 30, "timeout default");
    ok(c->memory == 64.0 * 1024 * 1024, "memory default is 64 MiB");
    ok(c->maxpost == 1024.0 * 1024, "maxpost default is 1 MiB");
    is_int(c->client_timeout, 60, "client_timeout default");
    /* nginx's upstream keepalive_timeout is 60 s: luafcgid must close later */
    is_int(c->keepalive_timeout, 75, "keepalive_timeout default, above nginx's upstream 60 s");
    ok(c->maxparams == 1024.0 * 1024, "maxparams default is 1 MiB");
    ok(c->daemonize && c->buffering && !c->showerrors, "daemonize, buffering on; showerrors off");
    is_str(c->headers, "X-Powered-By: luafcgid\r\n", "headers default");
    is_str(c->handler, "main", "handler default");
    is_str(c->httpstatus, "200 OK", "httpstatus default");
    is_str(c->contenttype, "text/html", "contenttype default");
    ok(c->extensions.count == 1 && strcmp(c->extensions.items[0], ".lua") == 0,
       "extensions default to { \".lua\" }");
    ok(c->logfile == NULL && c->docroot == NULL, "logfile and docroot unset");
    conf_free(c);
}

static void
test_values(void)
{
    struct conf *c = load("workers = 3\nstates = 5 * 2\nclones = 4\nlisten = ':9000'\n"
                          "listen_mode = '0600'\nshowerrors = true\nloglevel = 'debug'\n"
                          "extensions = { '.lua', '.lp' }\nmemory = 8 * 1024 * 1024\n"
                          "headers = 'X-A: 1\\nX-B: 2'\nlogfile = 'log/lf.log'\n"
                          "preload = 'boot.lua'\n");

    ok(c != NULL, "a config with expressions loads");
    if (!c)
        return;
    is_int(c->workers, 3, "workers = 3");
    is_int(c->states, 10, "states = 5 * 2 (arithmetic works)");
    is_int(c->clones, 4, "clones = 4");
    is_str(c->listen.items[0], ":9000", "a TCP listen address is kept as written");
    is_int(c->listen_mode, 0600, "listen_mode '0600' is octal");
    is_int(c->loglevel, LOG_LEVEL_DEBUG, "loglevel debug");
    ok(c->extensions.count == 2, "a list of two extensions");
    ok(c->memory == 8.0 * 1024 * 1024, "memory = 8 MiB");
    is_str(c->headers, "X-A: 1\r\nX-B: 2\r\n", "header lines are normalised to CRLF");
    ok(strncmp(c->logfile, dir, strlen(dir)) == 0 && strstr(c->logfile, "/log/lf.log"),
       "a relative logfile is taken from the config's directory");
    ok(c->preload.count == 1 && c->preload.items[0][0] == '/', "a single preload string is a list of one, made absolute");
    conf_free(c);

    c = load("listen_mode = 660\nstates = 3\nworkers = 2\nclones = 100\n");
    ok(c && c->listen_mode == 0660, "listen_mode = 660 (a number) reads as octal digits");
    ok(c && c->clones == 3, "clones above states is capped at states");
    conf_free(c);

    c = load("listen = 'sock/lf.sock'\n");
    ok(c && c->listen.items[0][0] == '/', "a relative unix socket path is made absolute");
    conf_free(c);

    c = load("listen = { 'sock/lf.sock', '127.0.0.1:9000', '[::1]:9001' }\n");
    ok(c && c->listen.count == 3, "listen may be a list");
    ok(c && c->listen.items[0][0] == '/', "whose unix socket paths are made absolute");
    ok(c && strcmp(c->listen.items[1], "127.0.0.1:9000") == 0 && strcmp(c->listen.items[2], "[::1]:9001") == 0,
       "and TCP addresses, IPv4 and IPv6, kept as written");
    conf_free(c);
    ok(load_fails("listen = {}\n", "key 'listen': must name at least one"), "an empty listen list is refused");
    ok(load_fails("listen = { '/a', 9000 }\n", "key 'listen': entry 2 must be a string"),
       "a listen entry that is not a string is refused");
    ok(load_fails("listen = { '/a', '' }\n", "key 'listen': entry 2"), "an empty listen entry is refused");
}

static void
test_errors(void)
{
    ok(load_fails("workers = 'four'\n", "key 'workers': must be a number"),
       "a string for a number names the key");
    ok(load_fails("workers = 0\n", "key 'workers': must be a whole number from 1"),
       "an out-of-range value names the key and the range");
    ok(load_fails("workers = 2.5\n", "key 'workers'"), "a fraction is refused");
    ok(load_fails("maxparams = 100\n", "key 'maxparams'"), "maxparams below 1024 is refused");
    ok(load_fails("client_timeout = -1\n", "key 'client_timeout'"), "a negative client_timeout is refused");
    ok(load_fails("workers = 8\nstates = 4\n", "key 'states': must be at least workers (8)"),
       "states below workers is refused");
    ok(load_fails("daemonize = 'yes'\n", "key 'daemonize': must be true or false"),
       "a string for a boolean is refused");
    ok(load_fails("loglevel = 'loud'\n", "key 'loglevel': must be one of"), "an unknown log level is refused");
    ok(load_fails("listen_mode = '0999'\n", "key 'listen_mode'"), "a mode that is not octal is refused");
    ok(load_fails("extensions = { 1, 2 }\n", "key 'extensions': entry 1 must be a string"),
       "a list with a number in it is refused");
    ok(load_fails("headers = 'no colon here'\n", "key 'headers'"), "a header line without a colon is refused");
    ok(load_fails("httpstatus = '200 OK\\r\\nX: y'\n", "key 'httpstatus': must not contain CR"),
       "CR LF in httpstatus is refused");
    ok(load_fails("httpstatus = 'abc'\n", "key 'httpstatus': must be a code and a reason"),
       "an httpstatus with no code is refused, as req:header('Status') refuses it");
    ok(load_fails("httpstatus = '2000 OK'\n", "key 'httpstatus'"), "so is one with four digits");
    ok(conf_free_ok(load("httpstatus = '404 Not Found'\n")), "a code and a reason load");
    ok(load_fails("handler = ''\n", "key 'handler'"), "an empty handler name is refused");
    ok(load_fails("workers = = 3\n", "lf.conf:1:"), "a syntax error names the file and line");
    ok(load_fails("\n\nworkers = nil + 1\n", "lf.conf:3:"), "a runtime error names the file and line");
    ok(load_fails("while true do end\n", "ran too long"), "an endless loop in the config is stopped");
    ok(load_fails("x = os.exit\nx()\n", "lf.conf:1:"), "the config runs with no libraries");
    /* 2^27 bytes: over the cap, yet small enough not to hurt if it were not */
    ok(load_fails("x = 'a' for i = 1, 27 do x = x .. x end\n",
                  "lf.conf: the config used too much memory (more than 64 MB"),
       "a config that grows past the memory cap is stopped, naming the file");
    ok(conf_free_ok(load("x = 'a' for i = 1, 20 do x = x .. x end\n")),
       "a config that holds a megabyte loads");
    ok(conf_load("/nonexistent/lf.conf", err, sizeof(err)) == NULL && strstr(err, "/nonexistent/lf.conf"),
       "a missing config file names the path");
}

static void
test_warnings(void)
{
    struct conf *c;

    c = load("wokers = 3\nmy_helper = 1\n");
    ok(c != NULL, "unknown globals do not stop the load");
    ok(log_contains("unknown key 'wokers' ignored; did you mean 'workers'?"),
       "a misspelt key is a warning that suggests the key");
    ok(!log_contains("my_helper"), "a helper variable that looks like no key is not reported");
    conf_free(c);

}

/* A near miss of such a key fails too, and so does one of allowed_clients,
 * which would leave the daemon open to all; a near miss of another key
 * only warns. */
static void
test_later_near_miss(void)
{
    static const char *const miss[][2] = {
        { "allowed_client", "allowed_clients" }, { "allowedclients", "allowed_clients" },
    };
    char text[128], want[128];
    struct conf *c;
    size_t i;

    for (i = 0; i < sizeof(miss) / sizeof(miss[0]); i++) {
        snprintf(text, sizeof(text), "%s = 'x'\n", miss[i][0]);
        snprintf(want, sizeof(want), "key '%s': unknown; did you mean '%s'?", miss[i][0], miss[i][1]);
        ok(load_fails(text, want), "%s is refused, naming %s", miss[i][0], miss[i][1]);
    }
    c = load("wokers = 3\n");
    ok(c != NULL, "a near miss of a working key is only a warning");
    conf_free(c);
    c = load("ping_pat = '/ping'\n");
    ok(c != NULL, "a near miss of ping_path, which works now, is only a warning");
    conf_free(c);
    c = load("status_path = '/status'\nping_path = '/ping'\nping_response = 'alive'\n");
    ok(c && c->status_path && strcmp(c->status_path, "/status") == 0 && c->ping_path &&
       strcmp(c->ping_path, "/ping") == 0 && strcmp(c->ping_response, "alive") == 0,
       "status_path, ping_path and ping_response are read");
    conf_free(c);
}

/* The upload keys work: their defaults, and values that are set. */
static void
test_upload_keys(void)
{
    struct conf *c = load("");

    ok(c != NULL, "an empty config loads");
    if (c) {
        is_int((long long)c->upload_memory, 64LL * 1024, "upload_memory defaults to 64 KiB");
        ok(c->upload_dir == NULL, "upload_dir defaults to unset (the system temp dir)");
        is_int(c->maxfields, 1000, "maxfields defaults to 1000");
        conf_free(c);
    }
    c = load("upload_memory = 4096\nupload_dir = '/var/tmp'\nmaxfields = 10\n");
    ok(c != NULL, "upload_memory, upload_dir and maxfields are accepted");
    if (c) {
        is_int((long long)c->upload_memory, 4096, "upload_memory is read");
        is_str(c->upload_dir, "/var/tmp", "upload_dir is read");
        is_int(c->maxfields, 10, "maxfields is read");
        conf_free(c);
    }
    ok(load_fails("maxfields = -1\n", "maxfields"), "a negative maxfields is refused");
}

static void
test_restart_keys(void)
{
    struct conf *a = load("workers = 2\n"), *b = load("workers = 3\n"), *d = load("workers = 2\nshowerrors = true\n");

    ok(a && b && d, "three configs load");
    if (a && b && d) {
        is_str(conf_restart_keys(a, b), "workers", "a change of workers needs a restart");
        ok(conf_restart_keys(a, d) == NULL, "a change of showerrors applies on reload");
    }
    conf_free(a);
    conf_free(b);
    conf_free(d);
}

static void
test_keep_restart(void)
{
    struct conf *run = load("workers = 2\nuser = 'nobody'\n");
    struct conf *n = load("workers = 5\nshowerrors = true\nheaders = 'X-A: b\\n'\n");

    ok(run && n, "two configs load");
    if (run && n) {
        is_int(conf_keep_restart(n, run, err, sizeof(err)), 0, "keeping the running restart-only values");
        is_int(n->workers, 2, "workers keeps its running value");
        is_str(n->user, "nobody", "and so does user");
        ok(n->showerrors == 1, "showerrors takes the new value");
        ok(n->headers && strncmp(n->headers, "X-A: b", 6) == 0, "and so do headers");
        ok(conf_restart_keys(run, n) == NULL, "nothing left that needs a restart");
        is_int(n->states, 4, "states defaults to twice the running workers, not the file's");
        is_int(n->clones, 4, "and clones to those states");
    }
    conf_free(run);
    conf_free(n);
}

/* Lowering workers takes a restart: until then what follows from workers
 * follows from the running value. */
static void
test_keep_restart_derived(void)
{
    struct conf *run = load("workers = 4\n");
    struct conf *n = load("workers = 1\n");

    ok(run && n, "two configs load");
    if (run && n) {
        is_int(n->states, 2, "alone, the file's states default follows its workers");
        is_int(conf_keep_restart(n, run, err, sizeof(err)), 0, "keeping the running workers");
        is_int(n->workers, 4, "workers stays 4");
        is_int(n->states, 8, "states defaults to twice the 4 running workers");
        is_int(n->clones, 8, "clones to those states");
    }
    conf_free(n);
    n = load("workers = 1\nstates = 6\nclones = 10\n");
    if (run && n) {
        is_int(conf_keep_restart(n, run, err, sizeof(err)), 0, "an explicit states over the running workers is kept");
        is_int(n->states, 6, "states as the file sets it");
        is_int(n->clones, 6, "clones at most states");
    }
    conf_free(n);
    n = load("workers = 1\nstates = 2\n");
    ok(n != NULL, "states = 2 with workers = 1 loads alone");
    if (run && n) {
        err[0] = '\0';
        is_int(conf_keep_restart(n, run, err, sizeof(err)), -1,
               "an explicit states below the running workers is refused on reload");
        ok(strstr(err, "lf.conf: key 'states': must be at least workers (4, which run until a restart), not 2") != NULL,
           "naming the file, the key and the running workers");
    }
    conf_free(n);
    n = load("workers = 8\nmax_written_off = 6\n");
    if (run && n) {
        err[0] = '\0';
        is_int(conf_keep_restart(n, run, err, sizeof(err)), -1,
               "max_written_off over the running workers is refused on reload");
        ok(strstr(err, "key 'max_written_off': must be at most workers (4, which run until a restart), not 6") != NULL,
           "naming the key and the running workers");
    }
    conf_free(n);
    conf_free(run);
}

static void
test_push_value(void)
{
    struct conf *c = load("workers = 2\nshowerrors = true\nextensions = { '.lua', '.x' }\n");
    lua_State *L = luaL_newstate();

    conf_push_value(L, c, "workers");
    is_int(lua_tointeger(L, -1), 2, "req:config('workers') is a number");
    conf_push_value(L, c, "showerrors");
    ok(lua_isboolean(L, -1) && lua_toboolean(L, -1), "req:config('showerrors') is a boolean");
    conf_push_value(L, c, "handler");
    is_str(lua_tostring(L, -1), "main", "req:config('handler') is a string");
    conf_push_value(L, c, "extensions");
    ok(lua_istable(L, -1) && lua_objlen(L, -1) == 2, "req:config('extensions') is a list");
    conf_push_value(L, c, "no_such_key");
    ok(lua_isnil(L, -1), "an unknown key reads as nil");
    lua_close(L);
    conf_free(c);
}

/* The log keys: php-fpm's default format, and a format that cannot work
 * refused at load, naming the key and the token. */
static void
test_log_keys(void)
{
    struct conf *c = load("slowlog = 'slow.log'\nslowtime = 5\naccess_log = 'a.log'\n"
                          "access_format = '%R %{mili}d %{micro}d %{REQUEST_ID}e %{%H:%M}t %%'\n");

    ok(c != NULL, "slowlog, slowtime, access_log and access_format are accepted");
    if (c) {
        is_int(c->slowtime, 5, "slowtime is read");
        ok(c->slowlog && strstr(c->slowlog, "/slow.log") && c->slowlog[0] == '/',
           "slowlog is taken from the config's directory");
        conf_free(c);
    }
    c = load("workers = 2\n");
    ok(c && strcmp(c->access_format, "%R - %u %t \"%m %r\" %s") == 0,
       "access_format defaults to php-fpm's");
    conf_free(c);
    ok(load_fails("access_format = '%R %x'\n", "key 'access_format': unknown token \"%x\""),
       "an unknown token is refused, named");
    ok(load_fails("access_format = '%e'\n", "%e needs the parameter's name"),
       "%%e without a name is refused");
    ok(load_fails("access_format = '%{mili}q %{kilo'\n", "a cut or too long token"),
       "a token cut short is refused");
    ok(load_fails("access_format = '%{hours}d'\n", "unknown token"),
       "an argument %%d does not know is refused");
    ok(load_fails("slowtime = -1\n", "slowtime"), "a negative slowtime is refused");
}

static void
test_snapshot(void)
{
    struct conf *c = load("workers = 2\n"), *held;

    conf_publish(c);
    held = conf_acquire();
    ok(held == c, "acquire returns the published config");
    conf_publish(load("workers = 3\n"));
    is_int(held != NULL ? held->workers : -1, 2, "a held snapshot survives a new publish unchanged");
    conf_release(held);
    held = conf_acquire();
    is_int(held->workers, 3, "the next acquire sees the new config");
    conf_release(held);
    conf_publish(NULL);
}

int
main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(path, sizeof(path), "%s/lf.conf", dir);
    snprintf(logpath, sizeof(logpath), "%s/test.log", dir);
    logfile_main_open(logpath, LOG_LEVEL_DEBUG);

    test_defaults();
    test_values();
    test_errors();
    test_warnings();
    test_upload_keys();
    test_log_keys();
    test_later_near_miss();
    test_restart_keys();
    test_keep_restart();
    test_keep_restart_derived();
    test_push_value();
    test_snapshot();

    log_close();
    unlink(path);
    unlink(logpath);
    rmdir(dir);
    return done_testing();
}
