/*
 * session.c: what luafcgid.session needs from C: sealing and opening a
 * cookie with AES-256-GCM, keys from a secret file, random ids, and the
 * request's Cookie header. The session logic itself is Lua
 * (lua/session.lua, compiled in as module_session.c).
 *
 * Crypto is OpenSSL's libcrypto only, nothing of our own: keys are
 * HKDF-SHA256 of each secret (info "luafcgid session v1"), a cookie is
 * base64url(nonce[12] | ciphertext | tag[16]) with a random nonce per
 * seal and the cookie's name as additional data, so a cookie cannot be
 * replayed under another name. Opening tries each key, newest first: a
 * secret file lists the current secret first and older ones after it,
 * so rotation is writing a new first line (old cookies still open, new
 * ones use it) and later dropping the old lines.
 *
 * The secret file must be a regular file of the daemon's user (or root)
 * that no one else can read or write (mode 0600 or stricter), one secret
 * of at least LF_SESSION_SECRET_MIN bytes a line: anything else is an
 * error that says how to fix it. A script gets the derived keys, never
 * the file's bytes. No Lua is called while a key or a buffer of ours is
 * held outside the stack (a Lua error would leak it): buffers are Lua
 * userdata or the stack.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "luafcgid.h"
#include "reqapi.h"
#include "reqenv.h"
#include "request.h"
#include "session.h"
#include "shm_lua.h"

#define SESSION_KEY     32
#define SESSION_NONCE   12
#define SESSION_TAG     16
#define SESSION_INFO    "luafcgid session v1"

/* N bytes as base64url without padding, pushed. [-0, +1, m] */
static void
session_push_b64(lua_State *L, const unsigned char *p, size_t n)
{
    size_t len = 4 * ((n + 2) / 3), i;
    char *out = lua_newuserdata(L, len + 1);

    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    while (len > 0 && out[len - 1] == '=')
        len--;
    for (i = 0; i < len; i++)
        out[i] = (char)(out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i]);
    lua_pushlstring(L, out, len);
    lua_remove(L, -2);
}

/* The value of base64 character C (already mapped from base64url). */
static int
session_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : 63;
}

/* Base64url S (N chars) decoded into a new userdata on the stack; its
 * length, or -1 when S is not base64url, or not the one way to write its
 * bytes (nothing pushed). [-0, +0|1, m] */
static long
session_b64_decode(lua_State *L, const char *s, size_t n)
{
    size_t pad = (4 - n % 4) % 4, i;
    unsigned char *in, *out;
    int len;

    if (pad == 3 || n > (size_t)LF_SESSION_COOKIE_MAX * 2)
        return -1;
    in = lua_newuserdata(L, n + pad + 1 + (n + pad) / 4 * 3 + 3);
    out = in + n + pad + 1;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
            lua_pop(L, 1);
            return -1;
        }
        in[i] = (unsigned char)(c == '-' ? '+' : c == '_' ? '/' : c);
    }
    /* one text for one value: the bits past the last byte must be 0 */
    if (pad && (session_b64_value(in[n - 1]) & (pad == 2 ? 0x0f : 0x03)) != 0) {
        lua_pop(L, 1);
        return -1;
    }
    memset(in + n, '=', pad);
    in[n + pad] = '\0';
    if ((len = EVP_DecodeBlock(out, in, (int)(n + pad))) < 0) {
        lua_pop(L, 1);
        return -1;
    }
    memmove(in, out, (size_t)len);
    return len - (long)pad;
}

/* HKDF-SHA256 of SECRET (N bytes) into KEY. 0, or -1. */
static int
session_derive(const char *secret, size_t n, unsigned char *key)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    size_t len = SESSION_KEY;
    int ok;

    ok = ctx != NULL && EVP_PKEY_derive_init(ctx) > 0 && EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()) > 0 &&
         EVP_PKEY_CTX_set1_hkdf_key(ctx, (const unsigned char *)secret, (int)n) > 0 &&
         EVP_PKEY_CTX_add1_hkdf_info(ctx, (const unsigned char *)SESSION_INFO, (int)strlen(SESSION_INFO)) > 0 &&
         EVP_PKEY_derive(ctx, key, &len) > 0 && len == SESSION_KEY;
    EVP_PKEY_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* The secret file's bytes, checked, into a userdata on the stack; its
 * length. Raises an error saying what is wrong. [-0, +1, v] */
