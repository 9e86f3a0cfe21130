/*
 * net_tls.c: sslhandshake, through OpenSSL's libssl.
 *
 * One client context for the daemon, made again for each config load (a
 * HUP), so ssl_trusted_certificate's file is read again even when its
 * path is the same; a connection holds a reference to the context it was
 * made with, so the old one lives until its last connection is closed.
 * ctx_lock guards tls_ctx and the load it was made for.
 *
 * As ngx_lua: the handshake itself never fails on the certificate; with
 * ssl_verify the chain's result is looked at afterwards ("18: self-signed
 * certificate", OpenSSL's own words with its code) and then the server
 * name ("certificate host mismatch"). The answer is a session object
 * (userdata; ngx_lua's is cdata) that a later handshake may reuse, or
 * true when reused_session is false. A connection taken from the pool
 * is already through its handshake: the call answers true, the session
 * given, or the connection's own, as ngx_lua does. The handshake is bounded by the connect timeout.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <lua.h>
#include <lauxlib.h>

#include "conf.h"
#include "log.h"
#include "net_impl.h"

#define NET_SESSION_MT "luafcgid.net.ssl_session"

static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *tls_ctx;
static unsigned long tls_serial;    /* the config it was made for */

/*
 * What a session object holds: the session a later handshake may resume.
 * With TLS 1.3 the server's ticket comes after the handshake, so the
 * connection's new-session callback puts it here when it comes, as
 * nginx keeps it. The box is shared by the object and its connection
 * (ex_data), which may be in another worker by then (the pool):
 * box_lock guards every box's sess and refs.
 */
struct net_tls_box {
    SSL_SESSION *sess;
    int          refs;
};
static pthread_mutex_t box_lock = PTHREAD_MUTEX_INITIALIZER;
static int box_index = -1;

static void
net_tls_box_unref(struct net_tls_box *b)
{
    int left;

    pthread_mutex_lock(&box_lock);
    left = --b->refs;
    pthread_mutex_unlock(&box_lock);
    if (left > 0)
        return;
    if (b->sess != NULL)
        SSL_SESSION_free(b->sess);
    free(b);
}

/* A connection's SSL is freed: its hold on its box goes. */
static void
net_tls_box_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    if (ptr != NULL)
        net_tls_box_unref(ptr);
}

/* A session (a TLS 1.3 ticket, or a TLS 1.2 handshake's) for SSL's box;
 * 1: the reference is taken. */
static int
net_tls_new_session(SSL *ssl, SSL_SESSION *sess)
{
    struct net_tls_box *b = SSL_get_ex_data(ssl, box_index);
    SSL_SESSION *old;

    if (b == NULL)
        return 0;
    pthread_mutex_lock(&box_lock);
    old = b->sess;
    b->sess = sess;
    pthread_mutex_unlock(&box_lock);
    if (old != NULL)
        SSL_SESSION_free(old);
    return 1;
}

int
net_tls_init(void)
{
    if (OPENSSL_init_ssl(0, NULL) != 1) {
        log_err("sockets: cannot start OpenSSL");
        return -1;
    }
    if (box_index < 0 &&
        (box_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, net_tls_box_free)) < 0) {
        log_err("sockets: cannot make OpenSSL's index for sessions");
        return -1;
    }
    return 0;
}

/* A new reference to the context for the config now in force, or NULL
 * with ERR set. */
static SSL_CTX *
net_tls_ctx(char *err, size_t errlen)
{
    struct conf *c = conf_acquire();
    SSL_CTX *ctx = NULL, *old = NULL;

    pthread_mutex_lock(&ctx_lock);
    /* made again at each config load (a HUP): the CA file is read again
     * even when its path is the same, as nginx reads it at a reload */
    if (tls_ctx != NULL && tls_serial == c->serial) {
        SSL_CTX_up_ref(tls_ctx);
        ctx = tls_ctx;
        goto out;
    }
    if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
        snprintf(err, errlen, "failed to create an SSL context");
        goto out;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    /* a peer gone without close_notify ended the stream, as nginx sets it:
     * the connection is not failed, and a send after it still goes out */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, net_tls_new_session);
    SSL_CTX_set_verify_depth(ctx, c->ssl_verify_depth);
    if (c->ssl_trusted_certificate != NULL &&
        SSL_CTX_load_verify_locations(ctx, c->ssl_trusted_certificate, NULL) != 1) {
        log_err("sockets: cannot load ssl_trusted_certificate %s", c->ssl_trusted_certificate);
        ERR_clear_error();
    }
    old = tls_ctx;
    tls_ctx = ctx;
    tls_serial = c->serial;
    SSL_CTX_up_ref(ctx);        /* one for tls_ctx, one for the caller */
