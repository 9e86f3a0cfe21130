/*
 * ngx_hash.c: ngx's digests: md5, md5_bin, sha1_bin, hmac_sha1 and the
 * crc32s.
 *
 * Apart from ngx_codec.c's escaping because none of it is ours: the
 * digests and the HMAC are OpenSSL's libcrypto, the CRC-32 is zlib's (the
 * one nginx's own tables compute). Here is only how OpenResty takes the
 * argument (ngx_codec_string) and gives the result back: hex for md5, raw
 * bytes for the _bin ones and the HMAC, a number for the CRC.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <zlib.h>

#include <lua.h>
#include <lauxlib.h>

#include "ngx_impl.h"

/* The digest MD of the string at 1 into OUT; its length. [-0, +0, e] */
static unsigned int
ngx_hash_digest(lua_State *L, const EVP_MD *md, unsigned char *out)
{
    size_t len;
    const char *s = ngx_codec_string(L, &len);
    unsigned int n = 0;

    if (EVP_Digest(s, len, out, &n, md, NULL) != 1)
        luaL_error(L, "cannot compute the digest (OpenSSL)");
    return n;
}

static void
ngx_hash_push_hex(lua_State *L, const unsigned char *p, unsigned int n)
{
    static const char hex[] = "0123456789abcdef";
    char out[2 * EVP_MAX_MD_SIZE];
    unsigned int i;

    for (i = 0; i < n; i++) {
        out[(size_t)2 * i] = hex[p[i] >> 4];
        out[(size_t)2 * i + 1] = hex[p[i] & 0xf];
    }
    lua_pushlstring(L, out, (size_t)2 * n);
}

static int
ngx_hash_md5(lua_State *L)
{
    unsigned char md[EVP_MAX_MD_SIZE] = { 0 };

    ngx_hash_push_hex(L, md, ngx_hash_digest(L, EVP_md5(), md));
    return 1;
}

static int
ngx_hash_md5_bin(lua_State *L)
{
    unsigned char md[EVP_MAX_MD_SIZE];

    lua_pushlstring(L, (const char *)md, ngx_hash_digest(L, EVP_md5(), md));
    return 1;
}

static int
ngx_hash_sha1_bin(lua_State *L)
{
    unsigned char md[EVP_MAX_MD_SIZE];

    lua_pushlstring(L, (const char *)md, ngx_hash_digest(L, EVP_sha1(), md));
    return 1;
}

/* ngx.hmac_sha1(key, data). [-0, +1, e] */
static int
ngx_hash_hmac_sha1(lua_State *L)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    size_t klen, dlen;
    const char *key, *data;

    if (lua_gettop(L) != 2)
        return luaL_error(L, "expecting 2 arguments, but got %d", lua_gettop(L));
    key = luaL_checklstring(L, 1, &klen);
    data = luaL_checklstring(L, 2, &dlen);
    if (HMAC(EVP_sha1(), key, (int)klen, (const unsigned char *)data, dlen, md, &n) == NULL)
        return luaL_error(L, "cannot compute the HMAC (OpenSSL)");
    lua_pushlstring(L, (const char *)md, n);
    return 1;
}

/* crc32_short and crc32_long: nginx's two loops, one CRC-32. [-0, +1, e] */
static int
ngx_hash_crc32(lua_State *L)
{
    size_t len;
    const char *s = ngx_codec_string(L, &len);
    uLong crc = crc32(0L, Z_NULL, 0);

    while (len > 0) {
        uInt chunk = len > 0x40000000 ? 0x40000000 : (uInt)len;
        crc = crc32(crc, (const Bytef *)s, chunk);
        s += chunk;
        len -= chunk;
    }
    lua_pushnumber(L, (lua_Number)(crc & 0xffffffffUL));
    return 1;
}

static const luaL_Reg ngx_hash_fns[] = {
    { "md5",            ngx_hash_md5 },
    { "md5_bin",        ngx_hash_md5_bin },
    { "sha1_bin",       ngx_hash_sha1_bin },
    { "hmac_sha1",      ngx_hash_hmac_sha1 },
    { "crc32_short",    ngx_hash_crc32 },
    { "crc32_long",     ngx_hash_crc32 },
    { NULL, NULL }
};

void
ngx_hash_install(lua_State *L)
{
    ngx_register(L, ngx_hash_fns);
}