static size_t
session_read_file(lua_State *L, const char *path, struct stat *sb)
{
    char *buf;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    if (fd < 0)
        luaL_error(L, "luafcgid.session: cannot open the secret file %s: %s", path, strerror(errno));
    if (fstat(fd, sb) < 0 || !S_ISREG(sb->st_mode) || sb->st_size > LF_SESSION_FILE_MAX) {
        close(fd);
        luaL_error(L, "luafcgid.session: the secret file %s must be a regular file of at most %d bytes",
                   path, LF_SESSION_FILE_MAX);
    }
    if ((sb->st_mode & 077) || (sb->st_uid != geteuid() && sb->st_uid != 0)) {
        close(fd);
        luaL_error(L, "luafcgid.session: the secret file %s must be the daemon's user's and no one "
                   "else's to read or write (chown it, chmod 600 it)", path);
    }
    buf = lua_newuserdata(L, (size_t)sb->st_size + 1);
    n = read(fd, buf, (size_t)sb->st_size);
    close(fd);
    if (n != (ssize_t)sb->st_size)
        luaL_error(L, "luafcgid.session: cannot read the secret file %s", path);
    return (size_t)n;
}

/* What tells one version of the secret file from the next. [-0, +1, m] */
static void
session_push_stamp(lua_State *L, const struct stat *sb)
{
    lua_pushfstring(L, "%d:%d:%d.%d:%d:%d", (int)sb->st_dev, (int)sb->st_ino, (int)sb->st_mtime,
                    (int)sb->st_mtim.tv_nsec, (int)sb->st_size, (int)sb->st_ctime);
}

/* secrets(path): { key, ... } (newest first), and the file's stamp (for
 * the caller's cache: it changes when the file does). [-0, +2, v] */
static int
session_secrets(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1), *line, *end, *p;
    unsigned char key[SESSION_KEY];
    struct stat sb;
    size_t n = session_read_file(L, path, &sb), len;
    int count = 0, no = 0;

    p = lua_touserdata(L, -1);
    end = p + n;
    lua_newtable(L);
    for (line = p; line < end; line = p + 1) {
        no++;
        if ((p = memchr(line, '\n', (size_t)(end - line))) == NULL)
            p = end;
        len = (size_t)(p - line);
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (len == 0)
            continue;
        if (len < LF_SESSION_SECRET_MIN)
            return luaL_error(L, "luafcgid.session: the secret file %s: line %d is shorter than %d "
                              "bytes (make one with: openssl rand -base64 48)", path, no, LF_SESSION_SECRET_MIN);
        if (count == LF_SESSION_SECRETS)
            return luaL_error(L, "luafcgid.session: the secret file %s has more than %d secrets", path,
                              LF_SESSION_SECRETS);
        if (session_derive(line, len, key) < 0)
            return luaL_error(L, "luafcgid.session: cannot derive a key (libcrypto)");
        lua_pushlstring(L, (const char *)key, sizeof(key));
        lua_rawseti(L, -2, ++count);
    }
    OPENSSL_cleanse(key, sizeof(key));
    memset(lua_touserdata(L, -2), 0, n);
    if (count == 0)
        return luaL_error(L, "luafcgid.session: the secret file %s holds no secret", path);
    session_push_stamp(L, &sb);
    return 2;
}

/* stamp(path): what secrets() would give as the stamp now, or nil. */
static int
session_stamp(lua_State *L)
{
    struct stat sb;

    if (stat(luaL_checkstring(L, 1), &sb) < 0) {
        lua_pushnil(L);
        return 1;
    }
    session_push_stamp(L, &sb);
    return 1;
}

/* seal(key, plaintext, aad): a base64url token. [-0, +1, v] */
static int
session_seal(lua_State *L)
{
    size_t klen, n, alen;
    const char *key = luaL_checklstring(L, 1, &klen), *text = luaL_checklstring(L, 2, &n);
    const char *aad = luaL_checklstring(L, 3, &alen);
    unsigned char *out;
    EVP_CIPHER_CTX *ctx;
    int len, fin, ok;

    if (klen != SESSION_KEY || n > (size_t)LF_SESSION_COOKIE_MAX * 4)
        return luaL_error(L, "luafcgid.session: seal: bad key or too much data");
    out = lua_newuserdata(L, SESSION_NONCE + n + SESSION_TAG + 16);
    if (RAND_bytes(out, SESSION_NONCE) != 1 || (ctx = EVP_CIPHER_CTX_new()) == NULL)
        return luaL_error(L, "luafcgid.session: no randomness or no cipher (libcrypto)");
    ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SESSION_NONCE, NULL) == 1 &&
         EVP_EncryptInit_ex(ctx, NULL, NULL, (const unsigned char *)key, out) == 1 &&
         EVP_EncryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)alen) == 1 &&
         EVP_EncryptUpdate(ctx, out + SESSION_NONCE, &len, (const unsigned char *)text, (int)n) == 1 &&
         EVP_EncryptFinal_ex(ctx, out + SESSION_NONCE + len, &fin) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SESSION_TAG, out + SESSION_NONCE + len + fin) == 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok)
        return luaL_error(L, "luafcgid.session: cannot seal (libcrypto)");
    session_push_b64(L, out, (size_t)SESSION_NONCE + (size_t)len + (size_t)fin + SESSION_TAG);
    return 1;
}