out:
    pthread_mutex_unlock(&ctx_lock);
    conf_release(c);
    if (old != NULL)
        SSL_CTX_free(old);
    return ctx;
}

/* Free a connection's TLS, telling the server when CLEAN (without
 * waiting for its answer). */
void
net_tls_free(void *ssl, int clean)
{
    if (ssl == NULL)
        return;
    if (clean) {
        ERR_clear_error();
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    ERR_clear_error();
}

static int
net_tls_session_gc(lua_State *L)
{
    struct net_tls_box **p = lua_touserdata(L, 1);

    if (p != NULL && *p != NULL) {
        net_tls_box_unref(*p);
        *p = NULL;
    }
    return 0;
}

void
net_tls_register(lua_State *L)
{
    if (luaL_newmetatable(L, NET_SESSION_MT)) {
        lua_pushcfunction(L, net_tls_session_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushliteral(L, "luafcgid ssl session");
        lua_setfield(L, -2, "__metatable");
    }
    lua_pop(L, 1);
}

/* SSL's session object: its box, made at its first asking. [-0, +1, m] */
static int
net_tls_push_session(lua_State *L, SSL *ssl)
{
    struct net_tls_box **p = lua_newuserdata(L, sizeof(*p)), *b;

    *p = NULL;
    luaL_getmetatable(L, NET_SESSION_MT);
    lua_setmetatable(L, -2);
    if ((b = SSL_get_ex_data(ssl, box_index)) == NULL) {
        if ((b = calloc(1, sizeof(*b))) == NULL)
            return net_nomem(L);
        b->refs = 1;            /* the connection's */
        b->sess = SSL_get1_session(ssl);
        if (SSL_set_ex_data(ssl, box_index, b) != 1) {
            net_tls_box_unref(b);
            return net_nomem(L);
        }
    }
    pthread_mutex_lock(&box_lock);
    b->refs++;
    pthread_mutex_unlock(&box_lock);
    *p = b;
    return 1;
}

/* The session object at IDX, or NULL when it is not one. */
static struct net_tls_box **
net_tls_session_at(lua_State *L, int idx)
{
    void *p = lua_touserdata(L, idx);
    int ours = 0;

    if (p != NULL && lua_getmetatable(L, idx)) {
        luaL_getmetatable(L, NET_SESSION_MT);
        ours = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    return ours ? p : NULL;
}

/* The handshake failed with ERR: nil and ERR, the connection closed. */
static int
net_tls_failed(lua_State *L, struct net_sock *s, const char *err)
{
    s->op = NET_OP_NONE;
    s->failed = 1;
    net_sock_push_error(L, s, err);
    net_sock_close(s, 0);
    return 2;
}

/* The handshake is through: check what was asked, then answer. */
static int
net_tls_done(lua_State *L, struct net_sock *s)
{
    SSL *ssl = s->ssl;
    long rc;

    if (s->hs_verify) {
        if ((rc = SSL_get_verify_result(ssl)) != X509_V_OK) {
            lua_pushfstring(L, "%d: %s", (int)rc, X509_verify_cert_error_string(rc));
            return net_tls_failed(L, s, lua_tostring(L, -1));
        }
        if (s->hs_name != NULL) {
            X509 *cert = SSL_get1_peer_certificate(ssl);
            int ok = cert != NULL &&
                     (X509_check_host(cert, s->hs_name, 0, 0, NULL) == 1 ||
                      X509_check_ip_asc(cert, s->hs_name, 0) == 1);
            X509_free(cert);
            if (!ok)
                return net_tls_failed(L, s, "certificate host mismatch");
        }
    }
    s->op = NET_OP_NONE;
    if (!s->hs_session) {
        lua_pushboolean(L, 1);
        return 1;
    }
    return net_tls_push_session(L, ssl);
}

/* Go on with S's handshake. [-0, +1|2, e] */
static int
net_tls_go(lua_State *L, struct net_sock *s)
{
    short want;
    int rc;

    for (;;) {
        ERR_clear_error();
        if ((rc = SSL_connect(s->ssl)) == 1)
            return net_tls_done(L, s);
        switch (SSL_get_error(s->ssl, rc)) {
        case SSL_ERROR_WANT_READ:
            want = POLLIN;
            break;
        case SSL_ERROR_WANT_WRITE:
            want = POLLOUT;
            break;
        default:
            ERR_clear_error();
            return net_tls_failed(L, s, "handshake failed");
        }
        switch (net_wait(L, s->ns, s, s->fd, want, s->deadline)) {
        case NET_YIELD:
            NET_AGAIN_PUSH(L);
            return 1;
        case NET_TIMEDOUT:
            return net_tls_failed(L, s, "timeout");
        }
    }
}

/* sock:sslhandshake(reused_session?, server_name?, ssl_verify?, send_status_req?) */
int
net_tls_handshake(lua_State *L)
{
    struct net_sock *s;
    struct net_tls_box **box;
    SSL_SESSION *sess = NULL;
    SSL_CTX *ctx;
    SSL *ssl;
    char err[256];
    int n = lua_gettop(L);

    if (n < 1 || n > 5)
        return net_error(L, "ngx.socket sslhandshake: expecting 1 ~ 5 arguments (including the object), but seen %d", n);
    s = net_sock_check(L, 1, 0);
    /* a side ended (a reset, an end, a send's error): "closed", the
     * socket left the script's to close, as ngx_lua */
    if (s->fd < 0 || s->read_closed || s->write_closed)
        return net_sock_push_error(L, s, "closed");
    if (s->op != NET_OP_NONE || s->rop != NET_OP_NONE)
        return net_sock_push_error(L, s, "socket busy");
    if (s->ssl != NULL) {
        /* a kept connection, through its handshake already: true, the
         * session given, or its own, as ngx_lua answers */
        if (lua_isboolean(L, 2) && !lua_toboolean(L, 2)) {
            lua_pushboolean(L, 1);
            return 1;
        }
        if (n >= 2 && net_tls_session_at(L, 2) != NULL) {
            lua_pushvalue(L, 2);
            return 1;
        }
        return net_tls_push_session(L, s->ssl);
    }
    if ((ctx = net_tls_ctx(err, sizeof(err))) == NULL)
        return net_sock_push_error(L, s, err);
    ssl = SSL_new(ctx);
    SSL_CTX_free(ctx);
    if (ssl == NULL || SSL_set_fd(ssl, s->fd) != 1) {
        SSL_free(ssl);
        ERR_clear_error();
        return net_sock_push_error(L, s, "failed to create an SSL connection");
    }
    s->ssl = ssl;
    s->hs_session = !(lua_isboolean(L, 2) && !lua_toboolean(L, 2));
    s->hs_verify = n >= 4 && lua_toboolean(L, 4);
    free(s->hs_name);
    s->hs_name = NULL;
    if (n >= 3 && lua_type(L, 3) == LUA_TSTRING) {
        const char *name = lua_tostring(L, 3);
        if ((s->hs_name = strdup(name)) == NULL)
            return net_nomem(L);
        SSL_set_tlsext_host_name(ssl, name);
    }
    if (n >= 2 && (box = net_tls_session_at(L, 2)) != NULL && *box != NULL) {
        pthread_mutex_lock(&box_lock);
        if ((sess = (*box)->sess) != NULL)
            SSL_SESSION_up_ref(sess);
        pthread_mutex_unlock(&box_lock);
        if (sess != NULL) {
            SSL_set_session(ssl, sess);
            SSL_SESSION_free(sess);
        }
    }
    s->op = NET_OP_HANDSHAKE;
    s->deadline = net_op_deadline(s->connect_ms ? s->connect_ms : s->dflt_ms);
    lua_settop(L, 1);
    return net_tls_go(L, s);
}

int
net_tls_handshake_cont(lua_State *L)
{
    struct net_sock *s = net_sock_check(L, 1, 0);

    lua_settop(L, 1);
    if (s->op != NET_OP_HANDSHAKE || s->ssl == NULL)
        return net_sock_push_error(L, s, "closed");
    return net_tls_go(L, s);
}
