# With `ffi = true` (for trusted code only) a LuaJIT build lets scripts
# require LuaJIT's ffi, and Debian's lua-resty-lrucache runs unchanged
# (resty.lrucache and resty.lrucache.pureffi), as it runs under ngx_lua,
# differentially, and so do lua-nginx-string's modules that call OpenSSL
# (but not nginx.string, which calls nginx's own C functions). Debian
# ships no resty.lock (lua-resty-lock), so it is
# not tried here. The default, ffi refused, is libraries.t's. A Lua 5.1
# build has no ffi to let in: the key only warns (tests/t/daemon/cli.t).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use File::Temp qw(tempdir);
use Test::More;
use LFTest;
use LFNgx;

plan skip_all => "Debian's ngx_lua (libnginx-mod-http-lua) is not installed" unless LFNgx::available();
my $version = `@{[LFTest::binary()]} -V 2>&1`;
plan skip_all => 'a Lua 5.1 build has no ffi to let in' unless $version =~ /\(LuaJIT/;
my $debs = tempdir('lf-debs.XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0777, $debs;     # apt's download user writes here
my @packages = qw(lua-resty-lrucache lua-nginx-string);
system("cd $debs && apt-get download @packages >/dev/null 2>&1") == 0
    or plan skip_all => "cannot download @packages (no Debian mirror?)";

# The same calls on both caches; each line is what a call gave.
my $lru = <<'LUA';
local name = ngx.var.arg_m
local lrucache = require(name)
local c = assert(lrucache.new(3))
local function show(...)
  local o = {}
  for i = 1, select('#', ...) do
    local v = select(i, ...)
    o[i] = type(v) == "table" and "{x=" .. tostring(v.x) .. "}" or tostring(v)
  end
  ngx.say(table.concat(o, " "))
end
c:set("a", 1)
c:set("b", { x = 2 })
c:set("c", "three")
show(c:get("a"), c:get("b"), c:get("c"))
c:set("d", 4)
show(c:get("a"), c:get("b"), c:get("c"), c:get("d"))
c:delete("c")
show(c:get("c"))
c:set("t", "short", 0.001)
ngx.sleep(0.01)
ngx.update_time()
show(c:get("t"))
c:flush_all()
show(c:get("b"), c:get("d"))
if c.count then show(c:count(), c:capacity()) end
LUA

my $h = LFNgx->new(conf => { ffi => \'true' }, scripts => {
    'lru.lua' => $lru,
    'ffi.lua' => <<'LUA',
local ffi = require "ffi"
ffi.cdef[[ typedef struct { int n; double v[4]; } lf_pair_t; ]]
local p = ffi.new("lf_pair_t", { 3, { 1.5, 2.5 } })
p.v[3] = p.n * 2
ngx.say(ffi.sizeof("lf_pair_t"), " ", p.n, " ", p.v[0] + p.v[1], " ", p.v[3])
ngx.say(type(jit.version), " ", tostring(ffi.abi("64bit")))
LUA
    'crypto.lua' => <<'LUA',
local function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end
local sha256 = require("nginx.sha256"):new()
sha256:update("hello ") sha256:update("world")
ngx.say("sha256 ", hex(sha256:final()))
local md5 = require("nginx.md5"):new()
md5:update("hello world")
ngx.say("md5 ", hex(md5:final()))
local aes = require "nginx.aes"
local a = assert(aes:new("secret", "saltsalt", aes.cipher(256, "cbc"), aes.hash.sha256, 3))
local sealed = a:encrypt("the message")
ngx.say("aes ", hex(sealed), " ", a:decrypt(sealed))
ngx.say("random ", #require("nginx.random").bytes(16))
ngx.say("string ", pcall(function() return require("nginx.string").to_hex("ab") end))
LUA
});
system('dpkg', '-x', $_, "$debs/x") == 0 or die "dpkg -x $_ failed\n" for glob "$debs/*.deb";
system("cp -R $debs/x/usr/share/lua/5.1/. " . $h->www . '/') == 0 or die "cannot copy the modules\n";
$h->start;

$h->compare('ffi.lua', name => 'require "ffi" loads LuaJIT\'s ffi: types, cdata, jit.version');
for my $m (qw(resty.lrucache resty.lrucache.pureffi)) {
    my ($or, $lf) = $h->compare("lru.lua?m=$m", name => "$m: set, get, eviction, delete, ttl, flush_all");
    like($lf->{body}, qr/^1 \{x=2\} three nil 0\n.*^nil short 0\n/ms,
         "$m answered through luafcgid: values kept, then a stale one after its ttl");
}
# lua-nginx-string's crypto calls OpenSSL, which luafcgid links, through
# ffi.C; nginx.string calls nginx's own ngx_hex_dump, which exists only
# inside nginx.
my $or = $h->request('or', 'crypto.lua');
my $lf = $h->request('lf', 'crypto.lua');
my ($or_string, $lf_string) = map { $_->{body} =~ s/^string (.*)\n//m ? $1 : '' } $or, $lf;
is($lf->{status}, 200, 'lua-nginx-string: answered');
like($or->{body}, qr/^sha256 b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9$/m,
     'the known SHA-256 of "hello world"');
is($lf->{body}, $or->{body}, 'lua-nginx-string: sha256, md5, aes, random give what they give under ngx_lua');
is($or_string, 'true6162', "ngx_lua's nginx.string.to_hex works");
like($lf_string, qr/^false.*ngx_hex_dump/, "luafcgid's fails: nginx's ngx_hex_dump is not there");
$h->stop;
done_testing;
