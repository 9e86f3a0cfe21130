/* reqapi.h: the `req` object handed to a script's handler. */
#ifndef LF_REQAPI_H
#define LF_REQAPI_H

#include <lua.h>

struct buf;
struct request;

/* Which request a state's req is bound to: what the ngx API (src/ngx/)
 * reads to find its request, and to tell one request from the next. */
struct reqapi_bind {
    struct request *r;          /* NULL between requests */
    unsigned long   serial;     /* changes whenever a new request is bound */
    int             used;       /* the ngx API served this one (ngx.c sets it) */
    int             answered;   /* ngx changed its answer: output, a header... (ngx.c) */
};

int  reqapi_register(lua_State *L);
void reqapi_push_req(lua_State *L, struct request *r);
void reqapi_clear_req(lua_State *L);
struct request *reqapi_request(lua_State *L, int idx);
struct reqapi_bind *reqapi_binding(lua_State *L);
void reqapi_hold(lua_State *L, struct request *r, size_t more);
void reqapi_write(lua_State *L, struct request *r, const char *p, size_t n);
void reqapi_finish(lua_State *L, struct request *r);
int  reqapi_set_buf(lua_State *L, struct request *r, struct buf *b, const char *v, size_t n);

#endif