/* TOKEN (N bytes) opened with KEY into OUT: its length, or -1. */
static int
session_try(const unsigned char *token, size_t n, const char *key, const char *aad, size_t alen,
            unsigned char *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    size_t clen = n - SESSION_NONCE - SESSION_TAG;
    int len = 0, fin = 0, ok;

    ok = ctx != NULL && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SESSION_NONCE, NULL) == 1 &&
         EVP_DecryptInit_ex(ctx, NULL, NULL, (const unsigned char *)key, token) == 1 &&
         EVP_DecryptUpdate(ctx, NULL, &len, (const unsigned char *)aad, (int)alen) == 1 &&
         EVP_DecryptUpdate(ctx, out, &len, token + SESSION_NONCE, (int)clen) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SESSION_TAG,
                             (void *)(token + SESSION_NONCE + clen)) == 1 &&
         EVP_DecryptFinal_ex(ctx, out + len, &fin) == 1;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? len + fin : -1;
}

/* open(keys, token, aad): the plaintext, or nil when no key opens it (a
 * tampered, truncated or foreign token). [-0, +1, v] */
static int
session_open(lua_State *L)
{
    size_t n, alen, klen;
    const char *token = luaL_checklstring(L, 2, &n), *aad = luaL_checklstring(L, 3, &alen), *key;
    unsigned char *raw, *out;
    long len;
    int i, got;

    luaL_checktype(L, 1, LUA_TTABLE);
    if ((len = session_b64_decode(L, token, n)) < SESSION_NONCE + SESSION_TAG) {
        lua_pushnil(L);
        return 1;
    }
    raw = lua_touserdata(L, -1);
    out = lua_newuserdata(L, (size_t)len);
    for (i = 1;; i++) {
        lua_rawgeti(L, 1, i);
        if ((key = lua_tolstring(L, -1, &klen)) == NULL)
            break;
        got = klen == SESSION_KEY ? session_try(raw, (size_t)len, key, aad, alen, out) : -1;
        lua_pop(L, 1);
        if (got >= 0) {
            lua_pushlstring(L, (const char *)out, (size_t)got);
            return 1;
        }
    }
    lua_pushnil(L);
    return 1;
}

/* random(n): n random bytes as base64url (an unguessable id). */
static int
session_random(lua_State *L)
{
    unsigned char buf[64];
    int n = luaL_checkint(L, 1);

    if (n < 1 || n > (int)sizeof(buf) || RAND_bytes(buf, n) != 1)
        return luaL_error(L, "luafcgid.session: no randomness (libcrypto)");
    session_push_b64(L, buf, (size_t)n);
    return 1;
}

/* cookie(req): the request's Cookie header, or nil. */
static int
session_cookie(lua_State *L)
{
    struct request *r = reqapi_request(L, 1);
    const char *c = reqenv_param("HTTP_COOKIE", r->fcgx.envp);

    if (c)
        lua_pushstring(L, c);
    else
        lua_pushnil(L);
    return 1;
}

static const luaL_Reg session_natives[] = {
    { "secrets", session_secrets },
    { "stamp",   session_stamp },
    { "seal",    session_seal },
    { "open",    session_open },
    { "random",  session_random },
    { "cookie",  session_cookie },
    { NULL, NULL }
};

/* The table luafcgid.session is given: the functions above and the
 * shared dictionaries. [-0, +1, m] */
void
session_push_natives(lua_State *L)
{
    lua_createtable(L, 0, 8);
    luaL_register(L, NULL, session_natives);
    shm_lua_push(L);
    lua_setfield(L, -2, "shared");
}
