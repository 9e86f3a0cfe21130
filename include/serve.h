/* serve.h: one request's way through luafcgid, and the preload scripts. */
#ifndef LF_SERVE_H
#define LF_SERVE_H

struct conf;
struct lua_State;
struct pool;
struct request;

int  serve_request(struct request *r);
int  serve_preload(struct pool *pool, const struct conf *c, void (*more)(struct lua_State *L));

#endif
