/* api.h: the `req` object handed to a script's handler. */
#ifndef LF_API_H
#define LF_API_H

#include <lua.h>

struct buf;
struct request;

/* Which request a state's req is bound to: what the ngx API (src/ngx/)
 * reads to find its request, and to tell one request from the next. */
struct api_bind {
    struct request *r;          /* NULL between requests */
    unsigned long   serial;     /* changes whenever a new request is bound */
    int             used;       /* the ngx API served this one (ngx.c sets it) */
    int             answered;   /* ngx changed its answer: output, a header... (ngx.c) */
};

int  api_register(lua_State *L);
void api_push_req(lua_State *L, struct request *r);
void api_clear_req(lua_State *L);
struct request *api_request(lua_State *L, int idx);
struct api_bind *api_binding(lua_State *L);
void api_hold(lua_State *L, struct request *r, size_t more);
void api_write(lua_State *L, struct request *r, const char *p, size_t n);
void api_finish(lua_State *L, struct request *r);
int  api_set_buf(lua_State *L, struct request *r, struct buf *b, const char *v, size_t n);

#endif
